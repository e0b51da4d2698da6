"""The C codec (firmware core) and the Python codec (tinykd.device.protocol) against each other:
lines and frames made by the C code are decoded in Python, frames made in Python are parsed by the C
parser, and the C library the virtual board loads agrees with numpy on PCM scaling."""

from __future__ import annotations

import json
import subprocess
import zlib

import numpy as np
import pytest

from tinykd.device import protocol as P
from tinykd.tflite.io import dequantize, float_to_pcm, pcm_to_input

from device_support import core_test_binary_path


@pytest.fixture(scope="module")
def core_test_binary(tmp_path_factory):
    return core_test_binary_path(tmp_path_factory.mktemp("fwcore"))


@pytest.fixture(scope="module")
def golden(core_test_binary, tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("golden") / "golden.json"
    subprocess.run([str(core_test_binary), "golden", str(path)], check=True, timeout=60)
    return json.loads(path.read_text())


def test_c_lines_decode_in_python(golden):
    lines = [P.parse_line(text) for text in golden["lines"]]
    hello, ack, result, nak, ack2, err = lines
    assert isinstance(hello, P.Hello) and hello.labels == ("yes", "no, never", "up")
    assert (hello.protocol, hello.sample_rate, hello.input_samples, hello.hop, hello.arena_bytes, hello.mode) == (
        P.PROTOCOL_VERSION, 8000, 8, 4, 4096, "verify")
    assert ack == P.Ack(1, 65535)
    assert result == P.Result(2, "clip", 4000000000, "yes", (-1.0, -2.0, -3.0), 11, 222)
    assert nak == P.Nak(3, 1, "len") and ack2 == P.Ack(4, 2)
    assert err == P.BoardError(5, "infer", "invoke failed on clip")
    # The Python side writes the same bytes for the same body (one CRC, one escaping rule).
    body = golden["lines"][0].rsplit("*", 1)[0]
    assert P.checksum_line(body) == golden["lines"][0]
    assert P.escape("no, never") == "no%2C%20never"


def test_c_signal_board_lines_decode_in_python(golden):
    """The fields added for the two-model kind (hello: kind, win, frames, bins, every, audio, arena_*;
    results: hops, fe_ins, inf_ins, end) parse, and the version-1 fields keep their meaning."""
    lines = [P.parse_line(text) for text in golden["signal_lines"]]
    hello, ack_clip, clip, ack_mode, ack_a1, ack_a2, mic1, mic2 = lines
    assert isinstance(hello, P.Hello) and hello.kind == "signal" and hello.mode == "verify"
    assert (hello.input_samples, hello.hop, hello.labels) == (16, 4, ("yes", "no, never", "up"))
    assert {k: hello.extra_int(k) for k in ("win", "frames", "bins", "every", "audio", "arena_used", "arena_fe",
                                            "arena_body")} == {"win": 6, "frames": 3, "bins": 2, "every": 1,
                                                               "audio": 9, "arena_used": 3000, "arena_fe": 1000,
                                                               "arena_body": 2500}
    assert hello.extra["clock"] == "fake"
    assert clip == P.Result(2, "clip", 42, "no, never", (0.0, 2.0, 0.0), 21, 300,
                            {"hops": 3, "fe_ins": 3000, "inf_ins": 50000})
    assert [a.frame_id for a in (ack_clip, ack_mode, ack_a1, ack_a2)] == [1, 2, 3, 4]
    assert (mic1.source, mic1.ident, mic1.extra["end"], mic1.extra["hops"]) == ("mic", 3, 14, 3)
    assert (mic2.extra["end"], mic2.extra["hops"], mic2.fe_us) == (18, 1, 7)
    # A waveform board's hello says nothing about kind: it reads as waveform.
    assert P.parse_line(golden["lines"][0]).kind == "waveform"


def test_result_lines_of_the_first_protocol_version_still_parse():
    line = P.checksum_line("R,3,mic250,up,0.100000,-0.200000,fe_us=5,inf_us=9")
    assert P.parse_line(line) == P.Result(3, "mic", 250, "up", (0.1, -0.2), 5, 9)
    with pytest.raises(P.ProtocolError, match="scores"):
        P.parse_line(P.checksum_line("R,3,mic250,up,fe_us=5,inf_us=9,end=3"))
    with pytest.raises(P.ProtocolError, match="key=value"):
        P.parse_line(P.checksum_line("R,3,mic250,up,0.100000,fe_us=5,inf_us=9,0.3"))


def test_c_lines_with_a_flipped_bit_are_rejected(golden):
    for text in golden["lines"] + golden["signal_lines"]:
        for i in range(len(text) - 9):  # every character of the body
            bad = text[:i] + chr(ord(text[i]) ^ 0x01) + text[i + 1:]
            with pytest.raises(P.ProtocolError):
                P.parse_line(bad)


def test_c_frames_decode_in_python_and_python_encodes_the_same_bytes(golden):
    for f in golden["frames"]:
        raw = bytes.fromhex(f["bytes"])
        frame = P.decode_frame(raw)
        assert (frame.frame_type, frame.frame_id, frame.clip_id, frame.payload.hex()) == (
            f["type"], f["frame_id"], f["clip_id"], f["payload"])
        assert P.encode_frame(f["type"], f["frame_id"], f["clip_id"], bytes.fromhex(f["payload"]), f["flags"]) == raw
    audio = next(f for f in golden["frames"] if f["type"] == P.FRAME_AUDIO)
    pcm = np.frombuffer(bytes.fromhex(audio["payload"]), "<i2").astype(np.int16)
    assert P.audio_frame(audio["frame_id"], audio["clip_id"], pcm, start=True).hex() == audio["bytes"]


def test_python_frames_parse_in_c(core_test_binary):
    rng = np.random.default_rng(0)
    pcm = rng.integers(-32768, 32767, 300, dtype=np.int16)
    good = P.clip_frame(513, 70000, pcm)
    bad = bytearray(P.clip_frame(514, 1, pcm))
    bad[100] ^= 0x04
    stream = b"\x00\xa5garbage" + good + P.encode_frame(P.FRAME_HELLO, 7) + bytes(bad)
    out = subprocess.run([str(core_test_binary), "parse", stream.hex()], capture_output=True, text=True,
                         check=True, timeout=60).stdout.splitlines()
    assert out[0] == f"1 1 513 70000 {pcm.astype('<i2').tobytes().hex()}"
    assert out[1] == "1 2 7 0 "
    assert out[2].startswith("2 1 514 1")  # CRC error, with the frame id for the NAK
    assert len(out) == 3


def test_native_library_matches_numpy_and_zlib():
    from tinykd.device.native import load_core

    lib = load_core()
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert lib.tkd_crc32(data, len(data)) == zlib.crc32(data)
    pcm = np.concatenate([rng.integers(-32768, 32768, 5000).astype(np.int16),
                          np.array([-32768, -1, 0, 1, 32767, 128, -128, 384], dtype=np.int16)])
    out = np.zeros(len(pcm), np.float32)
    lib.tkd_pcm_to_float(pcm.ctypes.data, len(pcm), out.ctypes.data)
    f32 = {"dtype": np.float32, "quantization_parameters": {"scales": np.array([]), "zero_points": np.array([])}}
    np.testing.assert_array_equal(out, pcm_to_input(pcm, f32))
    for scale, zp in ((1 / 128, 0), (0.00390625, -3), (0.0123, 7), (1 / 256, 10)):
        q = np.zeros(len(pcm), np.int8)
        lib.tkd_pcm_to_int8(pcm.ctypes.data, len(pcm), scale, zp, q.ctypes.data)
        i8 = {"dtype": np.int8, "quantization_parameters": {"scales": np.array([scale], np.float32),
                                                              "zero_points": np.array([zp])}}
        np.testing.assert_array_equal(q, pcm_to_input(pcm, i8))
        raw = rng.integers(-128, 128, 10).astype(np.int8)
        deq = np.zeros(10, np.float32)
        lib.tkd_dequantize_int8(raw.ctypes.data, 10, scale, zp, deq.ctypes.data)
        np.testing.assert_array_equal(deq, dequantize(raw, i8))


def test_float_to_pcm_round_trips_16_bit_audio():
    pcm = np.arange(-32768, 32768, 7, dtype=np.int16)
    assert np.array_equal(float_to_pcm(pcm.astype(np.float32) / 32768.0), pcm)
    assert float_to_pcm(np.array([1.5, -2.0])).tolist() == [32767, -32768]
