"""`tinykd sim`: a virtual board on a pseudo-terminal.

The protocol side is the firmware's own board-independent C/C++ core (framing, CRC, ACK/NAK, line writing,
ring buffer, sliding windows, PCM scaling), compiled with the host compiler and driven through ctypes
(tinykd.device.native); inference is the TFLM interpreter on the int8 model (a signal model: the front end once per
hop and the body, through the core's own scheduler and feature ring, as on a board). The pieces: the port
(tinykd.device.pty), the microphone (tinykd.device.audio), the faults it can show (tinykd.device.faults).
"""

from __future__ import annotations

import ctypes
import sys
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from tinykd import __version__
from tinykd.device import native
from tinykd.device.audio import AudioSource, default_audio, load_audio  # noqa: F401  (load_audio: public)
from tinykd.device.faults import FAULTS, FaultInjector, parse_faults  # noqa: F401  (public names)
from tinykd.device.model import DeviceModel
from tinykd.device.protocol import MODE_STREAM, MODE_VERIFY
from tinykd.device.pty import PtyPort
from tinykd.errors import TinykdError


@dataclass
class SimStats:
    results: int = 0
    frames_ok: int = 0
    frames_bad: int = 0
    resets: int = 0
    bytes_dropped: int = 0  # written while the host's receive buffer was full (nobody reading)
    faults_applied: list[str] = field(default_factory=list)


class VirtualBoard:
    """One virtual board: a pty, the C board core, a TFLM interpreter, a microphone and optional faults."""

    def __init__(self, model: DeviceModel, *, mode: str = "stream", hop: int | None = None,
                 faults: dict[str, int] | None = None, audio: np.ndarray | None = None, speed: float = 1.0,
                 seed: int = 0, reset_on_open: bool = True, baud: int = 0):
        if mode not in ("stream", "verify"):
            raise TinykdError(f"mode must be stream or verify, got {mode!r}")
        if speed <= 0:
            raise TinykdError(f"--speed must be > 0, got {speed}")
        self.model = model
        self.speed = speed
        self.rng = np.random.default_rng(seed)
        self.faults = FaultInjector(dict(faults or {}), self.rng)
        self.lib = native.load_core()
        n = model.input_samples
        self.signal = model.kind == "signal"
        if self.signal:  # the model's hop; --hop sets how often the body runs, in hops
            st = model.stream
            self.hop, self.every = int(st["hop_samples"]), max(1, (hop or st["hop_samples"]) // st["hop_samples"])
        else:
            self.hop, self.every = hop or n // 2, 1
            if not 0 < self.hop <= n:
                raise TinykdError(f"--hop must be between 1 and the model's {n} input samples, got {self.hop}")
        self.mic = AudioSource(audio if audio is not None else default_audio(model.sample_rate, self.rng))

        self.q_in, self.q_out, self.in_shape = model.io()
        if self.signal:
            self.pipe = model.pipeline()
        else:
            self.interp = model.interpreter()
            self.in_buf = np.zeros(n, dtype=self.q_in.dtype)
        self.n_labels = len(model.labels)

        self.port_io = PtyPort(baud)
        self.port = self.port_io.name
        self.reset_on_open = reset_on_open

        # Buffers and strings the C board points to must live as long as it does; sized as the firmware
        # sizes them (firmware/tinykd_fw/src/tflm/tkd_app.h).
        if self.signal:
            window = int(model.stream["window_samples"])
            ring_samples = window + 4 * self.hop - 1
        else:
            window, ring_samples = 0, n + 4 * self.hop
        features = int(model.stream["frames"]) * int(model.stream["bins"]) if self.signal else 1
        self._keep = [
            labels := (ctypes.c_char_p * self.n_labels)(*[s.encode() for s in model.labels]),
            upload := ctypes.create_string_buffer(2 * n),
            ring := (ctypes.c_int16 * ring_samples)(),
            feature_ring := (ctypes.c_int8 * features)(),
            body_in := (ctypes.c_int8 * features)(),
            write_cb := native.WRITE_FN(self._write),
            infer_cb := native.INFER_FN(self._infer),
            frontend_cb := native.FRONTEND_FN(self._frontend),
            reset_cb := native.FRONTEND_RESET_FN(self._frontend_reset),
            body_cb := native.BODY_FN(self._body),
        ]
        cfg = native.BoardConfig(
            fw_version=f"sim-{__version__}".encode(), board_name=b"sim", model_hash=model.hash.encode(),
            labels=ctypes.cast(labels, ctypes.POINTER(ctypes.c_char_p)), n_labels=self.n_labels,
            sample_rate=model.sample_rate, input_samples=n, arena_bytes=model.arena_bytes, hop_samples=self.hop,
            default_mode=MODE_STREAM if mode == "stream" else MODE_VERIFY,
            write=ctypes.cast(write_cb, ctypes.c_void_p),
            infer=None if self.signal else ctypes.cast(infer_cb, ctypes.c_void_p),
            upload_buf=ctypes.addressof(upload), ring_buf=ctypes.addressof(ring), ring_samples=ring_samples,
            window_buf=ctypes.addressof(upload),  # shared, as in the sketch (tkd_board.h)
            hello_extra=self._hello_extra(baud),
        )
        if self.signal:
            cfg.kind = native.KIND_SIGNAL
            cfg.frontend_window, cfg.feature_bins = window, int(model.stream["bins"])
            cfg.feature_frames, cfg.body_every = int(model.stream["frames"]), self.every
            cfg.frontend = ctypes.cast(frontend_cb, ctypes.c_void_p)
            cfg.frontend_reset = ctypes.cast(reset_cb, ctypes.c_void_p)
            cfg.body = ctypes.cast(body_cb, ctypes.c_void_p)
            cfg.feature_buf, cfg.body_buf = ctypes.addressof(feature_ring), ctypes.addressof(body_in)
        self._keep.append(cfg)
        self.board = self.lib.tkd_host_board_new(ctypes.byref(cfg))
        if not self.board:
            raise TinykdError(f"{model.path}: the board core rejected this model (more than 64 labels?)")
        self.resets = 0
        self.t0 = time.monotonic()

    def _hello_extra(self, baud: int) -> bytes:
        """What the hello says about the link: a pseudo-terminal, and the baud rate it emulates (0: none)."""
        text = f",link=pty,emulated_baud={int(baud)}".encode()
        self._keep.append(text)
        return text

    # -- the board's callbacks ---------------------------------------------------------------
    def _write(self, _ctx, data, n) -> None:
        out = self.faults.outgoing(bytearray(ctypes.string_at(data, n)))
        if out is not None:
            self.port_io.send(out)

    def _infer(self, _ctx, pcm, n, scores, fe_us, inf_us) -> int:
        try:
            t0 = time.perf_counter_ns()
            dst = self.in_buf.ctypes.data
            if self.q_in.is_float:
                self.lib.tkd_pcm_to_float(pcm, n, dst)
            else:
                fn = self.lib.tkd_pcm_to_int8 if self.q_in.dtype == np.int8 else self.lib.tkd_pcm_to_int16
                fn(pcm, n, self.q_in.scale, self.q_in.zero_point, dst)
            t1 = time.perf_counter_ns()
            self.interp.set_input(self.in_buf.reshape(self.in_shape), 0)
            self.interp.invoke()
            self._scores_out(self.interp.get_output(0), scores)
            t2 = time.perf_counter_ns()
            fe_us[0] = (t1 - t0) // 1000
            inf_us[0] = (t2 - t1) // 1000
            return 0
        except Exception:  # a callback must not raise into C; the board reports an error line
            traceback.print_exc(file=sys.stderr)
            return 1

    def _scores_out(self, raw: np.ndarray, scores) -> None:
        """Dequantize with the firmware's own code, apply the faults, and hand the scores to the core."""
        raw = np.ascontiguousarray(np.asarray(raw).reshape(-1))
        if self.q_out.dtype == np.int8:
            out = np.zeros(self.n_labels, dtype=np.float32)
            self.lib.tkd_dequantize_int8(raw.ctypes.data, self.n_labels, self.q_out.scale, self.q_out.zero_point,
                                         out.ctypes.data)
        else:
            out = raw.astype(np.float32)
        out = self.faults.scores(out)
        if self.faults.slow_ms:
            time.sleep(self.faults.slow_ms / 1000.0)
        for i in range(self.n_labels):
            scores[i] = float(out[i])

    def _frontend(self, _ctx, pcm, n, features, n_bins, us) -> int:
        try:
            t0 = time.perf_counter_ns()
            frame = np.ctypeslib.as_array(pcm, shape=(n,)).copy()
            feats = self.pipe.hop_features(frame)
            ctypes.memmove(features, feats.astype(np.int8).ctypes.data, n_bins)
            us[0] = (time.perf_counter_ns() - t0) // 1000
            return 0
        except Exception:  # a callback must not raise into C; the board reports an error line
            traceback.print_exc(file=sys.stderr)
            return 1

    def _frontend_reset(self, _ctx) -> int:
        try:
            self.pipe.reset()
            return 0
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return 1

    def _body(self, _ctx, features, n_frames, n_bins, scores, us) -> int:
        try:
            t0 = time.perf_counter_ns()
            feats = np.ctypeslib.as_array(features, shape=(n_frames * n_bins,)).copy().reshape(n_frames, n_bins)
            self._scores_out(self.pipe.classify(feats), scores)
            us[0] = (time.perf_counter_ns() - t0) // 1000
            return 0
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return 1

    # -- the board's loop --------------------------------------------------------------------
    def _now_ms(self) -> int:
        return int((time.monotonic() - self.t0) * 1000) & 0xFFFFFFFF

    def boot(self) -> None:
        noise = self.faults.boot_noise()
        if noise:  # the ROM boot loader's banner, not the firmware: a 'silent' board shows it too
            self.port_io.send(noise)
        self.lib.tkd_board_reset(self.board)
        self.t_audio = time.monotonic()
        self.audio_sent = 0
        self.mic.restart()

    def step(self, wait_s: float = 0.005) -> None:
        """One turn of the board's loop: read the port, feed the core, run due audio windows."""
        data = bytearray(self.port_io.receive(wait_s))
        if data:
            self.faults.incoming(data)
            buf = (ctypes.c_uint8 * len(data)).from_buffer(data)
            self.lib.tkd_board_rx(self.board, buf, len(data), self._now_ms())
        self.lib.tkd_board_poll(self.board, self._now_ms())
        if self.reset_on_open and self.port_io.host_opened(time.monotonic()):
            self.faults.connected()
            self.boot()
        if self.faults.take_reset():
            self.resets += 1
            self.boot()
        if self.lib.tkd_host_board_mode(self.board) == MODE_STREAM:
            due = int((time.monotonic() - self.t_audio) * self.model.sample_rate * self.speed)
            while due - self.audio_sent > 0:
                n = min(due - self.audio_sent, self.hop)
                block = self.mic.take(n)
                self.lib.tkd_board_audio(self.board, block.ctypes.data, n)
                self.audio_sent += n
        else:
            self.t_audio = time.monotonic()
            self.audio_sent = 0

    def counters(self) -> SimStats:
        c = (ctypes.c_uint32 * 5)()
        self.lib.tkd_host_board_counters(self.board, c)
        return SimStats(results=self.faults.results, frames_ok=int(c[0]), frames_bad=int(c[1]), resets=self.resets,
                        bytes_dropped=self.port_io.bytes_dropped, faults_applied=list(self.faults.applied))

    @property
    def stats(self) -> SimStats:
        return self.counters()

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
        if getattr(self, "port_io", None) is not None:
            self.port_io.close()
