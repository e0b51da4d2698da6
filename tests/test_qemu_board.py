"""The real firmware on an emulated Cortex-M4F (QEMU mps2-an386) with the real TFLM, over its UART pty.

Built with arm-none-eabi-g++ against the vendored TFLM trees (CMSIS-NN kernels; the reference kernels in
one test), linked with the Nano 33 BLE's budget (1 MB flash, 256 KB RAM), run under `-icount shift=0`:
- verify mode: scores bit-identical to the host's Python TFLM (tinykd's Signal-op front end + an int8
  body, as `tinykd quantize` makes them; a waveform int8 model, through `tinykd verify`'s verify_clips);
- stream mode: audio in AUDIO frames, every result window equal to the host's streaming computation;
- the instruction counter checked against a loop of known length, and the arena the board reports;
- a model too large for the board fails to link with one line naming the region and the bytes over;
- QEMU killed mid-run: no hang, the results so far are kept.
The first run compiles TFLM for Cortex-M4F (minutes of CPU, cached in TINYKD_CACHE for the next runs).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tinykd.device import protocol as P

from test_qemu_helpers import (SIGNAL_LABELS, require_arm_and_qemu, require_vendor, score_text, signal_pair,
                               waveform_dir)

pytestmark = pytest.mark.slow


def _requirements() -> None:
    require_vendor()
    require_arm_and_qemu()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    _requirements()
    return signal_pair(tmp_path_factory.mktemp("signal"))


@pytest.fixture(scope="module")
def pair_build(pair):
    from tinykd.device.qemu import build_firmware

    return build_firmware(pair[0], mode="verify")


@pytest.fixture(scope="module")
def wave(tmp_path_factory):
    _requirements()
    folder = waveform_dir(tmp_path_factory.mktemp("wave"), int8_io=True)
    return folder.parent  # the run folder (tinykd verify loads the model from it)


@pytest.fixture(scope="module")
def wave_build(wave):
    from tinykd.device.qemu import build_firmware

    return build_firmware(wave / "int8", mode="verify")


def _verify_raw(port: str, clips: dict[str, np.ndarray], timeout: float = 120.0) -> dict[str, tuple[str, P.Result]]:
    """Clips through the protocol by hand (tinykd verify knows only waveform models for now): name -> (raw, parsed)."""
    from tinykd.device.link import LineReader, open_port

    ser = open_port(port)
    reader = LineReader(ser, on_raw=lambda raw, parsed: raws.append(raw))
    raws: list[bytes] = []
    try:
        reader.write(P.encode_frame(P.FRAME_MODE, 1, 0, bytes([P.MODE_VERIFY])))
        out = {}
        for i, (name, pcm) in enumerate(clips.items()):
            reader.write(P.clip_frame(10 + i, i, pcm))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                line = reader.read_line(deadline - time.monotonic())
                if isinstance(line, P.Result) and line.ident == i:
                    out[name] = (raws[-1].decode().rstrip("\r\n"), line)
                    break
                assert not isinstance(line, (P.BoardError, P.Nak)), line
            assert name in out, f"no answer for {name}"
        return out
    finally:
        ser.close()


def test_signal_firmware_fits_the_board_and_reports_its_arena(pair, pair_build):
    s = pair_build.sizes
    assert pair_build.kind == "signal" and pair_build.kernels == "cmsis-nn"
    assert 0 < s.flash_bytes <= s.flash_budget == 1024 * 1024 and 0 < s.ram_bytes <= s.ram_budget == 256 * 1024
    # The parts add up to what is loaded, and name the model, TFLM, the Signal library and CMSIS-NN.
    assert sum(s.flash_by_part.values()) == pytest.approx(s.flash_bytes, abs=64)
    models = sum((pair_build.model_dir / f).stat().st_size for f in ("frontend.tflite", "model_int8.tflite"))
    assert s.flash_by_part["model data"] >= models
    for part in ("TFLM framework", "TFLM kernels", "TFLM Signal library", "CMSIS-NN", "tinykd core + TFLM glue"):
        assert s.flash_by_part.get(part, 0) > 0, part
    assert s.ram_by_part["tensor arena"] == int(
        next(line.split()[2] for line in (pair_build.model_dir / "model_data.h").read_text().splitlines()
             if line.startswith("#define TINYKD_ARENA_BYTES")))
    assert "AddWindow" in pair_build.ops and any(k.endswith("window.cc") for k in pair_build.kernel_sources)


def test_signal_board_verify_is_bit_identical_to_host_tflm(pair, pair_build):
    from tinykd.device.qemu import EmulatedBoard

    _, ref, clips = pair
    with EmulatedBoard(pair_build) as board:
        hello = board.hello
        assert (hello.board, hello.model_hash, hello.kind) == ("qemu-nano33ble", pair_build.model_hash, "signal")
        # The instruction counter: a loop of known length measured in timer ticks.
        ins, ticks, ns = (hello.extra_int(k) for k in ("cal_ins", "cal_ticks", "ns_per_tick"))
        assert ticks * ns == pytest.approx(ins, rel=1e-4)
        used, fe, body = (hello.extra_int(k) for k in ("arena_used", "arena_fe", "arena_body"))
        assert max(fe, body) < used < fe + body <= hello.arena_bytes  # both models in one shared arena
        answers = _verify_raw(board.port, clips)
    for name, pcm in clips.items():
        raw, result = answers[name]
        want = ref.clip(pcm)
        assert score_text(raw) == want.text, name
        assert result.extra["hops"] == 49 and result.extra["fe_ins"] > 0 and result.extra["inf_ins"] > 0
        assert result.label == SIGNAL_LABELS[int(np.argmax(want.raw))]


def test_tinykd_verify_cli_passes_against_the_emulated_signal_board(pair, pair_build, tmp_path, capsys):
    """`tinykd verify`, exactly as a user runs it against a board: a data folder of WAVs, the run folder, the port."""
    import json

    import soundfile as sf

    from tinykd.cli import main
    from tinykd.device.qemu import EmulatedBoard

    folder, _, clips = pair
    data = tmp_path / "data"
    for i, (name, pcm) in enumerate(clips.items()):
        label = SIGNAL_LABELS[i % len(SIGNAL_LABELS)]
        (data / label).mkdir(parents=True, exist_ok=True)
        sf.write(data / label / f"{name}.wav", pcm, 16000, subtype="PCM_16")
        if pcm.any():  # a quieter copy (of silence it would be the same file, which the data set deduplicates)
            sf.write(data / label / f"{name}-quiet.wav", (pcm // 4).astype(np.int16), 16000, subtype="PCM_16")
    report = tmp_path / "verify.json"
    with EmulatedBoard(pair_build) as board:
        code = main(["verify", "--port", board.port, "--model", str(folder.parent), "--data", str(data), "--split", "all",
                     "--report", str(report), "--timeout", "60"])
    out = capsys.readouterr().out
    assert code == 0, out[-2000:]
    rep = json.loads(report.read_text())
    assert rep["answered"] == rep["n_clips"] == 7 and rep["agreement"] == 1.0 and rep["score_parity"] == 1.0
    assert rep["board"]["board"] == "qemu-nano33ble" and rep["latency"]["inf_ins"]["mean"] > 0
    assert "emulated board (QEMU)" in rep["throughput"]["link"]


def test_signal_board_stream_equals_the_host_window_by_window(pair, pair_build):
    from tinykd.device.qemu import EmulatedBoard, stream_audio

    _, ref, clips = pair
    pcm = np.concatenate([clips["silence"], clips["voiced-a"]])
    with EmulatedBoard(pair_build) as board:
        run = stream_audio(board.port, pcm, chunk=1000)
    assert run.complete, run.error
    want = ref.stream(pcm, 1)
    assert len(run.results) == len(want) == run.expected_results
    got = [(r.extra["end"], tuple(f"{s:.6f}" for s in r.scores)) for r in run.results]
    assert [g[0] for g in got] == [w.end for w in want]
    assert [r.label for r in run.results] == [SIGNAL_LABELS[int(np.argmax(w.raw))] for w in want]
    np.testing.assert_array_equal(np.array([r.scores for r in run.results]), np.array([[float(t) for t in w.text] for w in want]))
    assert run.results[0].extra["hops"] == 49 and all(r.extra["hops"] == 1 for r in run.results[1:])


def test_reference_kernels_give_the_same_answers(pair):
    from tinykd.device.qemu import EmulatedBoard, build_firmware

    folder, ref, clips = pair
    build = build_firmware(folder, kernels="reference", mode="verify")
    assert build.kernels == "reference" and "CMSIS-NN" not in build.sizes.flash_by_part
    some = {k: clips[k] for k in ("voiced-a", "noise")}
    with EmulatedBoard(build) as board:
        assert board.hello.extra["kernels"] == "reference"
        answers = _verify_raw(board.port, some)
    for name, pcm in some.items():
        assert score_text(answers[name][0]) == ref.clip(pcm).text


def test_waveform_board_passes_tinykd_verify_unchanged_and_streams(wave, wave_build):
    from tinykd.device.model import load_device_model
    from tinykd.device.qemu import EmulatedBoard, stream_audio
    from tinykd.device.qemu.reference import WaveformReference
    from tinykd.device.verify import Clips, VerifyOptions, verify_clips

    model = load_device_model(wave)
    ref = WaveformReference(model.flatbuffer)
    rng = np.random.default_rng(9)
    pcm = (rng.standard_normal((4, model.input_samples)) * 6000).clip(-32768, 32767).astype(np.int16)
    with EmulatedBoard(wave_build) as board:
        report = verify_clips(board.port, model, Clips(pcm, np.full(4, -1), [f"clip{i}" for i in range(4)]),
                              VerifyOptions(answer_timeout=60))
        assert report.passed and report.answered == 4 and report.score_parity == 1.0, report.error
        run = stream_audio(board.port, pcm.reshape(-1))
    assert run.complete, run.error
    want = ref.stream(pcm.reshape(-1), board.hello.hop)
    assert [r.extra["end"] for r in run.results] == [w.end for w in want]
    np.testing.assert_array_equal(np.array([r.scores for r in run.results]), np.array([[float(t) for t in w.text] for w in want]))
    assert "fe_ins" not in run.results[0].extra and run.results[0].extra["inf_ins"] > 0


def test_model_too_large_for_the_board_fails_to_link_in_one_line(pair, pair_build, tmp_path):
    from tinykd.device.qemu import TARGETS, EmulatedTarget, FirmwareTooLarge, build_firmware

    big = signal_pair(tmp_path, arena_bytes=300 * 1024)[0]  # an arena of 300 KB: more than 256 KB of RAM
    arena = int(next(ln.split()[2] for ln in (big / "model_data.h").read_text().splitlines()
                     if ln.startswith("#define TINYKD_ARENA_BYTES")))
    with pytest.raises(FirmwareTooLarge) as err:
        build_firmware(big, mode="verify")
    text = str(err.value)
    assert "\n" not in text and "RAM (256 KB)" in text and "qemu-nano33ble" in text
    over = int(text.split(" by ")[1].split(" bytes")[0].replace(",", ""))
    ok = pair_build.sizes
    expected = ok.ram_bytes - ok.ram_by_part["tensor arena"] + arena - ok.ram_budget
    assert abs(over - expected) <= 16
    # Flash: the same firmware on a board with 128 KB of flash.
    small = EmulatedTarget(**{**TARGETS["qemu-nano33ble"].__dict__, "name": "tiny-flash", "flash_bytes": 128 * 1024})
    with pytest.raises(FirmwareTooLarge, match=r"overflows FLASH \(128 KB\) by [\d,]+ bytes"):
        build_firmware(pair[0], board=small, mode="verify")


def test_qemu_killed_mid_stream_keeps_the_results_and_does_not_hang(pair, pair_build):
    from tinykd.device.qemu import EmulatedBoard, stream_audio

    _, _, clips = pair
    pcm = np.concatenate([clips["voiced-a"]] * 4)
    with EmulatedBoard(pair_build) as board:
        def pull_the_plug(result: P.Result) -> None:
            if result.extra["end"] >= 480 + 52 * 320:  # the fourth window
                board.kill()

        t0 = time.monotonic()
        run = stream_audio(board.port, pcm, answer_timeout=20, on_result=pull_the_plug)
        elapsed = time.monotonic() - t0
        assert not board.alive
    assert not run.complete and "stopped working" in (run.error or "")
    assert 4 <= len(run.results) < run.expected_results
    assert elapsed < 60


# tinykd/device/link.py's LineReader.write catches SerialException and OSError, but pyserial's flush()
# raises termios.error when the pty vanishes during a write: then verify_clips ends in a traceback instead
# of a partial report (a fix for link.py, which this suite does not own). When the kill lands in a read,
# the answers are kept as they should be.
def test_qemu_killed_mid_verify_keeps_the_answers(wave, wave_build):
    from tinykd.device.model import load_device_model
    from tinykd.device.qemu import EmulatedBoard
    from tinykd.device.verify import Clips, VerifyOptions, verify_clips

    model = load_device_model(wave)
    rng = np.random.default_rng(2)
    pcm = (rng.standard_normal((60, model.input_samples)) * 6000).clip(-32768, 32767).astype(np.int16)
    clips = Clips(pcm, np.full(60, -1), [f"clip{i}" for i in range(60)])
    with EmulatedBoard(wave_build) as board:
        # How long one clip takes here, then a run killed after a few of them.
        t0 = time.monotonic()
        one = verify_clips(board.port, model, Clips(pcm[:2], clips.y[:2], clips.names[:2]), VerifyOptions())
        per_run = time.monotonic() - t0
        assert one.passed
        killer = threading.Timer(per_run * 2.5, board.kill)
        killer.start()
        t0 = time.monotonic()
        report = verify_clips(board.port, model, clips, VerifyOptions(answer_timeout=10))
        elapsed = time.monotonic() - t0
        killer.cancel()
    assert not report.complete and 1 <= report.answered < 60
    assert report.error and "kept" in report.error
    assert elapsed < per_run * 2.5 + 30


def test_cli_sim_board_prints_its_port_and_stops_on_interrupt(pair, pair_build, tmp_path):
    """`tinykd sim --board qemu-nano33ble` as a user runs it: builds (or reuses) the firmware, prints the port, and
    the board answers there; Ctrl-C stops QEMU."""
    import os
    import re
    import signal
    import subprocess
    import sys

    from tinykd.device.verify import Clips, VerifyOptions, verify_clips
    from tinykd.device.model import load_device_model

    folder, _, clips = pair
    # As at a terminal, Ctrl-C must reach Python: a shell without job control (`cmd &` in a script, as a CI runner
    # may start the suite) starts background commands with SIGINT ignored, Python then keeps it ignored, and the
    # CLI would run on to --duration (the cause of the failures seen at 60 s: QEMU, in its own session, never got it).
    as_at_a_terminal = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                        "runpy.run_module('tinykd.cli', run_name='__main__', alter_sys=True)")
    proc = subprocess.Popen([sys.executable, "-c", as_at_a_terminal, "sim", "--run", str(folder.parent), "--board",
                             "qemu-nano33ble", "--mode", "verify", "--duration", "300"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        port, seen = None, []
        deadline = time.monotonic() + 600
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            seen.append(line)
            m = re.search(r"emulated board on (/dev/pts/\d+)", line)
            port = m.group(1) if m else None
        assert port, "".join(seen)[-2000:]
        assert any(line.startswith("firmware ") and "flash" in line for line in seen)
        model = load_device_model(folder.parent)
        pcm = np.stack([clips["voiced-a"], clips["noise"]])
        report = verify_clips(port, model, Clips(pcm, np.full(2, -1), ["voiced-a", "noise"]), VerifyOptions(answer_timeout=60))
        assert report.passed and report.score_parity == 1.0, report.error
        os.killpg(proc.pid, signal.SIGINT)
        rest = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "emulated board stopped (qemu-nano33ble)" in rest and proc.returncode == 0
