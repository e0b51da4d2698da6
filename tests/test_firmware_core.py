"""The firmware's board-independent C/C++ core, built with the host g++ (-Wall -Wextra -Werror,
AddressSanitizer + UBSan) and run: CRC, line writer, frame parser, ring buffer and windows, PCM
scaling and the board protocol logic (firmware/tests/test_core.cpp)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from device_support import REPO, core_test_binary_path

CORE = REPO / "firmware" / "tinykd_fw" / "src" / "core"

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs the host g++")


@pytest.fixture(scope="session")
def core_test_binary(tmp_path_factory) -> Path:
    return core_test_binary_path(tmp_path_factory.mktemp("fwcore"))


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
