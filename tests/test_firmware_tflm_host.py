"""The firmware application (board core + TFLM glue + emitted model) built for the host against the
vendored reference-kernel TFLM tree, against the Python TFLM interpreter (`tflite_micro`), bit for bit:

- signal kind (tinykd's Signal-op front end + an int8 body, converted and emitted by tinykd): every front-end frame of a verify
  clip, the body's raw output and the printed scores; stream mode through AUDIO frames, window by
  window, with the body every hop and every 3 hops, and a restarted stream;
- waveform kind (a small int8 model made by tests/device_support): raw outputs of verify clips and stream
  windows, with int8 and float input/output.

The first build compiles the TFLM framework and kernels (minutes of CPU); later ones reuse the object
cache (TINYKD_CACHE).
"""

from __future__ import annotations

import numpy as np
import pytest

from tinykd.device import protocol as P

from test_qemu_helpers import (SIGNAL_LABELS, audio_frames, read_dump, require_host_compiler, require_vendor, run_host,
                               score_text, signal_pair, waveform_dir)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    require_vendor()
    require_host_compiler()
    return signal_pair(tmp_path_factory.mktemp("signal"))


def _parse(lines: list[bytes]):
    return [P.parse_line(line) for line in lines]


def test_signal_verify_clips_are_bit_identical_to_python_tflm(pair, tmp_path):
    from tinykd.device.qemu.build import build_host_firmware

    folder, ref, clips = pair
    exe = build_host_firmware(folder, mode="verify")
    names = list(clips)
    stdin = b"".join(P.clip_frame(i + 1, 100 + i, clips[n]) for i, n in enumerate(names))
    lines = run_host(exe, stdin, tmp_path / "dump.bin")
    parsed = _parse(lines)
    hello = parsed[0]
    assert hello.kind == "signal" and hello.input_samples == 16000 and hello.hop == 320
    assert (hello.extra_int("win"), hello.extra_int("frames"), hello.extra_int("bins")) == (480, 49, 40)
    # One arena for both interpreters: it holds more than either alone and less than both side by side.
    used, fe_alone, body_alone = (hello.extra_int(k) for k in ("arena_used", "arena_fe", "arena_body"))
    assert max(fe_alone, body_alone) < used < fe_alone + body_alone <= hello.arena_bytes
    records = read_dump(tmp_path / "dump.bin")
    assert [t for t, _ in records] == (["F"] * 49 + ["B"]) * len(names)
    results = [(raw, line) for raw, line in zip(lines, parsed) if isinstance(line, P.Result)]
    assert [r.ident for _, r in results] == [100 + i for i in range(len(names))]
    for i, name in enumerate(names):
        block = records[i * 50 : (i + 1) * 50]
        want_features = ref.features(clips[name], 49)
        got_features = np.stack([np.frombuffer(b, np.int8) for _, b in block[:49]])
        np.testing.assert_array_equal(got_features, want_features)  # every frame, in order, state reset per clip
        answer = ref.clip(clips[name])
        assert np.frombuffer(block[49][1], np.int8).tolist() == answer.raw.tolist()
        raw, result = results[i]
        assert score_text(raw) == answer.text
        assert result.extra["hops"] == 49 and result.label == SIGNAL_LABELS[int(np.argmax(answer.raw))]


@pytest.mark.parametrize("every", [1, 3])
def test_signal_stream_windows_equal_the_host_streaming_computation(pair, every):
    from tinykd.device.qemu.build import build_host_firmware

    folder, ref, clips = pair
    exe = build_host_firmware(folder, mode="stream", body_every=every)
    pcm = np.concatenate([clips["noise"], clips["voiced-a"], clips["silence"], clips["voiced-b"]])
    second = np.concatenate([clips["voiced-a"], clips["voiced-b"][:6000]])
    stdin = audio_frames(pcm, [1280, 77, 640, 1000, 3]) + audio_frames(second, [1280], first_id=5000)
    lines = run_host(exe, stdin)
    parsed = _parse(lines)
    results = [(raw, r) for raw, r in zip(lines, parsed) if isinstance(r, P.Result)]
    want = ref.stream(pcm, every) + ref.stream(second, every)
    assert len(results) == len(want) and len(want) > 10
    for (raw, got), exp in zip(results, want):
        assert (got.source, got.extra["end"], score_text(raw)) == ("mic", exp.end, exp.text)
    first_of_second = len(ref.stream(pcm, every))
    assert results[0][1].extra["hops"] == 49 and results[1][1].extra["hops"] == every
    assert results[first_of_second][1].extra["hops"] == 49  # the START flag restarted the features
    assert not any(isinstance(r, (P.Nak, P.BoardError)) for r in parsed)


@pytest.mark.parametrize("int8_io", [True, False], ids=["int8-io", "float-io"])
def test_waveform_model_is_bit_identical_to_python_tflm(tmp_path_factory, tmp_path, int8_io):
    require_vendor()
    require_host_compiler()
    from tinykd.device.qemu.build import build_host_firmware
    from tinykd.device.qemu.reference import WaveformReference

    folder = waveform_dir(tmp_path_factory.mktemp("wave"), int8_io)
    ref = WaveformReference((folder / "model_int8.tflite").read_bytes())
    rng = np.random.default_rng(5)
    clips = (rng.standard_normal((3, ref.window)) * 6000).clip(-32768, 32767).astype(np.int16)
    exe = build_host_firmware(folder, mode="verify")
    lines = run_host(exe, b"".join(P.clip_frame(i + 1, i, c) for i, c in enumerate(clips)), tmp_path / "dump.bin")
    records = read_dump(tmp_path / "dump.bin")
    assert [t for t, _ in records] == ["W"] * 3
    results = [raw for raw in lines if raw.startswith(b"R,")]
    for clip, (_, raw_out), line in zip(clips, records, results):
        answer = ref.clip(clip)
        assert raw_out == answer.raw.tobytes()  # the output tensor, byte for byte
        assert score_text(line) == answer.text
    # Stream mode through AUDIO frames: every window (hop = half a window) as the host computes it.
    hop = ref.window // 2
    stream_exe = build_host_firmware(folder, mode="stream", hop_samples=hop)
    pcm = clips.reshape(-1)
    lines = run_host(stream_exe, audio_frames(pcm, [hop + 1, 700]), tmp_path / "stream.bin")
    want = ref.stream(pcm, hop)
    got = [raw for raw in lines if raw.startswith(b"R,")]
    assert len(got) == len(want) == 5
    assert [raw for _, raw in read_dump(tmp_path / "stream.bin")] == [a.raw.tobytes() for a in want]
    assert [P.parse_line(raw).extra["end"] for raw in got] == [a.end for a in want]
