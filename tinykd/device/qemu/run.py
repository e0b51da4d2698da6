"""Running a built firmware in QEMU (mps2-an386, Cortex-M4F) with its UART on a host pseudo-terminal.

    with EmulatedBoard(build) as board:
        port = board.port          # e.g. /dev/pts/7: talk to it with tinykd verify / monitor / pyserial

QEMU runs with `-icount shift=0`: the virtual clock advances one nanosecond per instruction, so the
firmware's timer counts instructions (result lines carry them as fe_ins / inf_ins). Semihosting output
(faults, TFLM errors) goes to a log file, never to the protocol UART. Bytes the firmware writes while no
host has the pty open are lost (as on a real UART with nothing attached); `start()` therefore asks for a
hello itself and keeps it (`.hello`). Nothing here waits without a deadline, and `close()` always ends
the QEMU process (terminate, then kill).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tinykd.device.protocol import FRAME_HELLO, Hello, encode_frame
from tinykd.device.qemu.toolchain import qemu_system_arm
from tinykd.errors import TinykdError

_PTY = re.compile(r"char device redirected to (/dev/pts/\d+)")


def _die_with_parent() -> None:
    """In the child before exec: Linux ends QEMU when the thread that started it dies (PR_SET_PDEATHSIG), so a
    killed `tinykd sim` or test run never leaves an emulator spinning; elsewhere a no-op."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


class BoardDied(TinykdError):
    """The QEMU process ended (crashed, was killed, or the firmware exited)."""


def qemu_command(elf: Path, machine: str = "mps2-an386", cpu: str = "cortex-m4") -> list[str]:
    """The emulator's argument list (never a shell string)."""
    return [qemu_system_arm(), "-M", machine, "-cpu", cpu, "-display", "none", "-monitor", "none", "-serial", "pty",
            "-icount", "shift=0", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]


class EmulatedBoard:
    """One QEMU process running a FirmwareBuild; `.port` is its UART's pseudo-terminal."""

    def __init__(self, build, *, boot_timeout: float = 60.0, wait_hello: bool = True, max_seconds: float | None = None,
                 keep_log: bool = False):
        self.build = build
        self.elf = Path(build.elf)
        self.boot_timeout = boot_timeout
        self.wait_hello = wait_hello
        self.max_seconds = max_seconds  # hard limit on the emulator's life (None: until close())
        self.keep_log = keep_log  # keep log_path (QEMU and semihosting output) after close()
        self.proc: subprocess.Popen | None = None
        self.port = ""
        self.hello: Hello | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="tinykd-qemu-"))
        self.log_path = self._dir / "qemu.log"
        self._log = None
        self._timer: threading.Timer | None = None

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> str:
        """Start QEMU, find its pty, and (with wait_hello) check the firmware answers; returns the port."""
        if self.proc is not None:
            return self.port
        target = getattr(self.build, "target", None)
        cmd = qemu_command(self.elf, getattr(target, "machine", "mps2-an386"), getattr(target, "cpu", "cortex-m4"))
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     preexec_fn=_die_with_parent if os.name == "posix" else None)
        if self.max_seconds:
            self._timer = threading.Timer(self.max_seconds, self.kill)
            self._timer.daemon = True
            self._timer.start()
        try:
            self.port = self._wait_pty()
            if self.wait_hello:
                self.hello = self.request_hello(self.boot_timeout)
        except BaseException:
            self.close()
            raise
        return self.port

    def _wait_pty(self) -> str:
        deadline = time.monotonic() + min(self.boot_timeout, 30.0)
        while time.monotonic() < deadline:
            m = _PTY.search(self.log_text())
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                raise BoardDied(f"QEMU exited at start (status {self.proc.returncode}): {self._log_tail()}")
            time.sleep(0.02)
        raise TinykdError(f"QEMU printed no pty name within {min(self.boot_timeout, 30.0):g} s: {self._log_tail()}")

    def request_hello(self, timeout: float = 30.0) -> Hello:
        """Open the pty, ask for a hello (HELLO frame, repeated), return it; the port is closed again."""
        from tinykd.device.link import LineReader, open_port

        ser = open_port(self.port)
        try:
            reader = LineReader(ser)
            deadline = time.monotonic() + timeout
            frame_id = 0
            while time.monotonic() < deadline:
                self.check_alive()
                frame_id += 1
                reader.write(encode_frame(FRAME_HELLO, frame_id))
                wait_until = min(deadline, time.monotonic() + 2.0)
                while (left := wait_until - time.monotonic()) > 0:
                    line = reader.read_line(left)
                    if isinstance(line, Hello):
                        # The boot hello may have been held in the pty and this one be it: take the answer
                        # to our request too, so it does not greet the next host that opens the port.
                        quiet_until = time.monotonic() + 1.5
                        while (rest := quiet_until - time.monotonic()) > 0:
                            again = reader.read_line(rest)
                            if isinstance(again, Hello):
                                line = again
                        return line
            raise TinykdError(f"emulated board on {self.port} sent no hello within {timeout:g} s: {self._log_tail()}")
        finally:
            ser.close()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise BoardDied(f"the emulated board stopped (QEMU status {code}): {self._log_tail()}")

    def kill(self) -> None:
        """Pull the plug: QEMU dies at once (the pty disappears, the host sees the port fail)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None
        if not self.keep_log:
            shutil.rmtree(self._dir, ignore_errors=True)

    # -- diagnostics --------------------------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _log_tail(self) -> str:
        text = " | ".join(line for line in self.log_text().splitlines() if line.strip())
        return text[-400:] if text else "(QEMU printed nothing)"

    def __enter__(self) -> "EmulatedBoard":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # a forgotten board must not leave an emulator running
        try:
            self.close()
        except Exception:
            pass
