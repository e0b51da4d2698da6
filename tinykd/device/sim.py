"""`tinykd sim`: a virtual board on a pseudo-terminal.

The protocol side is the firmware's own board-independent C/C++ core (framing, CRC, ACK/NAK, line
writing, ring buffer, sliding windows, PCM scaling) compiled with the host compiler and driven through
ctypes (`tinykd.device.native`); inference is the TFLM interpreter (`tflite_micro`) on the int8 model.
Faults on request make it misbehave like real hardware does (see FAULTS).
"""

from __future__ import annotations

import ctypes
import os
import select
import termios
import sys
import time
import traceback
import tty
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinykd import __version__
from tinykd.device import native
from tinykd.device.model import DeviceModel
from tinykd.device.protocol import FRAME_CLIP, MODE_STREAM, MODE_VERIFY
from tinykd.errors import TinykdError

# name -> (meaning of the number after "@", default)
FAULTS: dict[str, tuple[str, int]] = {
    "garbage": ("bytes of boot noise before the hello (and after every reset)", 96),
    "corrupt-line": ("flip one character of the Nth result line", 2),
    "drop-line": ("never send the Nth result line", 2),
    "reset": ("reset the board after the Nth result line (noise, then a new hello)", 3),
    "slow": ("extra milliseconds per inference", 300),
    "corrupt-frame": ("flip one byte of the Nth clip frame received (line noise host -> board)", 2),
    "silent": ("the board never writes anything (N unused)", 0),
    "skew": ("every Nth inference swaps its two best scores (a board computing wrong answers)", 3),
}


def parse_faults(specs: list[str] | tuple[str, ...]) -> dict[str, int]:
    """["reset@5", "garbage"] -> {"reset": 5, "garbage": 96}; a one-line error for unknown names."""
    out: dict[str, int] = {}
    for spec in specs:
        for part in spec.split(","):
            name, _, num = part.strip().partition("@")
            if not name:
                continue
            if name not in FAULTS:
                raise TinykdError(f"unknown fault {name!r}; known: {', '.join(FAULTS)} (optionally name@N)")
            if num and not num.isdigit():
                raise TinykdError(f"fault {part!r}: the number after @ must be a non-negative integer")
            out[name] = int(num) if num else FAULTS[name][1]
    return out


@dataclass
class SimStats:
    results: int = 0
    frames_ok: int = 0
    frames_bad: int = 0
    resets: int = 0
    bytes_dropped: int = 0  # written while the host's receive buffer was full (nobody reading)
    faults_applied: list[str] = field(default_factory=list)


class VirtualBoard:
    """One virtual board: a pty pair, the C board core, and a TFLM interpreter."""

    def __init__(self, model: DeviceModel, *, mode: str = "stream", hop: int | None = None,
                 faults: dict[str, int] | None = None, audio: np.ndarray | None = None, speed: float = 1.0,
                 seed: int = 0, reset_on_open: bool = True, baud: int = 0):
        if mode not in ("stream", "verify"):
            raise TinykdError(f"mode must be stream or verify, got {mode!r}")
        if speed <= 0:
            raise TinykdError(f"--speed must be > 0, got {speed}")
        self.model = model
        self.faults = dict(faults or {})
        self.speed = speed
        # A pty moves bytes as fast as the CPU allows; baud > 0 makes each byte cost 10 bit times
        # (start + 8 data + stop) in both directions, like a real UART at that rate.
        if baud < 0:
            raise TinykdError(f"--emulate-baud must be >= 0, got {baud}")
        self.byte_s = 10.0 / baud if baud else 0.0
        self.rng = np.random.default_rng(seed)
        self.stats = SimStats()
        self.lib = native.load_core()
        n = model.input_samples
        self.hop = hop or n // 2
        if not 0 < self.hop <= n:
            raise TinykdError(f"--hop must be between 1 and the model's {n} input samples, got {self.hop}")
        self.audio = audio if audio is not None else self._default_audio()
        self.audio_pos = 0

        self.interp = model.interpreter()
        self.in_details = self.interp.get_input_details(0)
        self.out_details = self.interp.get_output_details(0)
        self.in_buf = np.zeros(n, dtype=self.in_details["dtype"])
        self.n_labels = len(model.labels)

        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no CR/LF translation: a UART passes bytes as they are
        # ESP32 dev boards reset when a host opens the port (DTR/RTS auto-reset). A pty has no modem
        # lines, but opening it with pyserial sets its speed: the sim parks the speed at B50 and
        # treats any other value as "a host opened the port", then parks it again.
        self.reset_on_open = reset_on_open
        self._park_speed()
        self._open_seen_at: float | None = None
        self._last_speed_check = 0.0
        os.set_blocking(self.master, False)
        self.port = os.ttyname(self.slave)

        # Buffers and strings the C board points to must live as long as it does.
        self._keep = [
            labels := (ctypes.c_char_p * self.n_labels)(*[s.encode() for s in model.labels]),
            upload := ctypes.create_string_buffer(2 * n),
            ring := (ctypes.c_int16 * (n + 4 * self.hop))(),
            write_cb := native.WRITE_FN(self._write),
            infer_cb := native.INFER_FN(self._infer),
        ]
        cfg = native.BoardConfig(
            fw_version=f"sim-{__version__}".encode(), board_name=b"sim", model_hash=model.hash.encode(),
            labels=ctypes.cast(labels, ctypes.POINTER(ctypes.c_char_p)), n_labels=self.n_labels,
            sample_rate=model.sample_rate, input_samples=n, arena_bytes=model.arena_bytes, hop_samples=self.hop,
            default_mode=MODE_STREAM if mode == "stream" else MODE_VERIFY,
            write=ctypes.cast(write_cb, ctypes.c_void_p), infer=ctypes.cast(infer_cb, ctypes.c_void_p),
            upload_buf=ctypes.addressof(upload), ring_buf=ctypes.addressof(ring), ring_samples=n + 4 * self.hop,
            window_buf=ctypes.addressof(upload),  # shared, as in the sketch (tkd_board.h)
        )
        self._keep.append(cfg)
        self.board = self.lib.tkd_host_board_new(ctypes.byref(cfg))
        if not self.board:
            raise TinykdError(f"{model.path}: the board core rejected this model (more than 64 labels?)")
        self._pending_reset = False
        self._reset_fired = False
        self._inferences = 0
        self._frame_pos = -1  # position inside an incoming frame, for corrupt-frame
        self._frame_type = 0
        self._clip_frames = 0
        self._prev_byte = -1
        self.t0 = time.monotonic()

    # -- the board's two callbacks -----------------------------------------------------------
    def _write(self, _ctx, data, n) -> None:
        line = bytearray(ctypes.string_at(data, n))
        if "silent" in self.faults:
            return
        if line[:1] == b"R":
            self.stats.results += 1
            k = self.stats.results
            if self.faults.get("drop-line") == k:
                self.stats.faults_applied.append(f"drop-line@{k}")
                return
            if self.faults.get("corrupt-line") == k:
                line[len(line) // 2] ^= 0x01
                self.stats.faults_applied.append(f"corrupt-line@{k}")
            if self.faults.get("reset") == k and not self._reset_fired:
                self._pending_reset = True
        self._send(bytes(line))

    def _infer(self, _ctx, pcm, n, scores, fe_us, inf_us) -> int:
        try:
            t0 = time.perf_counter_ns()
            dst = self.in_buf.ctypes.data
            kind = self.in_details["dtype"]
            if kind == np.float32:
                self.lib.tkd_pcm_to_float(pcm, n, dst)
            else:
                scale, zp = self._quant(self.in_details)
                fn = self.lib.tkd_pcm_to_int8 if kind == np.int8 else self.lib.tkd_pcm_to_int16
                fn(pcm, n, scale, zp, dst)
            t1 = time.perf_counter_ns()
            self.interp.set_input(self.in_buf.reshape(1, -1), 0)
            self.interp.invoke()
            raw = np.ascontiguousarray(np.asarray(self.interp.get_output(0)).reshape(-1))
            if self.out_details["dtype"] == np.int8:
                out = np.zeros(self.n_labels, dtype=np.float32)
                scale, zp = self._quant(self.out_details)
                self.lib.tkd_dequantize_int8(raw.ctypes.data, self.n_labels, scale, zp, out.ctypes.data)
            else:
                out = raw.astype(np.float32)
            self._inferences += 1
            skew = self.faults.get("skew")
            if skew and self._inferences % skew == 0 and self.n_labels > 1:
                top2 = np.argsort(out)[-2:]
                out[top2] = out[top2[::-1]]
                self.stats.faults_applied.append(f"skew@{self._inferences}")
            if "slow" in self.faults:
                time.sleep(self.faults["slow"] / 1000.0)
            t2 = time.perf_counter_ns()
            for i in range(self.n_labels):
                scores[i] = float(out[i])
            fe_us[0] = (t1 - t0) // 1000
            inf_us[0] = (t2 - t1) // 1000
            return 0
        except Exception:  # a callback must not raise into C; the board reports an error line
            traceback.print_exc(file=sys.stderr)
            return 1

    @staticmethod
    def _quant(details) -> tuple[float, int]:
        q = details["quantization_parameters"]
        return float(q["scales"][0]), int(q["zero_points"][0])

    # -- serial side -------------------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = os.write(self.master, view)
            except BlockingIOError:  # host not reading and its buffer is full: a UART drops bytes too
                self.stats.bytes_dropped += len(view)
                return
            view = view[sent:]
        if self.byte_s:
            time.sleep(len(data) * self.byte_s)

    def _noise(self) -> None:
        n = self.faults.get("garbage", 0)
        if n:
            # What a reader at 921 600 baud sees of the ROM boot loader's 115 200 baud banner.
            noise = self.rng.integers(0, 256, n, dtype=np.uint8).tobytes()
            self._send(noise[: n // 2] + b"\r\n" + noise[n // 2 :] + b"\r\n")

    def _park_speed(self) -> None:
        attrs = termios.tcgetattr(self.slave)
        attrs[4] = attrs[5] = termios.B50
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)

    def _host_opened(self, now: float) -> bool:
        """True once, about 50 ms after a host opened the port (after pyserial's own input flush)."""
        if not self.reset_on_open:
            return False
        if now - self._last_speed_check > 0.01:
            self._last_speed_check = now
            if termios.tcgetattr(self.slave)[4] != termios.B50:
                self._park_speed()
                self._open_seen_at = now
        if self._open_seen_at is not None and now - self._open_seen_at > 0.05:
            self._open_seen_at = None
            return True
        return False

    def _now_ms(self) -> int:
        return int((time.monotonic() - self.t0) * 1000) & 0xFFFFFFFF

    def _inject_frame_fault(self, data: bytearray) -> None:
        target = self.faults.get("corrupt-frame")
        if target is None:
            return
        for i, b in enumerate(data):
            if self._frame_pos < 0:
                if self._prev_byte == 0xA5 and b == 0x5A:
                    self._frame_pos = 2
            else:
                if self._frame_pos == 2:
                    self._frame_type = b
                    if b == FRAME_CLIP:
                        self._clip_frames += 1
                if self._frame_pos == 20 and self._frame_type == FRAME_CLIP and self._clip_frames == target:
                    data[i] ^= 0x10
                    self.stats.faults_applied.append(f"corrupt-frame@{target}")
                    self._frame_pos = -1
                    self._prev_byte = -1
                    continue
                self._frame_pos = -1 if self._frame_pos > 20 else self._frame_pos + 1
            self._prev_byte = b

    def _next_audio(self, n: int) -> np.ndarray:
        idx = (self.audio_pos + np.arange(n)) % len(self.audio)
        self.audio_pos = int((self.audio_pos + n) % len(self.audio))
        return np.ascontiguousarray(self.audio[idx], dtype=np.int16)

    def _default_audio(self) -> np.ndarray:
        """Without --audio: a few seconds of quiet noise with tone bursts, so windows differ."""
        sr = self.model.sample_rate
        t = np.arange(4 * sr) / sr
        tone = np.sin(2 * np.pi * (300 + 200 * np.floor(t)) * t) * (np.sin(np.pi * t) ** 2)
        x = 0.3 * tone + 0.02 * self.rng.standard_normal(len(t))
        return np.clip(np.rint(x * 32767), -32768, 32767).astype(np.int16)

    def boot(self) -> None:
        self._noise()
        self.lib.tkd_board_reset(self.board)
        self.t_audio = time.monotonic()
        self.audio_sent = 0
        self.audio_pos = 0  # the microphone "hears" the audio from its start after every boot

    def step(self, wait_s: float = 0.005) -> None:
        """One turn of the board's loop: read the port, feed the core, run due audio windows."""
        ready, _, _ = select.select([self.master], [], [], wait_s)
        if ready:
            try:
                data = bytearray(os.read(self.master, 65536))
            except (BlockingIOError, InterruptedError):
                data = bytearray()
            if data and self.byte_s:
                time.sleep(len(data) * self.byte_s)
            if data:
                self._inject_frame_fault(data)
                buf = (ctypes.c_uint8 * len(data)).from_buffer(data)
                self.lib.tkd_board_rx(self.board, buf, len(data), self._now_ms())
        self.lib.tkd_board_poll(self.board, self._now_ms())
        if self._host_opened(time.monotonic()):
            self.stats.results = 0  # fault positions count from the host's connection
            self._reset_fired = False
            self._clip_frames = 0
            self.boot()
        if self._pending_reset:
            self._pending_reset = False
            self.stats.resets += 1
            self.stats.faults_applied.append(f"reset@{self.stats.results}")
            self._reset_fired = True  # once per connection: a board that resets forever is another fault
            self.boot()
        if self.lib.tkd_host_board_mode(self.board) == MODE_STREAM:
            due = int((time.monotonic() - self.t_audio) * self.model.sample_rate * self.speed)
            while due - self.audio_sent > 0:
                n = min(due - self.audio_sent, self.hop)
                block = self._next_audio(n)
                self.lib.tkd_board_audio(self.board, block.ctypes.data, n)
                self.audio_sent += n
        else:
            self.t_audio = time.monotonic()
            self.audio_sent = 0

    def counters(self) -> SimStats:
        c = (ctypes.c_uint32 * 5)()
        self.lib.tkd_host_board_counters(self.board, c)
        self.stats.frames_ok, self.stats.frames_bad = int(c[0]), int(c[1])
        return self.stats

    def run(self, duration: float | None = None) -> SimStats:
        """Serve until `duration` seconds pass (forever if None). Boots first unless boot() was called."""
        if not hasattr(self, "t_audio"):
            self.boot()
        end = None if duration is None else time.monotonic() + duration
        while end is None or time.monotonic() < end:
            self.step()
        return self.counters()

    def close(self) -> None:
        if getattr(self, "board", None):
            self.lib.tkd_host_board_free(self.board)
            self.board = None
        for fd in (getattr(self, "master", None), getattr(self, "slave", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.slave = None


def load_audio(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """A WAV file, or every WAV in a folder (sorted, concatenated), as int16 at the model's rate."""
    import soundfile as sf

    path = Path(path)
    files = sorted(path.glob("*.wav")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise TinykdError(f"{path}: no WAV files to play as the microphone")
    parts = []
    for f in files:
        try:
            x, sr = sf.read(f, dtype="int16", always_2d=True)
        except Exception as exc:
            raise TinykdError(f"{f}: cannot read as audio ({exc})") from None
        if sr != sample_rate:
            raise TinykdError(f"{f}: {sr} Hz but the model takes {sample_rate} Hz; resample it first")
        parts.append(x[:, 0])
    return np.concatenate(parts)
