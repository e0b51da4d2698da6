"""The serial link on the host: opening a port with clear errors, and reading protocol lines with a
timeout on every read, counting what was garbage, corrupted or missing."""

from __future__ import annotations

import os
import termios
import time
from dataclasses import dataclass

from tinykd.device.protocol import DEFAULT_BAUD, Hello, Line, ProtocolError, parse_line
from tinykd.errors import TinykdError

MAX_LINE = 4096  # longer than any line a board writes: beyond it, bytes are noise


class BoardGone(TinykdError):
    """The port vanished or failed mid-session (board unplugged, reset with USB re-enumeration)."""


WRITE_CHUNK = 512  # bytes per write call; the port's write_timeout bounds each one


def list_ports() -> list[str]:
    """USB serial ports (a dev board's USB-UART or native USB): a motherboard's /dev/ttyS0 is never a board,
    so ports without a USB vendor id are left out (pass them with --port)."""
    from serial.tools import list_ports as lp

    return sorted(p.device for p in lp.comports() if getattr(p, "vid", None) is not None)


def describe_ports() -> str:
    ports = list_ports()
    return ", ".join(ports) if ports else "none found"


def open_port(port: str, baud: int = DEFAULT_BAUD, *, exclusive: bool = True):
    """Open `port` with short read timeouts; TinykdError naming the port and the fix when it fails."""
    import serial

    if baud <= 0:
        raise TinykdError(f"--baud must be positive, got {baud}")
    try:
        # exclusive= is POSIX only (Windows ports are always exclusive).
        ser = serial.Serial(port, baud, timeout=0.05, write_timeout=5.0,
                            exclusive=exclusive if os.name == "posix" else None)
        ser.reset_input_buffer()  # bytes from before we listened belong to nobody
        return ser
    except serial.SerialException as exc:
        text = str(exc)
        if any(k in text.lower() for k in ("lock", "busy", "errno 16", "access is denied")):
            raise TinykdError(
                f"port {port} is busy: another program has it open (a serial monitor, arduino-cli, the IDE?); close it and retry"
            ) from None
        if "No such file" in text or "Errno 2" in text:
            raise TinykdError(f"port {port} does not exist; serial ports found: {describe_ports()}") from None
        if "Permission denied" in text or "Errno 13" in text:
            raise TinykdError(
                f"no permission to open {port}; add yourself to the port's group (Linux: sudo usermod -aG dialout $USER, then log in again)"
            ) from None
        raise TinykdError(f"cannot open {port}: {text}") from None
    except (OSError, ValueError) as exc:
        raise TinykdError(f"cannot open {port}: {exc}") from None


@dataclass
class LinkStats:
    lines: int = 0  # valid lines
    bad_lines: int = 0  # failed CRC or format (boot noise, line noise)
    dropped: int = 0  # sequence-number gaps not explained by a bad line
    hellos: int = 0
    noise_bytes: int = 0  # bytes discarded without a line ending within MAX_LINE


class LineReader:
    """Reads protocol lines from an open serial port. Every read is bounded by a deadline."""

    def __init__(self, ser, on_raw=None):
        self.ser = ser
        self.buf = bytearray()
        self.stats = LinkStats()
        self.on_raw = on_raw  # callback(raw_bytes, parsed_or_None) for logging
        self._expect: int | None = None
        self._bad_since_good = 0

    def _account(self, line: Line) -> None:
        if isinstance(line, Hello):
            self.stats.hellos += 1
            self._expect = line.seq + 1
            self._bad_since_good = 0
            return
        if self._expect is not None and line.seq > self._expect:
            self.stats.dropped += max(0, line.seq - self._expect - self._bad_since_good)
        self._expect = line.seq + 1
        self._bad_since_good = 0

    def read_line(self, timeout: float) -> Line | None:
        """The next valid line, or None when `timeout` seconds pass without one."""
        import serial

        deadline = time.monotonic() + timeout
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                raw = bytes(self.buf[: nl + 1])
                del self.buf[: nl + 1]
                if raw.strip() == b"":
                    continue
                try:
                    line = parse_line(raw)
                except ProtocolError:
                    self.stats.bad_lines += 1
                    self._bad_since_good += 1
                    if self.on_raw:
                        self.on_raw(raw, None)
                    continue
                self.stats.lines += 1
                self._account(line)
                if self.on_raw:
                    self.on_raw(raw, line)
                return line
            if len(self.buf) > MAX_LINE:
                self.stats.noise_bytes += len(self.buf)
                self.stats.bad_lines += 1
                self.buf.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                chunk = self.ser.read(max(1, self.ser.in_waiting or 1))
            except (serial.SerialException, OSError) as exc:
                raise BoardGone(f"port {self.ser.port} stopped working ({exc}); was the board unplugged?") from None
            if chunk:
                self.buf += chunk

    def write(self, data: bytes) -> None:
        import serial

        # In chunks: the write timeout then means "no progress for that long" (a board that stopped reading),
        # not "the whole frame took longer" (a 32 KB clip over a slow UART, or an emulated one on a busy host).
        try:
            for start in range(0, len(data), WRITE_CHUNK):
                self.ser.write(data[start : start + WRITE_CHUNK])
                self.ser.flush()
        except serial.SerialTimeoutException:
            raise BoardGone(f"port {self.ser.port}: write timed out (board not reading? flow control?)") from None
        except (serial.SerialException, OSError, termios.error) as exc:  # termios: the pty vanished mid-flush
            raise BoardGone(f"port {self.ser.port} stopped working ({exc}); was the board unplugged?") from None
