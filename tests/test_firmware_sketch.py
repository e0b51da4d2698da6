"""The generated sketch compiled with the host g++ (-Wall -Wextra -Werror, code generated at -Os) against the
REAL headers of the TFLM library each board builds with, for both model kinds (waveform; front end + body):

- ESP32 (arduino-esp32 3.x bundles esp-tflite-micro): esp-tflite-micro 1.4.0 with ESP-NN, the include folders
  its CMakeLists.txt exports, -DESP32 -DARDUINO_ARCH_ESP32, -std=gnu++2b (ESP-IDF 5's default), and
  TF_LITE_STATIC_MEMORY (the component's INTERFACE define);
- Nano 33 BLE (Arduino Mbed core + Chirale_TensorFlowLite 2.0.0): the library's src/ (the one folder the Arduino
  builder adds for a library), -DARDUINO_ARCH_MBED, and the flags of ArduinoCore-mbed's
  variants/ARDUINO_NANO33BLE/cxxflags.txt that change what code means: -std=gnu++14 -funsigned-char; no
  TF_LITE_STATIC_MEMORY (an Arduino library cannot set one);
- upstream TFLM 90b983c2 (the emulated board's tree, or a user's own through PlatformIO), both board paths.

Every translation unit the Arduino builder compiles is compiled: the sketch, model_data.cpp, src/core and
src/tflm. Where a library lacks a resolver method the emitted model_ops.h calls (Chirale has no Signal ops
and no AddBatchMatMul/AddReduceMin/AddReverseV2), the test asserts the compile fails with exactly the
methods `tinykd.tflite.ops.missing_ops` predicts, and with no other error.

NOT real: the Arduino cores' own headers are not on this machine, so `Arduino.h`, `Wire.h`, `ESP_I2S.h`,
`esp_heap_caps.h` and `PDM.h` are declaration-only STAND-INS (ARDUINO_STAND_INS, with the real signatures of
what the sketch and Chirale use). Nothing is linked or run here, and no Xtensa or Mbed compiler is used (see
docs/hardware.md); the same glue does run, compiled for Cortex-M4F, in tests/test_qemu_board.py.

tests/test_export_arduino.py reuses `header_set`, `write_arduino_stand_ins`, `compile_units` and
`missing_members`.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from device_support import DIGITS, REPO, cached_run
from test_qemu_helpers import require, require_host_compiler, require_vendor, signal_pair
from tinykd.boards import DEFAULT_BAUD
from tinykd.device.flash import FlashOptions, flash
from tinykd.errors import TinykdError
from tinykd.tflite.ops import TFLM_ADD_METHODS, TFLM_CUSTOM_ADD_METHODS, missing_ops

# -- Arduino core STAND-INS (declarations only; the cores are not on this machine) ----------------------------
ARDUINO_H = """
#pragma once
// STAND-IN for the Arduino core's Arduino.h (declarations of what the sketch uses; not the real core).
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#ifdef __cplusplus
extern "C" {
#endif
unsigned long micros(void);  // real cores declare these extern "C"
unsigned long millis(void);
void delay(unsigned long ms);
#ifdef __cplusplus
}
#endif
void noInterrupts(void);
void interrupts(void);
class Print {
 public:
  virtual ~Print() {}
  virtual size_t write(uint8_t c) = 0;
  virtual size_t write(const uint8_t* buffer, size_t size);
};
class Stream : public Print {
 public:
  virtual int available() = 0;
  virtual int read() = 0;
  size_t readBytes(char* buffer, size_t length);
  size_t readBytes(uint8_t* buffer, size_t length) { return readBytes((char*)buffer, length); }
  using Print::write;
};
class HardwareSerial : public Stream {
 public:
  void begin(unsigned long baud);
  size_t setRxBufferSize(size_t size);  // arduino-esp32
  int available() override;
  int read() override;
  size_t write(uint8_t c) override;
  size_t write(const uint8_t* buffer, size_t size) override;
};
extern HardwareSerial Serial;
"""
WIRE_H = """
#pragma once
// STAND-IN for the Arduino core's Wire.h: Chirale_TensorFlowLite's peripherals.h includes it, uses nothing.
#include "Arduino.h"
"""
ESP_I2S_H = """
#pragma once
// STAND-IN for arduino-esp32 3.x ESP_I2S.h (the I2SClass the sketch uses).
#include "Arduino.h"
typedef enum { I2S_MODE_STD } i2s_mode_t;
typedef enum { I2S_DATA_BIT_WIDTH_16BIT = 16, I2S_DATA_BIT_WIDTH_32BIT = 32 } i2s_data_bit_width_t;
typedef enum { I2S_SLOT_MODE_MONO = 1, I2S_SLOT_MODE_STEREO = 2 } i2s_slot_mode_t;
typedef enum { I2S_STD_SLOT_LEFT = 1, I2S_STD_SLOT_RIGHT = 2, I2S_STD_SLOT_BOTH = 3 } i2s_std_slot_mask_t;
class I2SClass : public Stream {
 public:
  void setPins(int8_t bclk, int8_t ws, int8_t dout, int8_t din = -1, int8_t mclk = -1);
  bool begin(i2s_mode_t mode, uint32_t rate, i2s_data_bit_width_t bits_cfg, i2s_slot_mode_t ch,
             int8_t slot_mask = -1);
  int available() override;
  int read() override;
  size_t write(uint8_t c) override;
};
"""
ESP_HEAP_CAPS_H = """
#pragma once
// STAND-IN for ESP-IDF's esp_heap_caps.h (the allocator the sketch's PSRAM/internal arena uses).
#include <stddef.h>
#include <stdint.h>
#define MALLOC_CAP_8BIT (1 << 2)
#define MALLOC_CAP_SPIRAM (1 << 10)
#define MALLOC_CAP_INTERNAL (1 << 11)
#ifdef __cplusplus
extern "C" {
#endif
void* heap_caps_aligned_alloc(size_t alignment, size_t size, uint32_t caps);
#ifdef __cplusplus
}
#endif
"""
PDM_H = """
#pragma once
// STAND-IN for the Arduino Mbed core's PDM library header (the PDMClass the sketch uses).
#include <stddef.h>
class PDMClass {
 public:
  int begin(int channels, int sampleRate);
  void onReceive(void (*function)(void));
  int available();
  int read(void* buffer, size_t size);
};
extern PDMClass PDM;
"""
ARDUINO_STAND_INS = {"Arduino.h": ARDUINO_H, "Wire.h": WIRE_H, "ESP_I2S.h": ESP_I2S_H,
                     "esp_heap_caps.h": ESP_HEAP_CAPS_H, "PDM.h": PDM_H}


def write_arduino_stand_ins(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in ARDUINO_STAND_INS.items():
        (root / rel).write_text(text)
    return root


# -- the real TFLM header sets ---------------------------------------------------------------------------------
ARDUINO_VERSION = "ARDUINO=10607"  # what arduino-cli defines
ARCH_DEFINES = {"esp32": ("ESP32", "ARDUINO_ARCH_ESP32"), "mbed": ("ARDUINO_ARCH_MBED", "ARDUINO_ARDUINO_NANO33BLE")}
BOARD_TARGET = {"esp32": ("esp-tflite-micro-1.4.0", "esp32"), "nano33ble": ("chirale-2.0.0", "mbed")}


@dataclass(frozen=True)
class HeaderSet:
    """One target TFLM library as a board's build sees it."""

    target: str  # a key of tinykd.tflite.ops.TFLM_TARGET_ADD_METHODS
    include_dirs: tuple[Path, ...]
    flags: tuple[str, ...]  # the language standard, defines and flags the board's core compiles with


def header_set(target: str) -> HeaderSet:
    """The real headers of `target` from the vendored archives (unpacked once into the TINYKD_CACHE)."""
    from tinykd.device.qemu.kernels import esp_nn_include_dirs, include_dirs
    from tinykd.device.qemu.tree import resolve_tree, vendored_library

    if target == "tflm":
        root = resolve_tree(None, "reference").root
        return HeaderSet(target, tuple(include_dirs(root)), ("-std=gnu++17", "-DTF_LITE_STATIC_MEMORY"))
    if target == "esp-tflite-micro-1.4.0":
        root, _ = vendored_library("esp-tflite-micro")
        nn, _ = vendored_library("esp-nn")
        return HeaderSet(target, (*include_dirs(root), *esp_nn_include_dirs(nn)),
                         ("-std=gnu++2b", "-DTF_LITE_STATIC_MEMORY"))
    if target == "chirale-2.0.0":
        root, _ = vendored_library("chirale")
        return HeaderSet(target, (root / "src",), ("-std=gnu++14", "-funsigned-char"))
    raise ValueError(target)


def compile_units(hs: HeaderSet, arch: str, own_dirs: list[Path], units: list[Path], out: Path,
                  defines: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Compile `units` (an .ino as C++) in one g++ run, objects into `out`. TFLM's headers are system headers:
    their own warnings are not tinykd's; tinykd's code is held to -Werror."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = ["g++", "-Wall", "-Wextra", "-Werror", "-Os", "-fno-rtti", "-fno-exceptions", "-c", *hs.flags,
           f"-D{ARDUINO_VERSION}", *[f"-D{d}" for d in (*ARCH_DEFINES[arch], *defines)],
           *[f"-isystem{d}" for d in hs.include_dirs], *[f"-I{d}" for d in own_dirs]]
    for unit in units:
        cmd += ["-x", "c++", str(unit), "-x", "none"] if unit.suffix == ".ino" else [str(unit)]
    # LC_ALL=C: the compiler quotes names with ASCII quotes, which missing_members reads.
    return subprocess.run(cmd, capture_output=True, text=True, cwd=out, env={**os.environ, "LC_ALL": "C"})


_MISSING = re.compile(r"has no member named '(Add[A-Za-z0-9]+)'")


def missing_members(stderr: str) -> tuple[set[str], list[str]]:
    """(resolver methods the compiler found missing, every OTHER error line)."""
    errors = [ln for ln in stderr.splitlines() if " error: " in ln or ln.startswith("cc1plus: error")]
    found = {m.group(1) for ln in errors if (m := _MISSING.search(ln))}
    return found, [ln for ln in errors if not _MISSING.search(ln)]


def assert_compiles_as_predicted(proc: subprocess.CompletedProcess, methods: list[str], target: str) -> list[str]:
    """The compile succeeded, or failed with exactly the methods missing_ops predicts and nothing else."""
    predicted = missing_ops(methods, target)
    found, other = missing_members(proc.stderr)
    assert not other, "\n".join(other[:20]) + "\n" + proc.stderr[-3000:]
    assert found == set(predicted), (found, predicted)
    assert (proc.returncode == 0) == (not predicted), proc.stderr[-3000:]
    return predicted


def sketch_units(folder: Path, sketch: Path) -> list[Path]:
    """What the Arduino builder (or PlatformIO) compiles from a generated project folder."""
    return [sketch, folder / "model_data.cpp", *sorted((folder / "src" / "core").glob("*.cpp")),
            *sorted((folder / "src" / "tflm").glob("*.cpp"))]


def model_methods(folder: Path) -> list[str]:
    from tinykd.device.qemu.kernels import ops_header_methods

    return ops_header_methods((folder / "model_ops.h").read_text())


# -- fixtures ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    require_host_compiler()
    require_vendor("esp-tflite-micro", "esp-nn", "chirale")
    return write_arduino_stand_ins(tmp_path_factory.mktemp("arduino_stand_ins"))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The int8 folders of real conversions: a waveform model (float and int8 I/O) and a signal deployment."""
    base = tmp_path_factory.mktemp("sketch_models")
    return {"waveform-float": cached_run(base, DIGITS) / "int8", "waveform-int8": cached_run(base, DIGITS, int8_io=True) / "int8",
            "signal": signal_pair(base)[0]}


def _project(model: Path, board: str, out: Path, tool: str = "arduino-cli") -> tuple[Path, Path]:
    """(project source folder, sketch file) as `tinykd flash --dry-run` writes them."""
    flash(FlashOptions(board=board, model=model, port="P", tool=tool, out=out, dry_run=True), echo=lambda s: None)
    if tool == "pio":  # PlatformIO builds src/main.cpp with src/ on the include path
        return out / "src", out / "src" / "main.cpp"
    return out / "tinykd_fw", out / "tinykd_fw" / "tinykd_fw.ino"


def _project_unchecked(model: Path, board: str, out: Path) -> tuple[Path, Path]:
    """The arduino-cli project flash would write, without its op check (to compile what it refuses)."""
    from tinykd.boards import get_board
    from tinykd.device.flash import _write_tree, load_model_files
    from tinykd.emit.project import project_tree

    files = load_model_files(model)
    tree = project_tree("arduino-cli", get_board(board), files.sources, report=files.report, mode="stream",
                        hop_ms=500, baud=DEFAULT_BAUD)
    _write_tree(out, tree, {"unchecked": True})
    return out / "tinykd_fw", out / "tinykd_fw" / "tinykd_fw.ino"


# -- tests ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["waveform-float", "waveform-int8", "signal"])
@pytest.mark.parametrize("board", ["esp32", "nano33ble"])
def test_sketch_compiles_against_the_boards_tflm_library(stand_ins, models, tmp_path, board, kind):
    """Every unit of the generated sketch against the real headers of the board's own TFLM library."""
    target, arch = BOARD_TARGET[board]
    if board == "nano33ble" and kind == "signal":
        # flash refuses it, naming the ops the board's TFLM lacks; the compile below shows that it is right.
        with pytest.raises(TinykdError, match=r"nano33ble: its TFLM \(chirale-2.0.0\) lacks .*AddWindow"):
            _project(models[kind], board, tmp_path / "refused")
        assert not (tmp_path / "refused").exists()
        folder, sketch = _project_unchecked(models[kind], board, tmp_path / "fw")
    else:
        folder, sketch = _project(models[kind], board, tmp_path / "fw")
    methods = model_methods(folder)
    proc = compile_units(header_set(target), arch, [stand_ins, folder], sketch_units(folder, sketch), tmp_path / "obj")
    predicted = assert_compiles_as_predicted(proc, methods, target)
    if board == "nano33ble" and kind == "signal":
        # Chirale_TensorFlowLite has no Signal library: the front end cannot register there (boards.py says so).
        assert predicted and all(m in TFLM_CUSTOM_ADD_METHODS.values() for m in predicted)
        # ... and only model_ops.h fails: the glue, the core and the model data compile on their own.
        rest = compile_units(header_set(target), arch, [stand_ins, folder], sketch_units(folder, sketch)[1:],
                             tmp_path / "obj2")
        assert rest.returncode == 0, rest.stderr[-3000:]
    else:
        assert not predicted


@pytest.mark.parametrize("board", ["esp32", "nano33ble"])
def test_platformio_layout_compiles_against_the_boards_tflm_library(stand_ins, models, tmp_path, board):
    """PlatformIO's layout (src/main.cpp, PLATFORMIO defined, core/ and tflm/ beside it)."""
    target, arch = BOARD_TARGET[board]
    folder, main = _project(models["waveform-float"], board, tmp_path / "fw", tool="pio")
    proc = compile_units(header_set(target), arch, [stand_ins, folder], sketch_units(folder, main), tmp_path / "obj",
                         ("PLATFORMIO=60000",))
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("placement", [1, 2], ids=["psram", "internal"])
def test_esp32_arena_placements_compile(stand_ins, models, tmp_path, placement):
    """The arena from heap_caps_aligned_alloc (PSRAM, internal RAM) on the ESP32 path."""
    folder, sketch = _project(models["waveform-int8"], "esp32", tmp_path / "fw")
    proc = compile_units(header_set("esp-tflite-micro-1.4.0"), "esp32", [stand_ins, folder], [sketch],
                         tmp_path / "obj", (f"TINYKD_ARENA_PLACEMENT={placement}",))
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("kind", ["waveform-int8", "signal"])
def test_sketch_compiles_against_upstream_tflm(stand_ins, models, tmp_path, kind):
    """Upstream TFLM (the emulated board's tree, or a user's own through PlatformIO), both kinds. The ESP32
    path only: on Mbed the sketch includes <Chirale_TensorFlowLite.h>, so that path is Chirale's (above)."""
    folder, sketch = _project(models[kind], "esp32", tmp_path / "fw")
    assert not missing_ops(model_methods(folder), "tflm")
    proc = compile_units(header_set("tflm"), "esp32", [stand_ins, folder], sketch_units(folder, sketch), tmp_path / "obj")
    assert proc.returncode == 0, proc.stderr[-3000:]


ALL_OPS_TU = """
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "model_ops.h"
static tflite::MicroMutableOpResolver<kTinykdNumOps> g_resolver;
int register_all() { return tinykd_register_ops(g_resolver) == kTfLiteOk ? 0 : 1; }
"""


@pytest.mark.parametrize("target", ["tflm", "esp-tflite-micro-1.4.0", "chirale-2.0.0"])
def test_the_op_table_predicts_which_resolver_calls_compile(stand_ins, tmp_path, target):
    """A model_ops.h registering every op tinykd can emit, against each library's real header: the methods
    the compiler finds missing are exactly those tinykd.tflite.ops.missing_ops names."""
    from tinykd.emit.op_resolver import render_model_ops_h

    every = [*TFLM_ADD_METHODS, *(f"CUSTOM:{c}" for c in TFLM_CUSTOM_ADD_METHODS)]
    (tmp_path / "model_ops.h").write_text(render_model_ops_h(every))
    (tmp_path / "all_ops.cpp").write_text(ALL_OPS_TU)
    methods = model_methods(tmp_path)
    assert len(methods) == len(every)
    arch = "mbed" if target.startswith("chirale") else "esp32"
    proc = compile_units(header_set(target), arch, [stand_ins, tmp_path], [tmp_path / "all_ops.cpp"], tmp_path / "obj")
    predicted = assert_compiles_as_predicted(proc, methods, target)
    if target == "chirale-2.0.0":  # the finding, from the compiler itself
        assert {"AddBatchMatMul", "AddReduceMin", "AddReverseV2", "AddWindow", "AddRfft"} <= set(predicted)
    else:
        assert predicted == []


def test_missing_host_compiler_or_vendor_fails_when_required(monkeypatch):
    """TINYKD_REQUIRE_EMULATOR=1 (CI) turns a missing piece into a failure, not a skip."""
    monkeypatch.setenv("TINYKD_REQUIRE_EMULATOR", "1")
    with pytest.raises(pytest.fail.Exception, match="not skipped"):
        require("needs the host g++")
    monkeypatch.delenv("TINYKD_REQUIRE_EMULATOR")
    with pytest.raises(pytest.skip.Exception):
        require("needs the host g++")


def test_flash_layout_carries_the_tflm_glue(tmp_path_factory, tmp_path):
    run = cached_run(tmp_path_factory.mktemp("sketch"), DIGITS)
    out = tmp_path / "fw"
    flash(FlashOptions(board="esp32", model=run, port="P", out=out, dry_run=True), echo=lambda s: None)
    assert (REPO / "firmware" / "tinykd_fw" / "src" / "tflm" / "tkd_tflm.cpp").read_bytes() == \
        (out / "tinykd_fw" / "src" / "tflm" / "tkd_tflm.cpp").read_bytes()
