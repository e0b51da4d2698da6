"""The firmware's board-independent C/C++ core, built with the host g++ (-Wall -Wextra -Werror,
AddressSanitizer + UBSan) and run: CRC, line writer, frame parser, ring buffer and windows, PCM
scaling, the board protocol logic, and the two-model scheduler (feature ring, body every N hops,
overrun, verify clips with the front-end state reset, AUDIO frames) (firmware/tests/test_core.cpp)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from device_support import REPO, core_test_binary_path

CORE = REPO / "firmware" / "tinykd_fw" / "src" / "core"
GLUE = REPO / "firmware" / "tinykd_fw" / "src" / "tflm"

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


def test_tflm_glue_has_no_arduino_includes():
    for src in GLUE.iterdir():
        text = src.read_text()
        for banned in ("Arduino.h", "ESP_I2S", "PDM.h", "esp_heap_caps"):
            assert banned not in text, f"{src.name} includes {banned}: the glue is shared with the emulated board and host"


def test_sketch_uses_the_emitted_c_api():
    """The sketch and the application header it shares with the emulated board and the host build use the
    emitted names (both kinds: the signal kind's macros are read in tkd_model_desc.h)."""
    text = "".join(p.read_text() for p in [REPO / "firmware" / "tinykd_fw" / "tinykd_fw.ino", *sorted(GLUE.glob("*.h"))])
    for name in ("tinykd_model_data", "tinykd_labels", "TINYKD_NUM_LABELS", "TINYKD_SAMPLE_RATE",
                 "TINYKD_INPUT_SAMPLES", "TINYKD_ARENA_BYTES", "tinykd_model_hash", "kTinykdNumOps",
                 "tinykd_register_ops", "tinykd_input_scale", "tinykd_output_zero_point",
                 "TINYKD_MODEL_KIND_SIGNAL", "tinykd_frontend_model_data", "TINYKD_FRONTEND_WINDOW_SAMPLES",
                 "TINYKD_FRONTEND_HOP_SAMPLES", "TINYKD_FEATURE_FRAMES", "TINYKD_FEATURE_BINS"):
        assert name in text, name
    assert "tkd_app_begin" in (REPO / "firmware" / "tinykd_fw" / "tinykd_fw.ino").read_text()
    assert "tkd_app_begin" in (REPO / "firmware" / "emulated" / "main.cpp").read_text()
    assert "tkd_app_begin" in (REPO / "firmware" / "host" / "tkd_tflm_host.cpp").read_text()
