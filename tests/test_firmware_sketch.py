"""Syntax check of the generated sketch with the host g++ (-Wall -Wextra -Werror) for the ESP32 and the
Mbed (Nano 33 BLE) code paths.

The Arduino cores and the TFLM library are not on this machine, so their headers are replaced by
declaration-only stand-ins written below, with the real signatures of what the sketch uses (Arduino
`Serial`/`micros`/`millis`, arduino-esp32 3.x `I2SClass`, Mbed `PDM`, TFLM `MicroInterpreter`,
`MicroMutableOpResolver<N>` with every `Add*` method tinykd.emit can emit, `TfLiteTensor`). Nothing is
linked or run: this catches C++ errors in tinykd_fw.ino (and its use of the emitted C API and of the core)
before a real board toolchain sees it. It is NOT the real compile; docs/hardware.md says so.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from device_support import DIGITS, cached_run
from tinykd.device.flash import FlashOptions, flash
from tinykd.emit.op_resolver import TFLM_ADD_METHODS

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs the host g++")

ARDUINO_H = """
#pragma once
#include <stdint.h>
#include <stddef.h>
#include <string.h>
unsigned long micros(void);
unsigned long millis(void);
void noInterrupts(void);
void interrupts(void);
class Stream {
 public:
  int available();
  size_t readBytes(char* buffer, size_t length);
  size_t readBytes(uint8_t* buffer, size_t length) { return readBytes((char*)buffer, length); }
  size_t write(const uint8_t* buffer, size_t size);
};
class HardwareSerial : public Stream {
 public:
  void begin(unsigned long baud);
  size_t setRxBufferSize(size_t size);
};
extern HardwareSerial Serial;
"""
ESP_I2S_H = """
#pragma once
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
};
"""
PDM_H = """
#pragma once
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
CHIRALE_H = "#pragma once\n"
TFLM_COMMON = """
#pragma once
#include <stdint.h>
#include <stddef.h>
typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef union { int32_t* i32; float* f; int16_t* i16; int8_t* int8; uint8_t* uint8; void* data; } TfLitePtrUnion;
typedef struct { TfLitePtrUnion data; size_t bytes; } TfLiteTensor;
"""
SCHEMA_H = """
#pragma once
#include <stdint.h>
#define TFLITE_SCHEMA_VERSION (3)
namespace tflite {
struct Model { uint32_t version() const; };
inline const Model* GetModel(const void* buf) { return static_cast<const Model*>(buf); }
}
"""
INTERPRETER_H = """
#pragma once
#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
namespace tflite {
class MicroInterpreter {
 public:
  MicroInterpreter(const Model* model, const MicroOpResolver& op_resolver, uint8_t* tensor_arena,
                   size_t tensor_arena_size);
  TfLiteStatus AllocateTensors();
  TfLiteStatus Invoke();
  TfLiteTensor* input(size_t index);
  TfLiteTensor* output(size_t index);
};
}
"""


def resolver_h() -> str:
    methods = "\n".join(f"  TfLiteStatus {m}();" for m in sorted(set(TFLM_ADD_METHODS.values())))
    return f"""
#pragma once
#include "tensorflow/lite/c/common.h"
namespace tflite {{
class MicroOpResolver {{}};
template <unsigned int tOpCount>
class MicroMutableOpResolver : public MicroOpResolver {{
 public:
{methods}
}};
}}
"""


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    root = tmp_path_factory.mktemp("stand_ins")
    files = {
        "Arduino.h": ARDUINO_H, "ESP_I2S.h": ESP_I2S_H, "PDM.h": PDM_H, "Chirale_TensorFlowLite.h": CHIRALE_H,
        "tensorflow/lite/c/common.h": TFLM_COMMON, "tensorflow/lite/schema/schema_generated.h": SCHEMA_H,
        "tensorflow/lite/micro/micro_interpreter.h": INTERPRETER_H,
        "tensorflow/lite/micro/micro_mutable_op_resolver.h": resolver_h(),
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize("board, define", [("esp32", "ESP32"), ("nano33ble", "ARDUINO_ARCH_MBED")])
@pytest.mark.parametrize("int8_io, tool", [(False, "arduino-cli"), (True, "arduino-cli"), (False, "pio")])
def test_generated_sketch_is_valid_cpp(stand_ins, tmp_path_factory, tmp_path, board, define, int8_io, tool):
    run = cached_run(tmp_path_factory.mktemp("sketch"), DIGITS, int8_io=int8_io)
    out = tmp_path / "fw"
    flash(FlashOptions(board=board, model=run, port="P", tool=tool, out=out, dry_run=True), echo=lambda s: None)
    if tool == "pio":  # PlatformIO defines PLATFORMIO and builds src/main.cpp with src/ on the include path
        src, main, extra = out / "src", out / "src" / "main.cpp", ["-DPLATFORMIO=60000"]
    else:
        src, main, extra = out / "tinykd_fw", out / "tinykd_fw" / "tinykd_fw.ino", []
    cmd = ["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", f"-D{define}", *extra, "-x", "c++",
           f"-I{stand_ins}", f"-I{src}", str(main)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
