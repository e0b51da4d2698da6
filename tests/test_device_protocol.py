"""The host codec alone: line parsing and its errors, escaping, frames."""

from __future__ import annotations

import numpy as np
import pytest

from tinykd.device import protocol as P


def test_escape_round_trips_any_label():
    for text in ["yes", "no, never", "a|b*c%d=e", "ümlaut ✓", " lead and trail ", "tab\there"]:
        esc = P.escape(text)
        assert all(c not in esc for c in ",|*= \t") and esc.isascii()
        assert P.unescape(esc) == text


def test_hello_and_result_lines_parse():
    hello = P.parse_line(P.checksum_line(
        "H,0,tinykd=1,fw=0.1.0,board=esp32,model=0123456789abcdef,sr=16000,n=16000,hop=8000,arena=65536,"
        "mode=stream,labels=a|b%2Cc") + "\r\n")
    assert hello.labels == ("a", "b,c") and hello.arena_bytes == 65536 and not hello.truncated
    r = P.parse_line(P.checksum_line("R,9,mic1500,b%2Cc,-1.250000,3.000000,fe_us=5,inf_us=70"))
    assert r == P.Result(9, "mic", 1500, "b,c", (-1.25, 3.0), 5, 70)


@pytest.mark.parametrize("body, message", [
    ("R,1,clip1,a,0.5,fe_us=1,inf_us=2", "fixed-point"),
    ("R,1,clipX,a,0.500000,fe_us=1,inf_us=2", "clip<N>"),
    ("R,1,clip1,a,0.500000,inf_us=2,fe_us=1,x=1", "lacks inf_us"),
    ("R,1,clip1,a,0.500000,fe_us,inf_us=2", "key=value"),
    ("Q,1,whatever", "unknown line kind"),
    ("A,x,1", "sequence number"),
    ("A,1", "ack line"),
    ("H,0,tinykd=1,fw=1", "hello line lacks"),
    ("N,1,2", "nak line"),
])
def test_malformed_lines_raise_protocol_errors(body, message):
    with pytest.raises(P.ProtocolError, match=message):
        P.parse_line(P.checksum_line(body))


def test_crc_and_trailer_are_required():
    good = P.checksum_line("A,1,2")
    with pytest.raises(P.ProtocolError, match="CRC mismatch"):
        P.parse_line(good.replace("A,1,2", "A,1,3"))
    with pytest.raises(P.ProtocolError, match="trailer"):
        P.parse_line("A,1,2")
    with pytest.raises(P.ProtocolError, match="non-ASCII"):
        P.parse_line(b"\xffA,1,2*00000000")


def test_frames_round_trip_and_reject_damage():
    pcm = np.arange(-5, 5, dtype=np.int16)
    raw = P.clip_frame(65535, 2**32 - 1, pcm)
    assert len(raw) == P.frame_bytes(len(pcm))
    f = P.decode_frame(raw)
    assert (f.frame_type, f.frame_id, f.clip_id) == (P.FRAME_CLIP, 65535, 2**32 - 1)
    assert np.array_equal(np.frombuffer(f.payload, "<i2"), pcm)
    for i in range(2, len(raw)):
        bad = bytearray(raw)
        bad[i] ^= 0x80
        with pytest.raises(P.ProtocolError):
            P.decode_frame(bytes(bad))
    with pytest.raises(P.ProtocolError, match="int16"):
        P.clip_frame(1, 1, pcm.astype(np.float32))
