"""monitor and verify against the virtual board (`tinykd sim`, the firmware's C core + TFLM) through
pyserial on a pseudo-terminal, clean and with every fault: boot garbage, corrupted and dropped lines,
corrupted frames, a reset mid-run, a slow board, a silent board, a busy or wrong port, another model,
and a board unplugged mid-run. Every read has a timeout: a hang fails the test through its own timer."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import serial

from device_support import DIGITS, QUIET_TF, REPO, VirtualBoard, cached_run
from tinykd.device.model import load_device_model
from tinykd.device.monitor import monitor
from tinykd.device.audio import load_audio
from tinykd.device.sim import parse_faults
from tinykd.device.verify import Clips, VerifyOptions, verify_clips
from tinykd.errors import TinykdError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return cached_run(tmp_path_factory.mktemp("sim"), DIGITS)


@pytest.fixture(scope="module")
def other_run(tmp_path_factory):
    return cached_run(tmp_path_factory.mktemp("sim_other"), DIGITS, seed=1, emit=False)


@pytest.fixture(scope="module")
def model(run):
    return load_device_model(run)


@pytest.fixture(scope="module")
def clips(model):
    rng = np.random.default_rng(0)
    n = 10
    t = np.arange(model.input_samples) / model.sample_rate
    # Tones of different pitch plus noise, so the answers differ from clip to clip.
    x = np.stack([0.4 * np.sin(2 * np.pi * (200 + 150 * i) * t) + 0.05 * rng.standard_normal(len(t)) for i in range(n)])
    pcm = np.clip(np.rint(x * 32767), -32768, 32767).astype(np.int16)
    return Clips(pcm, np.full(n, -1), [f"tone{i}" for i in range(n)])


def test_verify_clean_run_agrees_exactly(run, model, clips, tmp_path):
    report_path = tmp_path / "verify.json"
    with VirtualBoard(run, "--mode", "verify") as vb:
        rep = verify_clips(vb.port, model, clips, VerifyOptions(), report_path)
    assert rep.passed and rep.complete and rep.error is None
    assert rep.answered == len(clips.pcm) and rep.agreement == 1.0 and rep.score_parity == 1.0
    assert rep.max_score_diff <= 1.5e-6
    assert rep.link["resends"] == 0 and rep.link["bad_lines"] == 0
    assert rep.board["input_samples"] == model.input_samples and rep.board["arena_bytes"] == model.arena_bytes
    assert rep.latency["inf_us"]["mean"] > 0 and rep.throughput["bytes_per_clip"] == 18 + 2 * model.input_samples
    saved = json.loads(report_path.read_text())
    assert saved["answered"] == len(clips.pcm) and saved["passed"] is True


def test_int8_input_and_output_model_agrees_exactly(tmp_path_factory, clips):
    """int8 in/out: the board quantizes PCM and dequantizes scores in C (tkd_pcm.cpp), the host in numpy."""
    run8 = cached_run(tmp_path_factory.mktemp("sim_int8"), DIGITS, emit=False, int8_io=True)
    m8 = load_device_model(run8)
    assert m8.interpreter().get_input_details(0)["dtype"] == np.int8
    with VirtualBoard(run8, "--mode", "verify") as vb:
        rep = verify_clips(vb.port, m8, clips)
    assert rep.passed and rep.agreement == 1.0 and rep.score_parity == 1.0


def test_verify_survives_garbage_corruption_drops_and_a_reset(run, model, clips):
    faults = ["garbage", "corrupt-frame@2", "drop-line@3", "corrupt-line@5", "reset@7"]
    with VirtualBoard(run, *[a for f in faults for a in ("--fault", f)]) as vb:  # boots in stream mode
        rep = verify_clips(vb.port, model, clips, VerifyOptions(answer_timeout=1.0))
    assert rep.passed and rep.answered == len(clips.pcm) and rep.agreement == 1.0 and rep.score_parity == 1.0
    link = rep.link
    assert link["naks"] >= 1  # the corrupted frame
    assert link["resets"] == 1  # noticed, verify mode set again, clip resent
    assert link["resends"] >= 3  # NAK, dropped answer, corrupted answer (and the reset)
    assert link["bad_lines"] >= 3  # corrupted line + boot noise after the reset


def test_wrong_answers_are_listed_and_fail_the_threshold(run, model, clips):
    with VirtualBoard(run, "--mode", "verify", "--fault", "skew@3") as vb:
        rep = verify_clips(vb.port, model, clips, VerifyOptions(min_agreement=0.9))
    assert rep.complete and rep.answered == 10 and not rep.passed
    assert rep.agreement == pytest.approx(0.7) and rep.score_parity == pytest.approx(0.7)
    assert [m["clip"] for m in rep.mismatches] == [2, 5, 8]  # the 3rd, 6th and 9th inference
    assert all(m["board"] != m["host"] and m["max_score_diff"] > 0 for m in rep.mismatches)
    with VirtualBoard(run, "--mode", "verify", "--fault", "skew@3") as vb:
        assert verify_clips(vb.port, model, clips, VerifyOptions(min_agreement=0.7)).passed


def test_slow_board_within_timeout_passes(run, model, clips):
    with VirtualBoard(run, "--mode", "verify", "--fault", "slow@300") as vb:
        rep = verify_clips(vb.port, model, Clips(clips.pcm[:3], clips.y[:3], clips.names[:3]),
                           VerifyOptions(answer_timeout=2.0))
    assert rep.passed and rep.latency["round_trip_ms"]["min"] >= 300


def test_board_slower_than_timeout_stops_without_hanging(run, model, clips):
    with VirtualBoard(run, "--mode", "verify", "--fault", "slow@2500") as vb:
        t0 = time.monotonic()
        rep = verify_clips(vb.port, model, clips, VerifyOptions(answer_timeout=0.3, retries=1, max_failed_in_a_row=2))
        elapsed = time.monotonic() - t0
    assert not rep.passed and not rep.complete and "stopped answering" in rep.error
    assert rep.failures and "no answer within 0.3 s" in rep.failures[0]["why"]
    assert elapsed < 15


def test_another_model_on_the_board_is_named(run, other_run, model, clips):
    other = load_device_model(other_run)
    with VirtualBoard(other_run, "--mode", "verify") as vb:
        with pytest.raises(TinykdError) as exc:
            verify_clips(vb.port, model, clips)
    msg = str(exc.value)
    assert f"runs model {other.hash}" in msg and model.hash in msg and "\n" not in msg


def test_silent_board(run, model, clips):
    with VirtualBoard(run, "--fault", "silent") as vb:
        t0 = time.monotonic()
        with pytest.raises(TinykdError, match="silent: no valid hello in 1 s"):
            verify_clips(vb.port, model, clips, VerifyOptions(hello_timeout=0.5))
        assert time.monotonic() - t0 < 5


def test_wrong_and_busy_port(run, model, clips):
    with pytest.raises(TinykdError, match="port /dev/pts/99999 does not exist; serial ports found"):
        verify_clips("/dev/pts/99999", model, clips)
    with VirtualBoard(run, "--mode", "verify") as vb:
        holder = serial.Serial(vb.port, 921600, timeout=0.1, exclusive=True)
        try:
            with pytest.raises(TinykdError, match=f"port {vb.port} is busy"):
                verify_clips(vb.port, model, clips)
            with pytest.raises(TinykdError, match="busy"):
                monitor(vb.port, duration=1)
        finally:
            holder.close()


def test_unplugged_mid_verify_keeps_the_answers_so_far(run, model, clips, tmp_path):
    report_path = tmp_path / "partial.json"
    with VirtualBoard(run, "--mode", "verify", "--fault", "slow@150") as vb:
        result = {}
        th = threading.Thread(target=lambda: result.update(
            rep=verify_clips(vb.port, model, clips, VerifyOptions(answer_timeout=2.0), report_path)))
        th.start()
        time.sleep(0.8)  # the handshake and a few clips
        while vb.proc.poll() is None and not report_path.exists():
            time.sleep(0.1)
            if th.is_alive():
                vb.kill()
        th.join(20)
    assert not th.is_alive(), "verify hung after the board disappeared"
    rep = result["rep"]
    assert not rep.complete and not rep.passed
    assert "unplugged" in rep.error and "clips answered; they are kept" in rep.error
    assert 0 < rep.answered < len(clips.pcm)
    saved = json.loads(report_path.read_text())
    assert saved["answered"] == rep.answered and saved["complete"] is False


def test_monitor_counts_noise_drops_and_a_reset(run, tmp_path):
    log = tmp_path / "monitor.log"
    with VirtualBoard(run, "--speed", "4", "--fault", "garbage", "--fault", "drop-line@2", "--fault",
                      "corrupt-line@4", "--fault", "reset@5") as vb:
        events = []
        state = monitor(vb.port, log=log, duration=30, max_results=8, on_update=lambda s, e: events.append(e))
    assert state.results == 8 and state.resets == 1 and "reset" in events
    assert state.dropped == 1  # drop-line@2: a gap in the sequence numbers
    assert state.bad_lines >= 5  # boot noise (2 lines) at open and after the reset, plus the corrupted line
    assert state.hello is not None and state.hello.labels == DIGITS
    assert 0.0 < max(state.last.scores) or min(state.last.scores) < 0.0  # real scores, not a placeholder
    lines = log.read_text().splitlines()
    assert sum("\tok\t" in ln for ln in lines) >= 10 and sum("\tbad\t" in ln for ln in lines) == state.bad_lines


def test_monitor_reconnects_when_the_port_comes_back(run, tmp_path):
    """A board unplugged and plugged back in: the port path (here a symlink, like /dev/serial/by-id/...)
    disappears, then names a new device."""
    link = tmp_path / "board"
    first = VirtualBoard(run)  # real time: 4 results/s
    link.symlink_to(first.port)
    out = {}
    th = threading.Thread(target=lambda: out.update(state=monitor(str(link), duration=30, max_results=12,
                                                                  reconnect_timeout=20)))
    th.start()
    time.sleep(1.5)
    first.kill()
    link.unlink()
    with VirtualBoard(run, "--speed", "4") as second:
        link.symlink_to(second.port)
        th.join(40)
    assert not th.is_alive()
    state = out["state"]
    assert state.reconnects == 1 and state.results == 12 and state.hello is not None
    assert state.resets == 1  # the second board's hello


def test_monitor_gives_up_cleanly_when_the_board_vanishes(run):
    with VirtualBoard(run, "--speed", "4") as vb:
        err = {}

        def watch():
            try:
                monitor(vb.port, duration=30, reconnect_timeout=1.0)
            except TinykdError as exc:
                err["exc"] = exc

        th = threading.Thread(target=watch)
        th.start()
        time.sleep(2.5)
        vb.kill()
        th.join(15)
    assert not th.is_alive()
    exc = err["exc"]
    assert "disappeared and did not come back within 1 s" in str(exc) and exc.state.results > 0


def test_sim_plays_a_wav_as_its_microphone(run, model, tmp_path):
    import soundfile as sf

    t = np.arange(3 * model.sample_rate) / model.sample_rate
    wav = tmp_path / "mic.wav"
    sf.write(wav, (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16), model.sample_rate, subtype="PCM_16")
    with VirtualBoard(run, "--audio", str(wav), "--speed", "4") as vb:
        state = monitor(vb.port, duration=20, max_results=3)
    assert state.results == 3 and state.dropped == 0
    # Another rate is resampled like every other command does (tinykd.data.audio): 1 s at 16 kHz -> 1 s at 8 kHz.
    t16 = np.arange(16000) / 16000
    sf.write(tmp_path / "fast.wav", (0.5 * np.sin(2 * np.pi * 440 * t16) * 32767).astype(np.int16), 16000,
             subtype="PCM_16")
    played = load_audio(tmp_path / "fast.wav", model.sample_rate)
    assert played.dtype == np.int16 and len(played) == model.sample_rate
    spectrum = np.abs(np.fft.rfft(played.astype(np.float64)))
    assert abs(np.argmax(spectrum) * model.sample_rate / len(played) - 440) <= 1
    # A zero-length WAV is one line, not a traceback.
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.int16), 8000, subtype="PCM_16")
    p = subprocess.run([sys.executable, "-m", "tinykd.cli", "sim", "--run", str(run), "--audio", str(tmp_path / "empty.wav")],
                       capture_output=True, text=True, cwd=REPO, timeout=60, env=dict(__import__("os").environ, **QUIET_TF))
    assert p.returncode == 2 and "zero-length audio" in p.stderr and "Traceback" not in p.stderr


def test_stream_mode_windows_match_the_host_on_the_same_audio(run, model, tmp_path):
    """Ring buffer + sliding windows end to end: result `mic<ms>` is the window ending at that time;
    the host runs TFLM on exactly those samples of the played file and must get the same scores."""
    import soundfile as sf

    from tinykd.device.model import HostReference

    rng = np.random.default_rng(3)
    n, sr, hop = model.input_samples, model.sample_rate, 1000
    audio = np.clip(rng.standard_normal(6 * sr) * 6000, -32768, 32767).astype(np.int16)
    wav = tmp_path / "mic.wav"
    sf.write(wav, audio, sr, subtype="PCM_16")
    with VirtualBoard(run, "--audio", str(wav), "--hop", str(hop), "--speed", "2") as vb:
        results = []
        monitor(vb.port, duration=30, max_results=8,
                on_update=lambda s, e: results.append(s.last) if e == "result" else None)
    ref = HostReference(model)
    assert len(results) == 8
    for r in results:
        end = r.ident * sr // 1000
        assert (end - n) % hop == 0 and end <= len(audio)
        host = ref.scores(audio[end - n:end])
        assert np.max(np.abs(np.asarray(r.scores) - host)) <= 1.5e-6
        assert r.label == model.labels[int(np.argmax(host))]
    starts = [r.ident * sr // 1000 - n for r in results]
    assert starts == list(range(0, 8 * hop, hop))  # every hop, none skipped


def test_unknown_fault_is_one_line():
    assert parse_faults(["reset@5,garbage"]) == {"reset": 5, "garbage": 96}
    with pytest.raises(TinykdError, match="unknown fault 'melt'"):
        parse_faults(["melt"])
    with pytest.raises(TinykdError, match="non-negative integer"):
        parse_faults(["reset@x"])


@pytest.mark.fsdd
def test_cli_verify_and_monitor_on_fsdd(run, other_run, fsdd_root, tmp_path):
    env = dict(__import__("os").environ, **QUIET_TF)

    def cli(*args, timeout=120):
        return subprocess.run([sys.executable, "-m", "tinykd.cli", *args], capture_output=True, text=True, cwd=REPO,
                              env=env, timeout=timeout)

    report = tmp_path / "v.json"
    with VirtualBoard(run, "--mode", "verify") as vb:
        p = cli("verify", "--port", vb.port, "--model", str(run), "--data", str(fsdd_root), "--limit", "12",
                "--report", str(report))
        assert p.returncode == 0, p.stdout + p.stderr
        assert "PASS" in p.stdout and "100.00%" in p.stdout
        rep = json.loads(report.read_text())
        assert rep["answered"] == 12 and rep["board_accuracy"] == rep["host_accuracy"]
        p = cli("monitor", "--port", vb.port, "--count", "1", "--duration", "3", "--plain")
        assert p.returncode == 0 and "hello: sim" in p.stdout
    with VirtualBoard(run, "--mode", "verify", "--fault", "skew@2") as vb:
        p = cli("verify", "--port", vb.port, "--model", str(run), "--data", str(fsdd_root), "--limit", "4",
                "--report", str(report))
        assert p.returncode == 1 and "FAIL" in p.stdout and "mismatch clip 1" in p.stdout
    with VirtualBoard(other_run, "--mode", "verify") as vb:
        p = cli("verify", "--port", vb.port, "--model", str(run), "--data", str(fsdd_root), "--limit", "2")
        assert p.returncode == 2 and p.stderr.startswith("error: board on") and len(p.stderr.strip().splitlines()) == 1
