"""Building the tinykd firmware for the emulated board (and the same application for the host).

`build_firmware(model_dir)` compiles the firmware core, the TFLM glue, the emulated board's start-up and
peripherals, the emitted model (`model_data.h`, `model_data.cc`, `model_ops.h` in `model_dir`) and only the
TFLM kernels the model's op list needs, against a pinned TFLM tree, and links them with a linker script
that carries the emulated board's real memory budget (for `qemu-nano33ble`: the Nano 33 BLE's 1 MB of flash
and 256 KB of RAM, although QEMU's mps2-an386 has 4 MB + 4 MB). A model that does not fit fails to link,
and the error says which region and by how many bytes.

Objects are cached by content (tinykd.device.qemu.objects), so the TFLM framework and kernels compile
once per tree and flags; each model only compiles its own data and links.

`build_host_firmware` builds the same application for this machine: against the reference TFLM tree, or
(`flavour="esp-nn"`) against esp-tflite-micro with ESP-NN's portable C kernels, the code a classic ESP32 runs
(ESP-NN's generic optimisations; the ESP32-S3's assembly cannot run here). That is the closest check of ESP32
numerics possible without an Xtensa compiler.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tinykd import __version__
from tinykd.device.native import cache_dir, firmware_dir
from tinykd.device.qemu.elf import BOARD, FirmwareSizes, measure_elf
from tinykd.device.qemu.kernels import SourceSet, esp_nn_include_dirs, include_dirs, select_sources
from tinykd.device.qemu.objects import Unit, archive, compile_units, headers_digest
from tinykd.device.qemu.toolchain import Toolchain, arm_toolchain, host_toolchain
from tinykd.device.qemu.tree import ESP_NN_KERNELS, TflmTree, resolve_esp_tree, resolve_tree
from tinykd.boards import BOARDS
from tinykd.errors import TinykdError

KB = 1024
MODEL_FILES = ("model_data.h", "model_data.cc", "model_ops.h")


@dataclass(frozen=True)
class EmulatedTarget:
    """A board whose budget the emulated firmware is linked against (it runs on QEMU's mps2-an386)."""

    name: str
    title: str
    flash_bytes: int
    ram_bytes: int
    cpu_hz: int  # the real board's clock: instruction counts are converted to ms at this rate
    stack_bytes: int  # reserved at the top of RAM
    heap_bytes: int  # reserved for newlib (printf's buffers)
    machine: str = "mps2-an386"
    cpu: str = "cortex-m4"


# The emulated boards of tinykd.boards (the one table of board limits), with this build's link settings.
TARGETS: dict[str, EmulatedTarget] = {
    b.name: EmulatedTarget(name=b.name, title=b.title, flash_bytes=b.flash_bytes, ram_bytes=b.ram_bytes,
                           cpu_hz=b.clock_hz, stack_bytes=16 * KB, heap_bytes=4 * KB)
    for b in BOARDS.values() if b.emulated
}

ARM_CPU_FLAGS = ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb", "-mlittle-endian")
# -ffp-contract=off: no fused multiply-add, so float steps round as on the host (bit-identical answers).
COMMON_FLAGS = ("-ffunction-sections", "-fdata-sections", "-fno-unwind-tables", "-fno-asynchronous-unwind-tables",
                "-fmessage-length=0", "-ffp-contract=off", "-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON",
                "-DNDEBUG")
CXX_FLAGS = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics")
C_FLAGS = ("-std=c17",)
ARM_DEFINES = ("-DTF_LITE_MCU_DEBUG_LOG", "-DCPU_M4=1", "-DARMCM4")
CMSIS_DEFINES = ("-DCMSIS_NN", "-DARM_NN_ENABLE_F16=0", "-DARM_NN_ENABLE_F32=0")
# TFLM's own choice: the framework for size, kernels and third-party kernels for speed.
OPT_FRAMEWORK, OPT_KERNELS, OPT_FIRMWARE = "-Os", "-O2", "-O2"
TINYKD_WARNINGS = ("-Wall", "-Wextra", "-Werror")


PART_MODEL = "model data"
PART_FRAMEWORK = "TFLM framework"
PART_KERNELS = "TFLM kernels"
PART_SIGNAL = "TFLM Signal library"
PART_CMSIS = "CMSIS-NN"
PART_ESP_NN = "ESP-NN"
PART_TINYKD = "tinykd core + TFLM glue"


class FirmwareTooLarge(TinykdError):
    """The firmware does not fit the board's flash or RAM."""


@dataclass
class FirmwareBuild:
    """A linked firmware and what it is made of."""

    elf: Path
    map_file: Path
    board: str
    target: EmulatedTarget
    kernels: str  # "cmsis-nn" or "reference"
    tree: TflmTree
    model_dir: Path
    model_hash: str  # tinykd_model_hash of the emitted model
    kind: str  # "waveform" or "signal"
    flags: dict[str, list[str]]  # "c", "cxx", "ld": what it was built with
    sizes: FirmwareSizes
    ops: list[str] = field(default_factory=list)  # resolver methods the model registers
    kernel_sources: list[str] = field(default_factory=list)  # kernel files compiled for those ops
    cached: bool = False  # the ELF came from the cache (nothing linked)
    compiled: int = 0  # objects compiled by this call (0: all from the cache)
    seconds: float = 0.0


def _model_files(model_dir: Path) -> dict[str, Path]:
    files = {name: model_dir / name for name in MODEL_FILES}
    missing = [name for name, path in files.items() if not path.is_file()]
    if missing:
        raise TinykdError(f"{model_dir}: no {', '.join(missing)}; write them with `tinykd export c` (or tinykd quantize)")
    return files


def _read_model_hash(source: str, where: Path) -> str:
    m = re.search(r'_model_hash\[\]\s*=\s*"([0-9a-f]{16})"', source)
    if not m:
        raise TinykdError(f"{where}: no model hash in model_data.cc; write it again with `tinykd export c`")
    return m.group(1)


def config_header(board_name: str, cpu_hz: int, mode: str, hop_samples: int | None, body_every: int) -> str:
    """tinykd_config.h for a build (what `tinykd flash` writes for a real board)."""
    if mode not in ("stream", "verify"):
        raise TinykdError(f"mode must be stream or verify, got {mode!r}")
    if body_every < 1:
        raise TinykdError(f"body_every must be >= 1, got {body_every}")
    hop = f"{int(hop_samples)}" if hop_samples else "(TINYKD_INPUT_SAMPLES / 2)"
    return "\n".join([
        "// Generated by tinykd.device.qemu.build. Do not edit.",
        "#ifndef TINYKD_CONFIG_H",
        "#define TINYKD_CONFIG_H",
        f'#define TINYKD_FW_VERSION "{__version__}"',
        f'#define TINYKD_BOARD_NAME "{board_name}"',
        "#define TINYKD_BAUD 921600",
        f"#define TINYKD_DEFAULT_MODE {'TKD_MODE_VERIFY' if mode == 'verify' else 'TKD_MODE_STREAM'}",
        f"#define TINYKD_HOP_SAMPLES {hop}  // waveform kind: samples between windows",
        f"#define TINYKD_BODY_EVERY_HOPS {int(body_every)}  // signal kind: body every N hops",
        f"#define TINYKD_CPU_HZ {int(cpu_hz)}u",
        "#endif",
        "",
    ])


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


class _Builder:
    """Compiles one source set for one toolchain and target flags."""

    def __init__(self, tc: Toolchain, tree: TflmTree, target_flags: tuple[str, ...], cache: Path, jobs: int | None,
                 extra_include_dirs: tuple[Path, ...] = ()):
        self.tc, self.tree, self.target_flags, self.cache, self.jobs = tc, tree, target_flags, cache, jobs
        dirs = [*include_dirs(tree.root), *(esp_nn_include_dirs(tree.esp_nn) if tree.esp_nn else ()),
                *extra_include_dirs]
        self.includes = tuple(f"-I{p}" for p in dirs)
        # tinykd's own files are compiled with -Werror; TFLM's headers are not tinykd's to fix.
        self.system_includes = tuple(f"-isystem{p}" for p in dirs)
        self.compiled = 0
        self.parts: dict[str, str] = {}  # object file name -> part (for the size table)
        cmsis = CMSIS_DEFINES if tree.kernels == "cmsis-nn" else ()
        self.defines = (*COMMON_FLAGS, *cmsis)

    def flags(self, src: Path, opt: str, extra: tuple[str, ...] = (), own: bool = False) -> tuple[str, ...]:
        lang = C_FLAGS if src.suffix == ".c" else CXX_FLAGS
        return (*self.target_flags, opt, *lang, *self.defines, *extra,
                *(self.system_includes if own else self.includes))

    def objects(self, sources: list[Path], opt: str, digest: str, part: str, extra: tuple[str, ...] = ()) -> list[Path]:
        own = part in (PART_TINYKD, PART_MODEL, BOARD)
        units = [Unit(s, self.flags(s, opt, extra, own), digest) for s in sources]
        objs, n = compile_units(units, self.tc, self.cache, self.jobs)
        self.compiled += n
        self.parts.update({o.name: part for o in objs})
        return objs

    def library(self, sources: list[Path], opt: str, name: str, part: str, extra: tuple[str, ...] = ()) -> list[Path]:
        if not sources:
            return []
        return [archive(self.objects(sources, opt, self.tree.digest, part, extra), self.tc, self.cache, name)]


def _firmware_sources() -> tuple[Path, list[Path], Path]:
    fw = firmware_dir()
    core = fw / "tinykd_fw" / "src" / "core"
    glue = fw / "tinykd_fw" / "src" / "tflm"
    return fw, sorted(core.glob("*.cpp")) + [glue / "tkd_tflm.cpp"], glue


def _link_error(stderr: str, target: EmulatedTarget) -> TinykdError:
    over = re.findall(r"region `(\w+)' overflowed by (\d+) bytes", stderr)
    if over:
        region, n = max(over, key=lambda item: int(item[1]))
        budget = target.flash_bytes if region == "FLASH" else target.ram_bytes
        section = re.search(r"section `([^']+)' will not fit in region `" + region + "'", stderr)
        sec = section.group(1) if section else ("data + bss + heap + stack" if region == "RAM" else ".text")
        return FirmwareTooLarge(
            f"firmware for {target.name} does not fit: {sec} overflows {region} ({budget // KB} KB) by {int(n):,} bytes; "
            f"use a smaller model or arena (TINYKD_ARENA_BYTES) or a board with more {'flash' if region == 'FLASH' else 'RAM'}")
    undefined = re.search(r"undefined reference to `([^']+)'", stderr)
    if undefined:
        name = undefined.group(1)
        why = (" (a TFLM source the op list did not bring in; see tinykd/device/qemu/kernels.py)"
               if name.startswith(("tflite::", "arm_", "Register_")) else "")
        return TinykdError(f"linking the firmware failed: undefined reference to {name}{why}")
    first = next((ln for ln in stderr.splitlines() if "error" in ln.lower()), stderr.strip().splitlines()[:1] or [""])
    return TinykdError(f"linking the firmware failed: {first if isinstance(first, str) else first[0]}")


def build_firmware(model_dir: str | os.PathLike, board: str | EmulatedTarget = "qemu-nano33ble",
                   tflm: str | os.PathLike | None = None,
                   kernels: str = "cmsis-nn", *, mode: str = "stream", hop_samples: int | None = None,
                   body_every: int = 1, jobs: int | None = None) -> FirmwareBuild:
    """Compile and link the firmware for `model_dir` on the emulated `board` (see module docstring).

    `tflm`: None (the vendored tree for `kernels`), a TFLM tree folder or an archive. `mode`: the board's
    mode after boot. `hop_samples`: waveform kind, samples between stream windows (default half a window).
    `body_every`: signal kind, body every N front-end hops in stream mode. `board` may also be an
    EmulatedTarget (another memory budget on the same emulated machine)."""
    t0 = time.monotonic()
    if isinstance(board, EmulatedTarget):
        target, board = board, board.name
    elif board in TARGETS:
        target = TARGETS[board]
    else:
        raise TinykdError(f"unknown emulated board {board!r}; known: {', '.join(TARGETS)}")
    model_dir = Path(model_dir)
    files = _model_files(model_dir)
    if kernels == ESP_NN_KERNELS:
        raise TinykdError("kernels esp-nn are ESP32 kernels: they build for the host only "
                          "(build_host_firmware(..., flavour='esp-nn')); the emulated Cortex-M4F takes cmsis-nn or reference")
    tc = arm_toolchain()
    tree = resolve_tree(tflm, kernels)
    ops_text = files["model_ops.h"].read_text()
    header = files["model_data.h"].read_text()
    kind = "signal" if re.search(r"#define\s+\w+_MODEL_KIND_SIGNAL\s+1", header) else "waveform"
    sources = select_sources(tree.root, ops_text, host=False)
    if kind == "signal" and not tree.has_signal:
        raise TinykdError(f"{tree.origin}: this TFLM tree has no Signal library (signal/); a signal model needs one")
    model_hash = _read_model_hash(files["model_data.cc"].read_text(), files["model_data.cc"])
    cache = cache_dir() / "firmware"
    fw, own_sources, glue = _firmware_sources()
    emulated = fw / "emulated"

    b = _Builder(tc, tree, (*ARM_CPU_FLAGS, *ARM_DEFINES), cache, jobs)
    libs = [*b.library(sources.framework, OPT_FRAMEWORK, "tflm-framework", PART_FRAMEWORK),
            *b.library(sources.signal, OPT_KERNELS, "tflm-signal", PART_SIGNAL),
            *b.library(sources.cmsis_nn, OPT_KERNELS, "cmsis-nn", PART_CMSIS)]
    kernel_objs = _kernel_objects(b, sources, OPT_KERNELS)

    # tinykd's own code: the core, the glue, the board, the model (config header written per build).
    gen = cache / "gen" / _digest(board, mode, str(hop_samples), str(body_every), kernels)
    gen.mkdir(parents=True, exist_ok=True)
    _write_if_changed(gen / "tinykd_config.h", config_header(board, target.cpu_hz, mode, hop_samples, body_every))
    own_digest = _digest(headers_digest(fw / "tinykd_fw", emulated, gen), tree.digest,
                         *(files[n].read_bytes() for n in ("model_data.h", "model_ops.h")))
    own_inc = (f"-I{glue}", f"-I{fw / 'tinykd_fw' / 'src' / 'core'}", f"-I{emulated}", f"-I{model_dir}", f"-I{gen}",
               f'-DTKD_EMU_KERNELS="{kernels}"')
    own_objs = b.objects(own_sources, OPT_FIRMWARE, own_digest, PART_TINYKD, (*TINYKD_WARNINGS, *own_inc))
    own_objs += b.objects([*sorted(emulated.glob("*.c")), *sorted(emulated.glob("*.cpp"))], OPT_FIRMWARE, own_digest,
                          BOARD, (*TINYKD_WARNINGS, *own_inc))
    model_objs = b.objects([files["model_data.cc"]], OPT_FIRMWARE, own_digest, PART_MODEL, (f"-I{model_dir}",))

    script = emulated / "memory.ld"
    ld = [*ARM_CPU_FLAGS, "-T", str(script), "--specs=nano.specs", "-nostartfiles", "-Wl,--gc-sections",
          f"-Wl,--defsym=TKD_FLASH_BYTES={target.flash_bytes}", f"-Wl,--defsym=TKD_RAM_BYTES={target.ram_bytes}",
          f"-Wl,--defsym=TKD_STACK_BYTES={target.stack_bytes}", f"-Wl,--defsym=TKD_HEAP_BYTES={target.heap_bytes}",
          "-Wl,--no-warn-rwx-segments"]
    objs = [*own_objs, *model_objs, *kernel_objs]
    key = _digest(tc.version, *ld, script.read_bytes(), *(o.name for o in objs), *(lib.name for lib in libs))
    out = cache / "elf" / key
    elf, map_file = out / "tinykd_fw.elf", out / "tinykd_fw.map"
    cached = elf.is_file() and map_file.is_file()
    if not cached:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".link.", dir=out))
        try:
            cmd = [tc.cxx, *ld, f"-Wl,-Map={tmp / map_file.name}", *map(str, objs), "-Wl,--start-group",
                   *map(str, libs), "-lm", "-lc_nano", "-lgcc", "-lstdc++_nano", "-Wl,--end-group",
                   "-o", str(tmp / elf.name)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise _link_error(proc.stderr, target)
            os.replace(tmp / map_file.name, map_file)
            os.replace(tmp / elf.name, elf)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    sizes = measure_elf(elf, map_file, tc, target.flash_bytes, target.ram_bytes, b.parts)
    c_flags = list(b.flags(Path("x.c"), OPT_KERNELS))
    return FirmwareBuild(
        elf=elf, map_file=map_file, board=board, target=target, kernels=tree.kernels, tree=tree,
        model_dir=model_dir, model_hash=model_hash, kind=kind,
        flags={"c": c_flags, "cxx": list(b.flags(Path("x.cc"), OPT_KERNELS)), "ld": ld},
        sizes=sizes, ops=list(sources.methods), kernel_sources=[str(p.relative_to(tree.root)) for p in sources.kernels],
        cached=cached, compiled=b.compiled, seconds=time.monotonic() - t0)


def _kernel_objects(b: _Builder, sources: SourceSet, opt: str, esp_nn_defines: tuple[str, ...] = ()) -> list[Path]:
    """The model's kernels as one archive (each object recorded as TFLM or Signal kernel for the size table).
    `esp_nn_defines` go to esp-tflite-micro's kernels/esp_nn glue only (the one code they change)."""
    signal = [p for p in sources.kernels if "signal" in p.parts]
    esp = [p for p in sources.kernels if p.parent.name == "esp_nn"]
    tflm = [p for p in sources.kernels if p not in signal and p not in esp]
    objs = [*b.objects(tflm, opt, b.tree.digest, PART_KERNELS), *b.objects(signal, opt, b.tree.digest, PART_SIGNAL),
            *b.objects(esp, opt, b.tree.digest, PART_KERNELS, esp_nn_defines)]
    return [archive(objs, b.tc, b.cache, "kernels")] if objs else []


# -- the same application built for the host ---------------------------------------------------

HOST_FLAGS = ("-O2", "-fno-exceptions", "-fno-rtti")
HOST_FLAVOURS = ("reference", "esp-nn", "esp-nn-ansi")
# ESP-NN picks its kernels from the chip's sdkconfig (include/esp_nn.h): CONFIG_NN_OPTIMIZED (the default) with
# CONFIG_IDF_TARGET_ESP32 selects the generic C optimisations a classic ESP32 runs (esp_nn_generic_opt.h);
# "esp-nn-ansi" is menuconfig's "ANSI C" choice (esp_nn_ansi_c.h). ESP_NN=1 turns the kernels/esp_nn glue on,
# as esp-tflite-micro's CMakeLists.txt does. SKIP_NUDGE (a non-bit-exact rounding shortcut) stays off, its default.
# CONFIG_IDF_TARGET_ARCH_XTENSA stays undefined: ESP-NN's two inline Xtensa helpers (nsau = count leading zeros,
# clamps = saturate to int8, src/common/common_functions.h) take their C branches, which compute the same.
ESP_NN_DEFINES = {
    "esp-nn": ("-DESP_NN=1", "-DCONFIG_NN_OPTIMIZED=1", "-DCONFIG_IDF_TARGET_ESP32=1"),
    "esp-nn-ansi": ("-DESP_NN=1", "-DCONFIG_NN_ANSI_C=1", "-DCONFIG_IDF_TARGET_ESP32=1"),
}
# The one ESP-IDF header the ESP-NN kernel glue needs (it times each invoke into a global): the host's clock.
ESP_TIMER_H = """// Generated by tinykd.device.qemu.build for the host build of esp-tflite-micro: ESP-IDF's esp_timer.h
// is not on this machine; esp_timer_get_time() (microseconds since boot) only feeds the kernels' timing counters.
#ifndef TINYKD_HOST_ESP_TIMER_H_
#define TINYKD_HOST_ESP_TIMER_H_
#include <stdint.h>
#include <time.h>
static inline int64_t esp_timer_get_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
#endif
"""


def build_host_firmware(model_dir: str | os.PathLike, tflm: str | os.PathLike | None = None, *,
                        mode: str = "verify", hop_samples: int | None = None, body_every: int = 1,
                        jobs: int | None = None, flavour: str = "reference",
                        esp_nn: str | os.PathLike | None = None) -> Path:
    """The firmware application (core + TFLM glue + model) built for this machine:
    firmware/host/tkd_tflm_host.cpp, protocol on stdin/stdout. Returns the executable.

    `flavour`: "reference" (the reference TFLM tree; `tflm` another one), "esp-nn" (esp-tflite-micro with the
    ESP-NN kernels and ESP-NN's generic C path, what a classic ESP32 runs) or "esp-nn-ansi" (ESP-NN's ANSI C
    versions). For the ESP-NN flavours `tflm` is an esp-tflite-micro folder and `esp_nn` an ESP-NN folder
    (default: the vendored archives)."""
    if flavour not in HOST_FLAVOURS:
        raise TinykdError(f"flavour must be one of {', '.join(HOST_FLAVOURS)}, got {flavour!r}")
    model_dir = Path(model_dir)
    files = _model_files(model_dir)
    tc = host_toolchain()
    cache = cache_dir() / "firmware"
    espressif = flavour != "reference"
    if espressif:
        tree = resolve_esp_tree(tflm, esp_nn)
        shim = cache / "gen-host-esp" / _digest(ESP_TIMER_H)
        shim.mkdir(parents=True, exist_ok=True)
        _write_if_changed(shim / "esp_timer.h", ESP_TIMER_H)
        extra_dirs: tuple[Path, ...] = (shim,)
    else:
        if esp_nn is not None:
            raise TinykdError("esp_nn= is for the esp-nn flavours of build_host_firmware")
        tree, extra_dirs = resolve_tree(tflm, "reference"), ()
    sources = select_sources(tree.root, files["model_ops.h"].read_text(), host=True,
                             esp_nn=tree.esp_nn if espressif else None)
    fw, own_sources, glue = _firmware_sources()
    b = _Builder(tc, tree, (), cache, jobs, extra_dirs)
    b.defines = (*b.defines, "-DTF_LITE_USE_CTIME")
    esp_defines = ESP_NN_DEFINES.get(flavour, ())
    libs = [*b.library(sources.framework, "-O2", "tflm-framework", PART_FRAMEWORK),
            *b.library(sources.signal, "-O2", "tflm-signal", PART_SIGNAL),
            *b.library(sources.esp_nn, "-O2", "esp-nn", PART_ESP_NN, esp_defines)]
    kernel_objs = _kernel_objects(b, sources, "-O2", esp_defines)
    gen = cache / "gen-host" / _digest(mode, str(hop_samples), str(body_every))
    gen.mkdir(parents=True, exist_ok=True)
    _write_if_changed(gen / "tinykd_config.h", config_header("host", 0, mode, hop_samples, body_every))
    own_digest = _digest(headers_digest(fw / "tinykd_fw", gen), tree.digest,
                         *(files[n].read_bytes() for n in ("model_data.h", "model_ops.h")))
    own_inc = (f"-I{glue}", f"-I{fw / 'tinykd_fw' / 'src' / 'core'}", f"-I{model_dir}", f"-I{gen}")
    own_objs = b.objects([*own_sources, fw / "host" / "tkd_tflm_host.cpp"], "-O2", own_digest, PART_TINYKD,
                         (*TINYKD_WARNINGS, *own_inc))
    model_objs = b.objects([files["model_data.cc"]], "-O2", own_digest, PART_MODEL, (f"-I{model_dir}",))
    objs = [*own_objs, *model_objs, *kernel_objs]
    key = _digest(tc.version, *(o.name for o in objs), *(lib.name for lib in libs))
    exe = cache / "host-bin" / key / "tkd_tflm_host"
    if not exe.is_file():
        exe.parent.mkdir(parents=True, exist_ok=True)
        tmp = exe.with_name(f".tkd_tflm_host.{os.getpid()}")
        cmd = [tc.cxx, "-Wl,--gc-sections", *map(str, objs), "-Wl,--start-group", *map(str, libs), "-Wl,--end-group",
               "-lm", "-o", str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise _link_error(proc.stderr, TARGETS["qemu-nano33ble"])
        os.replace(tmp, exe)
    return exe
