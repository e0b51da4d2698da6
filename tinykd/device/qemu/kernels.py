"""Which TFLM source files a model needs: the framework, and only the kernels its op list names.

The op list is `model_ops.h` (its `r.AddXxx()` calls, what `tinykd.emit` writes). Each method is looked up in
the tree's own `micro_mutable_op_resolver.h` to find the registration function it calls by default
(`AddConv2D` -> `Register_CONV_2D`), and that function's definition is found in the tree's kernel sources
(`kernels/conv.cc`, or `kernels/cmsis_nn/conv.cc` in a CMSIS-NN tree, `signal/micro/kernels/window.cc` for
the Signal ops). A kernel `x.cc` brings `x_common.cc` along when the tree has one, and so does every kernel
header `y.h` it (or a companion) includes (`depthwise_conv_common.cc` includes `conv.h`, so `conv_common.cc`
comes too). Signal kernels bring the Signal DSP library (`signal/src`) and CMSIS-NN kernels the CMSIS-NN
library; everything is linked from archives, so the linker keeps only what is really called. CMSIS-NN's float16/float32 files are left out, as
TFLM's `cmsis_nn.inc` does (with ARM_NN_ENABLE_F16/F32 = 0 they do not compile).

An esp-tflite-micro tree carries both the reference kernels and Espressif's replacements in `kernels/esp_nn/`
(add, conv, depthwise_conv, fully_connected, mul, pooling, softmax): with `esp_nn=` the replacements win, as
that tree's CMakeLists.txt does, and the ESP-NN library's portable C sources come along.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from tinykd.errors import TinykdError

MICRO = Path("tensorflow/lite/micro")
RESOLVER_H = MICRO / "micro_mutable_op_resolver.h"
# Framework files that only tests use, and the platform files each target replaces with its own.
_TEST_ONLY = {"fake_micro_context.cc", "mock_micro_graph.cc", "test_helpers.cc", "test_helper_custom_ops.cc"}
_PLATFORM = {"debug_log.cc", "micro_time.cc"}
# Kernels that call into files named neither after themselves nor `*_common.cc`.
_EXTRA_DEPS = {
    "unidirectional_sequence_lstm.cc": ("lstm_eval.cc", "lstm_eval_common.cc"),
}
# Always needed next to any kernel (tflite::micro::GetEvalInput, tensor helpers).
_KERNEL_SUPPORT = ("kernel_util.cc", "micro_tensor_utils.cc")


@dataclass
class SourceSet:
    """The sources of one build, grouped the way they are compiled and archived."""

    framework: list[Path] = field(default_factory=list)  # -Os, archived
    kernels: list[Path] = field(default_factory=list)  # -O2, linked as objects
    signal: list[Path] = field(default_factory=list)  # signal/src DSP library, -O2, archived
    cmsis_nn: list[Path] = field(default_factory=list)  # CMSIS-NN C library, -O2, archived
    methods: dict[str, Path] = field(default_factory=dict)  # AddXxx -> the file registering it
    esp_nn: list[Path] = field(default_factory=list)  # ESP-NN's portable C library, -O2, archived

    def all(self) -> list[Path]:
        return self.framework + self.kernels + self.signal + self.cmsis_nn + self.esp_nn


def ops_header_methods(text: str) -> list[str]:
    """The `r.AddXxx()` calls of an emitted model_ops.h, in order, without repeats."""
    methods = re.findall(r"\br\.(Add[A-Za-z0-9]+)\s*\(", text)
    if not methods:
        raise TinykdError("model_ops.h registers no op (no `r.AddXxx()` call); write it with tinykd export c")
    return list(dict.fromkeys(methods))


@lru_cache(maxsize=8)
def _resolver_registrations(root: Path) -> dict[str, str]:
    """AddXxx -> the Register_YYY function it uses by default, read from the tree's resolver header."""
    text = (root / RESOLVER_H).read_text(errors="replace")
    starts = [(m.start(), m.group(1)) for m in re.finditer(r"TfLiteStatus\s+(Add[A-Za-z0-9]+)\s*\(", text)]
    out = {}
    for (pos, name), (end, _) in zip(starts, starts[1:] + [(len(text), "")]):
        reg = re.search(r"\b(Register_[A-Z0-9_]+)\s*\(", text[pos:end])
        if reg:
            out.setdefault(name, reg.group(1))
    return out


@lru_cache(maxsize=8)
def _registration_files(root: Path, esp_nn: bool = False) -> dict[str, Path]:
    """Register_YYY -> the kernel source defining it (CMSIS-NN and Signal folders included; with `esp_nn`,
    kernels/esp_nn/ first, so its kernels replace the reference ones of the same name)."""
    out: dict[str, Path] = {}
    dirs = [root / MICRO / "kernels", root / MICRO / "kernels" / "cmsis_nn", root / "signal" / "micro" / "kernels"]
    if esp_nn:
        dirs.insert(0, root / MICRO / "kernels" / "esp_nn")
    for folder in dirs:
        if not folder.is_dir():
            continue
        for src in sorted(folder.glob("*.cc")):
            if src.name.endswith("_test.cc"):
                continue
            for name in re.findall(r"\b(Register_[A-Z0-9_]+)\s*\(\s*\)\s*\{", src.read_text(errors="replace")):
                out.setdefault(name, src)
    return out


_KERNEL_INCLUDE = re.compile(r'#include\s+"((?:tensorflow/lite/micro/kernels|signal/micro/kernels)/[\w/]+\.h)"')


def _kernel_headers(root: Path, path: Path, seen: set[Path] | None = None) -> set[Path]:
    """Kernel headers `path` includes, directly or through other kernel headers."""
    seen = set() if seen is None else seen
    for rel in _KERNEL_INCLUDE.findall(path.read_text(errors="replace")):
        header = root / rel
        if header.is_file() and header not in seen:
            seen.add(header)
            _kernel_headers(root, header, seen)
    return seen


def kernel_sources(root: Path, methods: list[str], esp_nn: bool = False) -> tuple[list[Path], dict[str, Path]]:
    """The kernel files (with their `_common` companions) for the resolver methods a model calls (with
    `esp_nn`, an esp-tflite-micro tree's ESP-NN kernels where it has them)."""
    regs = _resolver_registrations(root)
    files = _registration_files(root, esp_nn)
    chosen: dict[str, Path] = {}
    for method in methods:
        reg = regs.get(method)
        if reg is None:
            raise TinykdError(f"model_ops.h calls {method}, which {root / RESOLVER_H} does not have; use a TFLM tree "
                              "that supports this op (or re-emit model_ops.h for this tree)")
        src = files.get(reg)
        if src is None:
            raise TinykdError(f"{reg} (for {method}) is defined in no kernel source of {root}; the tree is incomplete")
        chosen[method] = src
    out: list[Path] = []
    kernel_dir = root / MICRO / "kernels"

    def add(path: Path) -> None:
        if not path.is_file() or path in out:
            return
        out.append(path)
        stem = path.stem
        companions = [path.with_name(f"{stem}_common.cc"), kernel_dir / f"{stem}_common.cc"]
        if stem.endswith("_kernel"):  # signal: fft_auto_scale_kernel.cc + fft_auto_scale_common.cc
            companions.append(path.with_name(f"{stem[: -len('_kernel')]}_common.cc"))
        companions += [kernel_dir / extra for extra in _EXTRA_DEPS.get(path.name, ())]
        for header in _kernel_headers(root, path):
            companions += [header.with_name(f"{header.stem}_common.cc"), kernel_dir / f"{header.stem}_common.cc"]
        for companion in companions:
            add(companion)

    for src in chosen.values():
        add(src)
    for name in _KERNEL_SUPPORT:
        add(kernel_dir / name)
    return out, chosen


def framework_sources(root: Path, host: bool) -> list[Path]:
    """TFLM's interpreter, allocator, planner, flatbuffer parsing and shared helpers (not kernels).

    On the host the tree's generic debug_log.cc / micro_time.cc are used; on a board its firmware
    provides DebugLog and the clock (the Cortex-M tree's versions need a device header it lacks)."""
    out = []
    for base in ("tensorflow/lite/micro", "tensorflow/lite/core", "tensorflow/lite/kernels", "tensorflow/compiler"):
        for src in sorted((root / base).rglob("*.cc")):
            rel = src.relative_to(root).as_posix()
            if "/micro/kernels/" in rel or "/examples/" in rel or "/tools/" in rel or "/python/" in rel:
                continue
            if src.name.endswith("_test.cc") or src.name in _TEST_ONLY or "/testing/" in rel:
                continue
            if "/micro/esp/" in rel:  # esp-tflite-micro's ESP-IDF platform files (esp_timer); never on the host
                continue
            if src.name in _PLATFORM and not host:
                continue
            if src.name in _PLATFORM and host and "cortex_m_generic" in rel:
                continue
            out.append(src)
    return out


def signal_library(root: Path) -> list[Path]:
    return sorted((root / "signal" / "src").rglob("*.cc"))


def cmsis_nn_library(root: Path) -> list[Path]:
    src = root / "third_party" / "cmsis_nn" / "Source"
    if not src.is_dir():
        return []
    return sorted(p for p in src.rglob("*.c")
                  if not p.name.endswith(("_f32.c", "_f16.c")) and p.name != "arm_nntables_flt.c")


def esp_nn_library(esp_nn: Path) -> list[Path]:
    """ESP-NN's portable C kernels: the `*_ansi.c` reference versions and the `*_opt.c` generic optimisations
    (what ESP-NN's CMakeLists.txt builds for every chip; the ESP32-S3/P4 assembly and intrinsics files are
    left out: they need an Xtensa or RISC-V compiler)."""
    return sorted(p for p in (esp_nn / "src").rglob("*.c") if p.name.endswith(("_ansi.c", "_opt.c")))


def esp_nn_include_dirs(esp_nn: Path) -> list[Path]:
    return [p for p in (esp_nn / "include", esp_nn / "src" / "common") if p.is_dir()]


def include_dirs(root: Path) -> list[Path]:
    cands = [root, root / "third_party" / "flatbuffers" / "include", root / "third_party" / "gemmlowp",
             root / "third_party" / "ruy", root / "third_party" / "kissfft", root / "third_party" / "cmsis",
             root / "third_party" / "cmsis" / "CMSIS" / "Core" / "Include", root / "third_party" / "cmsis_nn",
             root / "third_party" / "cmsis_nn" / "Include"]
    return [p for p in cands if p.is_dir()]


def select_sources(root: Path, ops_header: str, host: bool, esp_nn: Path | None = None) -> SourceSet:
    """Everything one model's firmware compiles from the tree (`esp_nn`: the ESP-NN library folder, for an
    esp-tflite-micro tree built with its ESP-NN kernels)."""
    methods = ops_header_methods(ops_header)
    kernels, chosen = kernel_sources(root, methods, esp_nn is not None)
    uses_signal = any("signal" in p.parts for p in chosen.values())
    uses_cmsis = any(p.parent.name == "cmsis_nn" for p in chosen.values())
    uses_esp_nn = any(p.parent.name == "esp_nn" for p in chosen.values())
    return SourceSet(
        framework=framework_sources(root, host),
        kernels=kernels,
        signal=signal_library(root) if uses_signal else [],
        cmsis_nn=cmsis_nn_library(root) if uses_cmsis else [],
        methods=chosen,
        esp_nn=esp_nn_library(esp_nn) if esp_nn is not None and uses_esp_nn else [],
    )
