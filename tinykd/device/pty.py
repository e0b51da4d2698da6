"""A pseudo-terminal that behaves like a board's USB serial port, for the virtual board.

Bytes pass raw (no echo, no CR/LF translation). Opening the port with pyserial is detected (ESP32 dev boards
reset when a host opens the port: DTR/RTS auto-reset; a pty has no modem lines, but opening it with pyserial
sets its speed, so the port parks its speed at B50 and treats any other value as "a host opened the port").
With `baud` > 0 every byte costs 10 bit times (start + 8 data + stop) in both directions, like a real UART.
A host that stops reading fills the pty's buffer; further bytes are dropped and counted, as a UART drops them.
"""

from __future__ import annotations

import os
import select
import termios
import time
import tty

from tinykd.errors import TinykdError


class PtyPort:
    def __init__(self, baud: int = 0):
        if baud < 0:
            raise TinykdError(f"--emulate-baud must be >= 0, got {baud}")
        self.byte_s = 10.0 / baud if baud else 0.0
        self.bytes_dropped = 0
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self._park_speed()
        self._open_seen_at: float | None = None
        self._last_speed_check = 0.0
        os.set_blocking(self.master, False)
        self.name = os.ttyname(self.slave)

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = os.write(self.master, view)
            except BlockingIOError:  # host not reading and its buffer is full: a UART drops bytes too
                self.bytes_dropped += len(view)
                return
            view = view[sent:]
        if self.byte_s:
            time.sleep(len(data) * self.byte_s)

    def receive(self, wait_s: float) -> bytes:
        """Bytes the host sent, waiting up to `wait_s` for the first."""
        ready, _, _ = select.select([self.master], [], [], wait_s)
        if not ready:
            return b""
        try:
            data = os.read(self.master, 65536)
        except (BlockingIOError, InterruptedError):
            return b""
        if data and self.byte_s:
            time.sleep(len(data) * self.byte_s)
        return data

    def _park_speed(self) -> None:
        attrs = termios.tcgetattr(self.slave)
        attrs[4] = attrs[5] = termios.B50
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)

    def host_opened(self, now: float) -> bool:
        """True once, about 50 ms after a host opened the port (after pyserial's own input flush)."""
        if now - self._last_speed_check > 0.01:
            self._last_speed_check = now
            if termios.tcgetattr(self.slave)[4] != termios.B50:
                self._park_speed()
                self._open_seen_at = now
        if self._open_seen_at is not None and now - self._open_seen_at > 0.05:
            self._open_seen_at = None
            return True
        return False

    def close(self) -> None:
        for fd in (self.master, self.slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.slave = None
