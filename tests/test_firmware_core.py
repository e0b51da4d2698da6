"""The firmware's board-independent C/C++ core, built with the host g++ (-Wall -Wextra -Werror,
AddressSanitizer + UBSan) and run: CRC, line writer, frame parser, ring buffer and windows, PCM
scaling and the board protocol logic (firmware/tests/test_core.cpp)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "firmware" / "tinykd_fw" / "src" / "core"
FLAGS = ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
         "-g", "-O1"]

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs the host g++")


@pytest.fixture(scope="session")
def core_test_binary(tmp_path_factory) -> Path:
    exe = tmp_path_factory.mktemp("fwcore") / "test_core"
    cmd = ["g++", *FLAGS, f"-I{CORE}", str(REPO / "firmware" / "tests" / "test_core.cpp"),
           *map(str, sorted(CORE.glob("*.cpp"))), "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return exe


def test_core_unit_tests_pass_under_sanitizers(core_test_binary):
    proc = subprocess.run([str(core_test_binary)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 failed" in proc.stdout
    assert "runtime error" not in proc.stderr and "AddressSanitizer" not in proc.stderr


def test_core_has_no_arduino_or_tflm_includes():
    for src in CORE.iterdir():
        text = src.read_text()
        for banned in ("Arduino.h", "tensorflow/", "ESP_I2S", "PDM.h"):
            assert banned not in text, f"{src.name} includes {banned}: the core must build on the host"


def test_sketch_uses_the_emitted_c_api():
    sketch = (REPO / "firmware" / "tinykd_fw" / "tinykd_fw.ino").read_text()
    for name in ("tinykd_model_data", "tinykd_labels", "TINYKD_NUM_LABELS", "TINYKD_SAMPLE_RATE",
                 "TINYKD_INPUT_SAMPLES", "TINYKD_ARENA_BYTES", "tinykd_model_hash", "kTinykdNumOps",
                 "tinykd_register_ops", "tinykd_input_scale", "tinykd_output_zero_point"):
        assert name in sketch, name
