"""`tinykd flash`: the generated project for every board and tool, the exact commands, and refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from device_support import DIGITS, REPO, cached_run, emit_c_files, make_signal_int8_run
from tinykd.boards import BOARDS
from tinykd.device.flash import FlashOptions, flash, resolve_port
from tinykd.errors import TinykdError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return cached_run(tmp_path_factory.mktemp("flash"), DIGITS)


@pytest.mark.parametrize("tool", ["arduino-cli", "pio"])
@pytest.mark.parametrize("board", sorted(name for name, b in BOARDS.items() if not b.emulated))
def test_dry_run_generates_project_and_exact_commands(run, tmp_path, board, tool):
    out = tmp_path / "fw"
    lines: list[str] = []
    res = flash(FlashOptions(board=board, model=run, port="/dev/ttyUSB7", tool=tool, out=out, dry_run=True,
                             hop_ms=250), echo=lines.append)
    b = BOARDS[board]
    root = out / "tinykd_fw" if tool == "arduino-cli" else out / "src"
    main = root / ("tinykd_fw.ino" if tool == "arduino-cli" else "main.cpp")
    assert main.read_text() == (REPO / "firmware" / "tinykd_fw" / "tinykd_fw.ino").read_text()
    for name in ("model_data.h", "model_data.cpp", "model_ops.h", "tinykd_pins.h", "core/tkd_board.cpp"):
        assert (root / name if not name.startswith("core") else root / ("src/" + name if tool == "arduino-cli" else name)).is_file(), name
    config = (root / "tinykd_config.h").read_text()
    assert f'TINYKD_BOARD_NAME "{board}"' in config and "TINYKD_HOP_SAMPLES 2000" in config
    if tool == "arduino-cli":
        assert res.commands[0] == ["arduino-cli", "compile", "--fqbn", b.fqbn, "--build-path", str(out / "build"),
                                   "--warnings", "default", str(out / "tinykd_fw")]
        assert res.commands[1] == ["arduino-cli", "upload", "--fqbn", b.fqbn, "--port", "/dev/ttyUSB7",
                                   "--input-dir", str(out / "build"), str(out / "tinykd_fw")]
        assert any(c[:3] == ["arduino-cli", "core", "install"] for c in res.setup)
        assert (["arduino-cli", "lib", "install", "Chirale_TensorFLowLite"] in res.setup) == (board == "nano33ble")
    else:
        ini = (out / "platformio.ini").read_text()
        assert f"board = {b.pio_board}" in ini and f"platform = {b.pio_platform}" in ini
        assert res.commands == [["pio", "run", "--project-dir", str(out)],
                                ["pio", "run", "--project-dir", str(out), "--target", "upload", "--upload-port",
                                 "/dev/ttyUSB7"]]
    info = json.loads((out / "tinykd_build.json").read_text())
    assert info["board"] == board and info["commands"] == res.commands
    text = "\n".join(lines)
    assert "fits" in text and "commands (not run, --dry-run):" in text
    assert all(" ".join(c) in text for c in res.commands)
    # The generated model files and firmware core compile with the host compiler (TFLM parts need the board toolchain).
    srcs = [root / "model_data.cpp", *sorted((root / ("src/core" if tool == "arduino-cli" else "core")).glob("*.cpp"))]
    proc = subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", *map(str, srcs)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("preset", ["wav2tiny", "wav2small"])
def test_default_presets_fit_a_plain_esp32(tmp_path, preset):
    """The deployable defaults, converted as tinykd quantize converts them (untrained: sizes and arena depend only
    on shapes), pass `flash --board esp32 --dry-run` with every firmware buffer counted, arena in internal RAM."""
    run = make_signal_int8_run(tmp_path / "run", list(DIGITS), preset=preset)
    lines: list[str] = []
    result = flash(FlashOptions(board="esp32", model=run, out=tmp_path / "fw", dry_run=True), echo=lines.append)
    assert result.fit.startswith("esp32: fits"), result.fit
    info = json.loads((tmp_path / "fw" / "tinykd_build.json").read_text())
    assert info["board"] == "esp32" and "PORT" in " ".join(" ".join(c) for c in info["commands"])
    config = (tmp_path / "fw" / "tinykd_fw" / "tinykd_config.h").read_text()
    assert "TINYKD_ARENA_PLACEMENT TINYKD_ARENA_STATIC" in config
    report = json.loads((run / "int8" / "quantize.json").read_text())
    assert report["kind"] == "signal" and report["arena"]["bytes"] <= BOARDS["esp32"].arena_limit_bytes


def test_board_whose_tflm_lacks_the_models_ops_is_refused(tmp_path):
    """The Nano 33 BLE builds with Chirale_TensorFlowLite, which has no Signal ops (tinykd.tflite.ops, read from its
    real header): a deployable model is refused there with the missing methods named; a waveform model is not."""
    run = make_signal_int8_run(tmp_path / "run", list(DIGITS))
    with pytest.raises(TinykdError, match=r"nano33ble: its TFLM \(chirale-2\.0\.0\) lacks .*AddRfft.*AddWindow"):
        flash(FlashOptions(board="nano33ble", model=run, out=tmp_path / "fw", dry_run=True), echo=lambda s: None)
    assert not (tmp_path / "fw").exists()
    flash(FlashOptions(board="esp32", model=run, out=tmp_path / "esp", dry_run=True), echo=lambda s: None)


def test_model_that_does_not_fit_is_refused_before_building(run, tmp_path):
    big = tmp_path / "big"
    shutil.copytree(run, big)
    emit_c_files(big, arena_margin=20.0)  # the emitter states a 20x arena
    with pytest.raises(TinykdError, match="does not fit esp32: .*arena"):
        flash(FlashOptions(board="esp32", model=big, port="P", out=tmp_path / "o", dry_run=True), echo=lambda s: None)
    assert not (tmp_path / "o").exists()


def test_stale_model_files_and_foreign_out_folder_are_refused(run, tmp_path):
    stale = tmp_path / "stale"
    shutil.copytree(run, stale)
    cc = stale / "int8" / "model_data.cc"
    cc.write_text(cc.read_text().replace('tinykd_model_hash[] = "', 'tinykd_model_hash[] = "0'))
    with pytest.raises(TinykdError, match="hash differs"):
        flash(FlashOptions(board="esp32", model=stale, port="P", dry_run=True), echo=lambda s: None)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(TinykdError, match="not a tinykd build folder"):
        flash(FlashOptions(board="esp32", model=run, port="P", out=foreign, dry_run=True), echo=lambda s: None)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_missing_tool_says_what_to_install(run, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither arduino-cli nor pio on PATH
    for tool, hint in (("arduino-cli", "install arduino-cli"), ("pio", "pip install platformio")):
        with pytest.raises(TinykdError, match=hint):
            flash(FlashOptions(board="esp32", model=run, port="P", tool=tool, out=tmp_path / tool), echo=lambda s: None)


def test_emulated_board_is_run_by_sim_not_flashed(run, tmp_path):
    with pytest.raises(TinykdError, match="tinykd sim --board qemu-nano33ble"):
        flash(FlashOptions(board="qemu-nano33ble", model=run, port="P", out=tmp_path / "o", dry_run=True),
              echo=lambda s: None)
    assert not (tmp_path / "o").exists()


def test_firmware_label_limit_is_the_board_cores():
    import re

    from tinykd.emit.project import FIRMWARE_MAX_LABELS, core_dir

    header = (core_dir() / "tkd_board.h").read_text()
    assert int(re.search(r"#define TKD_MAX_LABELS (\d+)", header).group(1)) == FIRMWARE_MAX_LABELS


def test_port_choice():
    assert resolve_port("/dev/x", []) == "/dev/x"
    assert resolve_port(None, ["/dev/ttyUSB0"]) == "/dev/ttyUSB0"
    with pytest.raises(TinykdError, match="no serial port found.*--port"):
        resolve_port(None, [])
    with pytest.raises(TinykdError, match=r"several serial ports found \(/dev/a, /dev/b\); pass --port"):
        resolve_port(None, ["/dev/a", "/dev/b"])


def test_cli_errors_are_one_line(run, tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "tinykd.cli", *args], capture_output=True, text=True, cwd=REPO)

    p = cli("flash", "--board", "esp99", "--model", str(run), "--dry-run")
    from tinykd.boards import BOARDS

    assert p.returncode == 2 and p.stderr.strip() == f"error: unknown board 'esp99'; known boards: {', '.join(BOARDS)}"
    p = cli("flash", "--board", "esp32", "--model", str(tmp_path / "nope"), "--dry-run")
    assert p.returncode == 2 and "no such run folder" in p.stderr and "Traceback" not in p.stderr
    p = cli("boards")
    assert p.returncode == 0 and all(name in p.stdout for name in BOARDS)


def test_prebuilt_binary_goes_through_esptool(tmp_path, monkeypatch):
    from tinykd.device.flash import flash_binary

    image = tmp_path / "tinykd_fw.ino.merged.bin"
    image.write_bytes(b"\xe9" + bytes(4095))
    lines: list[str] = []
    cmd = flash_binary("esp32s3", image, "/dev/ttyACM3", dry_run=True, echo=lines.append)
    assert cmd[1:] == ["--chip", "esp32s3", "--port", "/dev/ttyACM3", "--baud", "921600", "write_flash", "0x0", str(image)]
    assert cmd[0] in ("esptool.py", "esptool") and " ".join(cmd) in "\n".join(lines)
    with pytest.raises(TinykdError, match="nano33ble is a nrf52840"):
        flash_binary("nano33ble", image, "P", dry_run=True, echo=lines.append)
    with pytest.raises(TinykdError, match="no such binary"):
        flash_binary("esp32", tmp_path / "missing.bin", "P", dry_run=True, echo=lines.append)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TinykdError, match=r"esptool not found on PATH: install esptool \(pip install esptool\)"):
        flash_binary("esp32", image, "P", echo=lines.append)
