"""Stream mode without a microphone: the host plays audio to a board in AUDIO frames and collects the
result lines, window by window.

Each frame carries the number of its first sample, so a resend (after a NAK, a lost ACK or a timeout) is
harmless: the board acknowledges audio it already has without pushing it twice. The first frame starts
a new stream (sample 0, the board's audio ring, feature ring and front-end state cleared), so the board's
windows are exactly the host's: frame k of the stream covers samples [k*hop, k*hop + window).
`realtime=None` sends as fast as the board takes the audio (each frame waits for its ACK); `realtime=1.0`
paces the audio at its sample rate (2.0: twice as fast). If the board goes away the results so far are
kept (`complete=False`, `error` says why).
"""

from __future__ import annotations

import termios
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from tinykd.device.link import BoardGone, LineReader, open_port
from tinykd.device.protocol import (DEFAULT_BAUD, FRAME_HELLO, FRAME_MODE, MODE_STREAM, Ack, BoardError, Hello, Nak,
                                    Result, audio_frame, encode_frame)
from tinykd.errors import TinykdError


@dataclass
class StreamRun:
    hello: Hello | None
    results: list[Result] = field(default_factory=list)
    samples_sent: int = 0
    expected_results: int = 0
    wall_seconds: float = 0.0
    naks: int = 0
    resends: int = 0
    board_errors: list[str] = field(default_factory=list)
    complete: bool = False
    error: str | None = None
    on_result: Callable[[Result], None] | None = field(default=None, repr=False, compare=False)


def expected_results(hello: Hello, n_samples: int) -> int:
    """How many result lines a stream of n_samples gives on the board that sent `hello`."""
    if hello.kind == "signal":
        win, frames, every = hello.extra_int("win"), hello.extra_int("frames"), max(1, hello.extra_int("every", 1))
        hops = 0 if n_samples < win else 1 + (n_samples - win) // hello.hop
        return 0 if hops < frames else 1 + (hops - frames) // every
    if n_samples < hello.input_samples or hello.hop <= 0:
        return 0
    return 1 + (n_samples - hello.input_samples) // hello.hop


class _Link:
    def __init__(self, port: str, baud: int):
        self.ser = open_port(port, baud)
        self.reader = LineReader(self.ser)
        self.frame_id = 0

    def next_id(self) -> int:
        self.frame_id = (self.frame_id + 1) & 0xFFFF
        return self.frame_id

    def write(self, data: bytes) -> None:
        # pyserial's flush() (tcdrain) raises termios.error, not OSError, when the pty has gone.
        try:
            self.reader.write(data)
        except termios.error as exc:
            raise BoardGone(f"port {self.ser.port} stopped working ({exc}); was the board unplugged?") from None


def stream_audio(port: str, pcm: np.ndarray, *, chunk: int | None = None, realtime: float | None = None,
                 baud: int = DEFAULT_BAUD, answer_timeout: float = 60.0, retries: int = 3,
                 hello_timeout: float = 10.0, on_result: Callable[[Result], None] | None = None) -> StreamRun:
    """Play int16 `pcm` to the board on `port` in stream mode; return its result lines in order.
    `on_result` is called with every result line as it arrives (live display)."""
    pcm = np.ascontiguousarray(pcm, dtype=np.int16).reshape(-1)
    link = _Link(port, baud)
    run = StreamRun(hello=None, on_result=on_result)
    t0 = time.monotonic()
    try:
        run.hello = _handshake(link, hello_timeout)
        limit = run.hello.extra_int("audio", run.hello.hop)
        if limit <= 0:
            raise TinykdError(f"board on {port} takes no AUDIO frames (no stream ring); it cannot stream from the host")
        step = min(chunk or limit, limit)
        run.expected_results = expected_results(run.hello, len(pcm))
        _set_stream_mode(link, retries, answer_timeout)
        sr = run.hello.sample_rate
        for start in range(0, len(pcm), step):
            if realtime:
                ahead = start / (sr * realtime) - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
            block = pcm[start : start + step]
            _send_audio(link, run, start, block, retries, answer_timeout)
            run.samples_sent = start + len(block)
        deadline = time.monotonic() + answer_timeout
        while len(run.results) < run.expected_results and (left := deadline - time.monotonic()) > 0:
            _take(run, link.reader.read_line(min(left, 1.0)))
        run.complete = len(run.results) >= run.expected_results
        if not run.complete:
            run.error = f"{len(run.results)} of {run.expected_results} results within {answer_timeout:g} s"
    except BoardGone as exc:
        run.error = f"{exc} ({len(run.results)} results kept)"
    finally:
        run.wall_seconds = time.monotonic() - t0
        try:
            link.ser.close()
        except Exception:
            pass
    return run


def _take(run: StreamRun, line) -> None:
    if isinstance(line, Result) and line.source == "mic":
        run.results.append(line)
        if run.on_result:
            run.on_result(line)
    elif isinstance(line, BoardError):
        run.board_errors.append(f"{line.code}: {line.detail}")


def _handshake(link: _Link, timeout: float) -> Hello:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        link.write(encode_frame(FRAME_HELLO, link.next_id()))
        wait_until = time.monotonic() + min(left, 2.0)
        while (rest := wait_until - time.monotonic()) > 0:
            line = link.reader.read_line(rest)
            if isinstance(line, Hello):
                return line
    raise TinykdError(f"board on {link.ser.port} sent no hello within {timeout:g} s")


def _set_stream_mode(link: _Link, retries: int, timeout: float) -> None:
    for _ in range(retries + 1):
        fid = link.next_id()
        link.write(encode_frame(FRAME_MODE, fid, 0, bytes([MODE_STREAM])))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            line = link.reader.read_line(left)
            if isinstance(line, Ack) and line.frame_id == fid:
                return
            if line is None or (isinstance(line, Nak) and line.frame_id == fid):
                break
    raise TinykdError(f"board on {link.ser.port} did not accept stream mode")


def _send_audio(link: _Link, run: StreamRun, start: int, block: np.ndarray, retries: int, timeout: float) -> None:
    for attempt in range(retries + 1):
        if attempt:
            run.resends += 1
        fid = link.next_id()
        link.write(audio_frame(fid, start & 0xFFFFFFFF, block, start=start == 0))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            line = link.reader.read_line(left)
            if line is None:
                break
            if isinstance(line, Ack) and line.frame_id == fid:
                return
            if isinstance(line, Nak) and line.frame_id == fid:
                run.naks += 1
                break
            if isinstance(line, Hello):
                raise TinykdError(f"board on {link.ser.port} reset during the stream (at sample {start})")
            _take(run, line)
    raise TinykdError(f"board on {link.ser.port} did not take the audio at sample {start} after {retries + 1} tries")
