"""Host side of the tinykd serial protocol (version 1, docs/protocol.md).

Board -> host: text lines `<kind>,<seq>,...*<CRC-32 hex>\\r\\n`; host -> board: binary upload frames.
The board side is C (`firmware/tinykd_fw/src/core/`); the two are tested against each other with
golden vectors (tests/test_firmware_golden.py).
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from tinykd.boards import DEFAULT_BAUD  # noqa: F401  (re-exported: the host tools' default)
from tinykd.errors import TinykdError

PROTOCOL_VERSION = 1

FRAME_MAGIC = b"\xa5\x5a"
FRAME_HEADER = struct.Struct("<2sBBHII")  # magic, type, flags, frame_id, clip_id, payload_len
FRAME_CLIP, FRAME_HELLO, FRAME_MODE, FRAME_AUDIO = 1, 2, 3, 4
AUDIO_FLAG_START = 0x01  # AUDIO frame: sample 0 of a new stream (ring, features, front-end state cleared)
MODE_STREAM, MODE_VERIFY = 0, 1
LINE_KINDS = "HRANE"


class ProtocolError(TinykdError):
    """A line or frame that does not follow the protocol."""


# -- frames (host -> board) --------------------------------------------------------------------


def encode_frame(frame_type: int, frame_id: int, clip_id: int = 0, payload: bytes = b"", flags: int = 0) -> bytes:
    body = FRAME_HEADER.pack(FRAME_MAGIC, frame_type, flags & 0xFF, frame_id & 0xFFFF, clip_id & 0xFFFFFFFF,
                             len(payload))
    body += payload
    return body + struct.pack("<I", zlib.crc32(body[2:]))


def clip_frame(frame_id: int, clip_id: int, pcm: np.ndarray) -> bytes:
    """A CLIP frame carrying int16 PCM (little-endian on the wire)."""
    pcm = np.asarray(pcm)
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise ProtocolError(f"clip {clip_id}: PCM must be a 1-D int16 array, got {pcm.dtype} {pcm.shape}")
    return encode_frame(FRAME_CLIP, frame_id, clip_id, pcm.astype("<i2").tobytes())


def audio_frame(frame_id: int, first_sample: int, pcm: np.ndarray, start: bool = False) -> bytes:
    """An AUDIO frame (stream mode, in place of the microphone): int16 PCM whose first sample is number
    `first_sample` of the stream; `start` begins a new stream (first_sample must then be 0)."""
    pcm = np.asarray(pcm)
    if pcm.dtype != np.int16 or pcm.ndim != 1 or len(pcm) == 0:
        raise ProtocolError(f"audio at sample {first_sample}: PCM must be a non-empty 1-D int16 array, got {pcm.dtype} {pcm.shape}")
    return encode_frame(FRAME_AUDIO, frame_id, first_sample, pcm.astype("<i2").tobytes(),
                        AUDIO_FLAG_START if start else 0)


def frame_bytes(n_samples: int) -> int:
    """Bytes on the wire for one clip frame of n_samples."""
    return FRAME_HEADER.size + 2 * n_samples + 4


@dataclass(frozen=True)
class Frame:
    frame_type: int
    frame_id: int
    clip_id: int
    payload: bytes


def decode_frame(data: bytes) -> Frame:
    """Decode exactly one frame (used to check the C encoder; the board is the real decoder)."""
    if len(data) < FRAME_HEADER.size + 4:
        raise ProtocolError(f"frame of {len(data)} bytes is shorter than header + CRC")
    magic, ftype, _flags, fid, cid, n = FRAME_HEADER.unpack_from(data)
    if magic != FRAME_MAGIC:
        raise ProtocolError(f"bad frame magic {magic.hex()}")
    if len(data) != FRAME_HEADER.size + n + 4:
        raise ProtocolError(f"frame announces {n} payload bytes but has {len(data) - FRAME_HEADER.size - 4}")
    (crc,) = struct.unpack_from("<I", data, FRAME_HEADER.size + n)
    if crc != zlib.crc32(data[2 : FRAME_HEADER.size + n]):
        raise ProtocolError("frame CRC mismatch")
    return Frame(ftype, fid, cid, data[FRAME_HEADER.size : FRAME_HEADER.size + n])


# -- lines (board -> host) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    seq: int
    protocol: int
    firmware: str
    board: str
    model_hash: str
    sample_rate: int
    input_samples: int
    hop: int
    arena_bytes: int
    mode: str
    labels: tuple[str, ...]
    truncated: bool = False
    # Fields added after version 1 shipped (kind, win, frames, bins, every, audio, arena_used, arena_fe,
    # arena_body, and board-specific ones): key -> raw text. A board that does not send them has none.
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """"waveform" (one model on raw PCM) or "signal" (per-hop front end + body)."""
        return self.extra.get("kind", "waveform")

    def extra_int(self, key: str, default: int = 0) -> int:
        value = self.extra.get(key)
        return _int(value, key) if value is not None else default


@dataclass(frozen=True)
class Result:
    seq: int
    source: str  # "clip" (verify) or "mic" (stream)
    ident: int  # clip id, or the window's end time in ms since boot for "mic"
    label: str
    scores: tuple[float, ...]
    fe_us: int
    inf_us: int
    # Fields added after version 1 shipped: hops (signal kind: front-end runs counted in fe_us),
    # fe_ins / inf_ins (instructions, emulated board), end (stream: the window's last sample + 1).
    extra: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Ack:
    seq: int
    frame_id: int


@dataclass(frozen=True)
class Nak:
    seq: int
    frame_id: int
    reason: str


@dataclass(frozen=True)
class BoardError:
    seq: int
    code: str
    detail: str


Line = Hello | Result | Ack | Nak | BoardError

_TRAILER = re.compile(r"\*([0-9A-F]{8})$")
_ESC = re.compile(r"%([0-9A-F]{2})")
_SAFE = re.compile(r"[!-~]")


def escape(text: str) -> str:
    """Escape a text field as the C line writer does (%XX outside printable ASCII and , | * % =)."""
    out = []
    for b in text.encode("utf-8"):
        c = chr(b)
        out.append(c if _SAFE.fullmatch(c) and c not in ",|*%=" else f"%{b:02X}")
    return "".join(out)


def unescape(text: str) -> str:
    return _ESC.sub(lambda m: chr(int(m.group(1), 16)), text).encode("latin-1").decode("utf-8", "replace")


def checksum_line(body: str) -> str:
    """`body*CRC` (no line ending): what the board writes for `body`."""
    return f"{body}*{zlib.crc32(body.encode('ascii')):08X}"


def _int(v: str, what: str) -> int:
    if not re.fullmatch(r"-?\d+", v):
        raise ProtocolError(f"{what} is not an integer: {v!r}")
    return int(v)


def _score(v: str) -> float:
    if v in ("nan", "inf", "-inf"):
        return float(v)
    if not re.fullmatch(r"-?\d+\.\d{6}", v):
        raise ProtocolError(f"score is not fixed-point with 6 decimals: {v!r}")
    return float(v)


def _kv(fields: list[str]) -> dict[str, str]:
    out = {}
    for f in fields:
        key, sep, value = f.partition("=")
        if not sep:
            raise ProtocolError(f"expected key=value, got {f!r}")
        out[key] = value
    return out


def parse_line(raw: bytes | str) -> Line:
    """Parse one line (without or with its line ending); ProtocolError if it is not valid."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("ascii")
        except UnicodeDecodeError:
            raise ProtocolError("line has non-ASCII bytes") from None
    text = raw.rstrip("\r\n")
    m = _TRAILER.search(text)
    if not m:
        raise ProtocolError("line has no *CRC trailer")
    body = text[: m.start()]
    if zlib.crc32(body.encode("ascii")) != int(m.group(1), 16):
        raise ProtocolError("line CRC mismatch")
    fields = body.split(",")
    if len(fields) < 2 or fields[0] not in tuple(LINE_KINDS):
        raise ProtocolError(f"unknown line kind {fields[0]!r}")
    kind, seq = fields[0], _int(fields[1], "sequence number")
    rest = fields[2:]
    if kind == "H":
        kv = _kv(rest)
        known = {"tinykd", "fw", "board", "model", "sr", "n", "hop", "arena", "mode", "labels", "truncated"}
        try:
            return Hello(
                seq=seq,
                protocol=_int(kv["tinykd"], "protocol"),
                firmware=unescape(kv["fw"]),
                board=unescape(kv["board"]),
                model_hash=unescape(kv["model"]),
                sample_rate=_int(kv["sr"], "sr"),
                input_samples=_int(kv["n"], "n"),
                hop=_int(kv["hop"], "hop"),
                arena_bytes=_int(kv["arena"], "arena"),
                mode=kv["mode"],
                labels=tuple(unescape(v) for v in kv["labels"].split("|")),
                truncated=kv.get("truncated") == "1",
                extra={k: v for k, v in kv.items() if k not in known},
            )
        except KeyError as exc:
            raise ProtocolError(f"hello line lacks {exc.args[0]}=") from None
    if kind == "R":
        if len(rest) < 5:
            raise ProtocolError("result line too short")
        src = re.fullmatch(r"(clip|mic)(\d+)", rest[0])
        if not src:
            raise ProtocolError(f"result source must be clip<N> or mic<N>, got {rest[0]!r}")
        # Scores, then fe_us=, inf_us=, then the key=value fields later versions append.
        first_kv = next((i for i in range(2, len(rest)) if "=" in rest[i]), len(rest))
        for f in rest[2:first_kv]:  # a key without its value would otherwise read as a bad score
            if re.fullmatch(r"[A-Za-z_]\w*", f) and f not in ("nan", "inf"):
                raise ProtocolError(f"expected key=value, got {f!r}")
        kv = _kv(rest[first_kv:])
        keys = [f.partition("=")[0] for f in rest[first_kv:]]
        if "fe_us" not in keys:
            raise ProtocolError("result line lacks fe_us=")
        at = keys.index("fe_us")
        if at + 1 >= len(keys) or keys[at + 1] != "inf_us":
            raise ProtocolError("result line lacks inf_us= right after fe_us=")
        if at != 0:
            raise ProtocolError("result line: fe_us= must follow the scores")
        if first_kv == 2:
            raise ProtocolError("result line has no scores")
        fe_us, inf_us = _int(kv.pop("fe_us"), "fe_us"), _int(kv.pop("inf_us"), "inf_us")
        extra = {k: _int(v, k) for k, v in kv.items()}
        return Result(seq, src.group(1), int(src.group(2)), unescape(rest[1]),
                      tuple(_score(v) for v in rest[2:first_kv]), fe_us, inf_us, extra)
    if kind == "A":
        if len(rest) != 1:
            raise ProtocolError("ack line must be A,<seq>,<frame_id>")
        return Ack(seq, _int(rest[0], "frame id"))
    if kind == "N":
        if len(rest) != 2:
            raise ProtocolError("nak line must be N,<seq>,<frame_id>,<reason>")
        return Nak(seq, _int(rest[0], "frame id"), rest[1])
    if len(rest) != 2:
        raise ProtocolError("error line must be E,<seq>,<code>,<detail>")
    return BoardError(seq, unescape(rest[0]), unescape(rest[1]))

