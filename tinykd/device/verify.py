"""`tinykd verify`: send clips to a board, compare its answers with the host's TFLM interpreter.

Both sides see identical input: the same int16 PCM, scaled by 1/32768 (tkd_pcm.cpp on the board,
`tinykd.tflite.io.pcm_to_input` here), run through the same int8 flatbuffer. The report counts
label agreement, score differences, accuracy against the true labels, and latencies. Retries are safe
(a clip is idempotent), so NAKs, corrupted or lost lines and resets cost a resend, not the run. If the
board goes away, the clips answered so far are kept and written to the report.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinykd.artifacts import Int8Dir
from tinykd.configio import save_json
from tinykd.device.link import BoardGone, LineReader, open_port
from tinykd.device.model import DeviceModel, HostReference, load_device_model
from tinykd.device.protocol import (DEFAULT_BAUD, FRAME_HELLO, FRAME_MODE, MODE_VERIFY, PROTOCOL_VERSION, Ack,
                                    BoardError, Hello, Nak, Result, clip_frame, encode_frame, frame_bytes)
from tinykd.errors import TinykdError
from tinykd.tflite.io import float_to_pcm

SCORE_DECIMALS_TOL = 1.5e-6  # the board writes scores rounded to 1e-6


class VerifyFailed(TinykdError):
    """The board answered, but not well enough: exit status 1 (errors are 2)."""

    exit_code = 1


@dataclass
class VerifyOptions:
    baud: int = DEFAULT_BAUD
    min_agreement: float = 1.0  # fraction of answered clips whose top label must match the host
    retries: int = 3  # resends per clip after a NAK, a timeout, a lost answer or a reset
    answer_timeout: float = 5.0  # seconds to wait for a clip's answer before resending
    hello_timeout: float = 3.0  # seconds to wait for the hello (twice: once passively, once after asking)
    score_tolerance: float = SCORE_DECIMALS_TOL
    max_failed_in_a_row: int = 3  # then the board is considered silent and the run stops
    limit: int | None = None  # only the first N clips


@dataclass
class Clips:
    pcm: np.ndarray  # int16 [n, samples]
    y: np.ndarray  # int64 [n] class ids in the model's label order, -1 if unknown
    names: list[str]


@dataclass
class VerifyReport:
    port: str
    model: str
    model_hash: str
    board: dict = field(default_factory=dict)
    n_clips: int = 0
    answered: int = 0
    agreement: float = 0.0  # top label equal, over answered clips
    score_parity: float = 0.0  # all scores within tolerance, over answered clips
    max_score_diff: float = 0.0
    board_accuracy: float | None = None
    host_accuracy: float | None = None
    mismatches: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    latency: dict = field(default_factory=dict)
    link: dict = field(default_factory=dict)
    throughput: dict = field(default_factory=dict)
    complete: bool = False
    error: str | None = None
    min_agreement: float = 1.0
    passed: bool = False
    report_file: str | None = None


def load_clips(model: DeviceModel, data: str | Path, split: str = "test", limit: int | None = None,
               progress: bool = False) -> Clips:
    """The split of DATA (train, val, test, or all of it) as int16 clips of the model's length, with the run's data
    settings. No split is demanded beyond the one sent: new recordings that hold only test clips verify too."""
    from tinykd.data import load_dataset

    cfg = model.data_config()
    if cfg.clip_samples != model.input_samples:
        raise TinykdError(f"{data}: clips of {cfg.clip_samples} samples but the model takes {model.input_samples}")
    ds = load_dataset(data, cfg, progress=progress, require_splits=())
    arrays = ds.load_split(split)
    if len(arrays) == 0:
        raise TinykdError(f"{data}: the {split!r} split is empty ({ds.split_how}); pick another with --split "
                          "(all: every clip)")
    index = {name: i for i, name in enumerate(model.labels)}
    unknown = sorted(set(ds.labels) - set(index))
    if unknown:
        raise TinykdError(f"{data}: labels {unknown} are not among the model's {model.labels}")
    y = np.array([index[ds.labels[int(v)]] for v in arrays.y], dtype=np.int64)
    n = len(arrays) if limit is None else min(limit, len(arrays))
    names = [str(p) for p in arrays.paths[:n]]
    return Clips(float_to_pcm(arrays.x[:n]), y[:n], names)


class _Session:
    """One conversation with a board: handshake, then clips with retries."""

    def __init__(self, port: str, model: DeviceModel, opts: VerifyOptions):
        self.port, self.model, self.opts = port, model, opts
        self.ser = open_port(port, opts.baud)
        self.reader = LineReader(self.ser)
        self.frame_id = 0
        self.hello: Hello | None = None
        self.naks = 0
        self.resends = 0
        self.resets = 0
        self.board_errors: list[str] = []

    def next_id(self) -> int:
        self.frame_id = (self.frame_id + 1) & 0xFFFF
        return self.frame_id

    def handshake(self) -> Hello:
        """Wait for (or ask for) the hello, check it names our model, switch to verify mode."""
        hello = self._wait_hello(self.opts.hello_timeout)
        if hello is None:
            self.reader.write(encode_frame(FRAME_HELLO, self.next_id()))
            hello = self._wait_hello(self.opts.hello_timeout)
        if hello is None:
            raise TinykdError(
                f"board on {self.port} is silent: no valid hello in {2 * self.opts.hello_timeout:g} s at "
                f"{self.opts.baud} baud ({self.reader.stats.bad_lines} unreadable lines); check the port, the baud "
                "rate and that it runs tinykd firmware (press reset)"
            )
        self._check(hello)
        self.hello = hello
        self._set_verify_mode()
        return hello

    def _wait_hello(self, timeout: float) -> Hello | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            line = self.reader.read_line(left)
            if isinstance(line, Hello):
                return line
        return None

    def _check(self, hello: Hello) -> None:
        m = self.model
        if hello.protocol != PROTOCOL_VERSION:
            raise TinykdError(f"board on {self.port} speaks protocol {hello.protocol}, this tinykd speaks "
                              f"{PROTOCOL_VERSION}; update the firmware or tinykd")
        if hello.model_hash != m.hash:
            raise TinykdError(f"board on {self.port} runs model {hello.model_hash}, but {m.path} is {m.hash}; "
                              "flash this model (tinykd flash) or pass the run the board was built from")
        if hello.truncated or list(hello.labels) != list(m.labels) or hello.input_samples != m.input_samples:
            raise TinykdError(f"board on {self.port} has labels {list(hello.labels)} / {hello.input_samples} samples "
                              f"but {m.path} has {m.labels} / {m.input_samples}; rebuild the firmware from this run")

    def _set_verify_mode(self) -> None:
        for _ in range(self.opts.retries + 1):
            fid = self.next_id()
            self.reader.write(encode_frame(FRAME_MODE, fid, 0, bytes([MODE_VERIFY])))
            deadline = time.monotonic() + self.opts.answer_timeout
            while (left := deadline - time.monotonic()) > 0:
                line = self.reader.read_line(left)
                if isinstance(line, Ack) and line.frame_id == fid:
                    return
                if isinstance(line, Nak) and line.frame_id == fid:
                    self.naks += 1
                    break
                if isinstance(line, Hello):
                    self.resets += 1
                    self._check(line)
                    break
        raise TinykdError(f"board on {self.port} did not accept verify mode after {self.opts.retries + 1} tries")

    def run_clip(self, clip_id: int, pcm: np.ndarray) -> tuple[Result | None, float, str]:
        """(answer, round-trip seconds, why it failed). Resends on NAK, timeout, lost answer, reset."""
        why = ""
        for attempt in range(self.opts.retries + 1):
            if attempt:
                self.resends += 1
            fid = self.next_id()
            t0 = time.monotonic()
            self.reader.write(clip_frame(fid, clip_id, pcm))
            deadline = time.monotonic() + self.opts.answer_timeout  # from the last byte sent: uploads take time
            why = f"no answer within {self.opts.answer_timeout:g} s"
            while (left := deadline - time.monotonic()) > 0:
                line = self.reader.read_line(left)
                if line is None:
                    break
                if isinstance(line, Result) and line.source == "clip" and line.ident == clip_id:
                    return line, time.monotonic() - t0, ""
                if isinstance(line, Nak) and line.frame_id == fid:
                    self.naks += 1
                    why = f"board rejected the frame ({line.reason})"
                    break
                if isinstance(line, BoardError):
                    self.board_errors.append(f"{line.code}: {line.detail}")
                    why = f"board error {line.code}: {line.detail}"
                    break
                if isinstance(line, Hello):  # the board reset: it is back in its default mode
                    self.resets += 1
                    self._check(line)
                    self._set_verify_mode()
                    why = "board reset"
                    break
        return None, 0.0, why

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:
            pass


def _stats(values: list[float]) -> dict:
    if not values:
        return {}
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "max": float(a.max()), "min": float(a.min())}


def link_kind(extra: dict) -> str:
    """Whether the throughput was paced by a baud rate: a real UART is; a pseudo-terminal only when the virtual
    board emulates one (`tinykd sim --emulate-baud`); QEMU's UART is not paced."""
    if extra.get("link") == "pty":
        baud = str(extra.get("emulated_baud", "0"))
        return (f"virtual board, baud rate emulated at {baud}" if baud.isdigit() and int(baud) > 0
                else "virtual board on a pseudo-terminal: no baud rate applied")
    if extra.get("clock") == "icount":
        return "emulated board (QEMU): its UART is not paced, no baud rate applied"
    return "serial port: paced by the baud rate (native-USB boards ignore it)"


def verify_clips(port: str, model: DeviceModel, clips: Clips, opts: VerifyOptions | None = None,
                 report_path: str | Path | None = None, progress: bool = False) -> VerifyReport:
    """Run every clip on the board and on the host.

    Problems before the first clip (wrong port, busy port, silent board, another model) raise a
    TinykdError. Once clips flow, the report is written (atomically) whatever happens; if the board
    goes away half way `report.error` says why, `report.complete` is False and the answers so far stay.
    """
    opts = opts or VerifyOptions()
    ref = HostReference(model)
    report = VerifyReport(port=port, model=str(model.path), model_hash=model.hash, n_clips=len(clips.pcm),
                          min_agreement=opts.min_agreement)
    agree = parity = board_ok = host_ok = with_truth = 0
    fe, inf, rtt = [], [], []
    ins: dict[str, list[float]] = {"fe_ins_per_hop": [], "inf_ins": []}  # emulated boards count instructions
    session = _Session(port, model, opts)
    try:
        hello = session.handshake()
    except BaseException:
        session.close()
        raise
    t_start = time.monotonic()
    host_s = 0.0
    bar = None
    try:
        report.board = {"firmware": hello.firmware, "board": hello.board, "arena_bytes": hello.arena_bytes,
                        "sample_rate": hello.sample_rate, "input_samples": hello.input_samples,
                        "extra": dict(hello.extra)}
        if progress:
            from rich.progress import Progress

            bar = Progress(transient=True)
            bar.start()
            task = bar.add_task(f"verify on {port}", total=len(clips.pcm))
        failed_in_a_row = 0
        for i, pcm in enumerate(clips.pcm):
            t_host = time.monotonic()
            host = ref.scores(pcm)
            host_s += time.monotonic() - t_host  # not the board's time: left out of the throughput
            answer, seconds, why = session.run_clip(i, pcm)
            if bar:
                bar.advance(task)
            if answer is None:
                report.failures.append({"clip": i, "file": clips.names[i], "why": why})
                failed_in_a_row += 1
                if failed_in_a_row >= opts.max_failed_in_a_row:
                    raise TinykdError(f"board on {port} stopped answering: {failed_in_a_row} clips in a row failed "
                                      f"(last: {why})")
                continue
            failed_in_a_row = 0
            report.answered += 1
            board_scores = np.asarray(answer.scores, dtype=np.float64)
            diff = float(np.max(np.abs(board_scores - host))) if len(board_scores) == len(host) else math.inf
            host_label = int(np.argmax(host))
            board_label = model.labels.index(answer.label) if answer.label in model.labels else -1
            same = board_label == host_label
            agree += same
            parity += diff <= opts.score_tolerance
            report.max_score_diff = max(report.max_score_diff, diff)
            if clips.y[i] >= 0:
                with_truth += 1
                board_ok += board_label == clips.y[i]
                host_ok += host_label == clips.y[i]
            if not same or diff > opts.score_tolerance:
                report.mismatches.append({"clip": i, "file": clips.names[i], "board": answer.label,
                                          "host": model.labels[host_label], "max_score_diff": diff})
            fe.append(answer.fe_us)
            inf.append(answer.inf_us)
            rtt.append(seconds * 1000)
            extra = getattr(answer, "extra", None) or {}
            if isinstance(extra.get("inf_ins"), (int, float)):
                ins["inf_ins"].append(float(extra["inf_ins"]))
            if isinstance(extra.get("fe_ins"), (int, float)) and isinstance(extra.get("hops"), int) and extra["hops"] > 0:
                ins["fe_ins_per_hop"].append(extra["fe_ins"] / extra["hops"])
        report.complete = True
    except BoardGone as exc:
        report.error = f"{exc} ({report.answered} of {report.n_clips} clips answered; they are kept in the report)"
    except TinykdError as exc:
        report.error = str(exc)
    finally:
        if bar:
            bar.stop()
        elapsed = time.monotonic() - t_start - host_s
        stats = session.reader.stats
        report.link = {"naks": session.naks, "resends": session.resends, "resets": session.resets,
                       "bad_lines": stats.bad_lines, "dropped_lines": stats.dropped,
                       "board_errors": session.board_errors}
        session.close()
        n = max(report.answered, 1)
        report.agreement = agree / n if report.answered else 0.0
        report.score_parity = parity / n if report.answered else 0.0
        if with_truth:
            report.board_accuracy, report.host_accuracy = board_ok / with_truth, host_ok / with_truth
        report.latency = {"fe_us": _stats(fe), "inf_us": _stats(inf), "round_trip_ms": _stats(rtt)}
        report.latency.update({k: _stats(v) for k, v in ins.items() if v})
        per_clip = frame_bytes(model.input_samples)
        report.throughput = {
            "clips_per_s": report.answered / elapsed if elapsed > 0 else 0.0,
            "bytes_per_clip": per_clip,
            "baud": opts.baud,
            # 10 bits per byte on a UART (start + 8 data + stop), upload only: the answer lines go the other way
            "baud_limit_clips_per_s": opts.baud / 10 / per_clip,
            "link": link_kind(report.board.get("extra", {})),
        }
        report.passed = report.complete and report.answered == report.n_clips and report.agreement >= opts.min_agreement
        if report.answered == 0 and report.error is None:
            report.error = "no clip was answered"
        if report_path:
            report.report_file = str(report_path)
            save_json(report_path, report)
    return report


def verify(port: str, model_path: str | Path, data: str | Path, split: str = "test",
           opts: VerifyOptions | None = None, report_path: str | Path | None = None,
           progress: bool = False) -> VerifyReport:
    """Load the run's int8 model and the data split, then verify_clips(). Default report: MODEL_DIR/verify.json."""
    opts = opts or VerifyOptions()
    if not 0.0 <= opts.min_agreement <= 1.0:
        raise TinykdError(f"--min-agreement must be between 0 and 1, got {opts.min_agreement}")
    if report_path is not None and Path(report_path).is_dir():  # found now, not after the whole session
        raise TinykdError(f"--report {report_path}: is a folder; give the path of a JSON file")
    model = load_device_model(model_path)
    clips = load_clips(model, data, split, opts.limit, progress=progress)
    return verify_clips(port, model, clips, opts, report_path or model.path.parent / Int8Dir.VERIFY, progress)
