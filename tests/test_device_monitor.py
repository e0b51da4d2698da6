"""`tinykd monitor` against a board that gives no result (silent, garbage only) fails with exit status 1, on a
real pseudo-terminal; its --log and `verify --report` refuse an unusable path before the session."""

from __future__ import annotations

import os
import threading
import time

import pytest

from tinykd.cli import main


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_monitor_against_a_silent_board_exits_1(pty_pair, capsys):
    _, port = pty_pair
    assert main(["monitor", "--port", port, "--duration", "0.6", "--plain"]) == 1
    captured = capsys.readouterr()
    assert "0 results" in captured.out
    assert "no result and no valid line" in captured.err and "--baud" in captured.err and "Traceback" not in captured.err


def test_monitor_against_garbage_only_exits_1(pty_pair, capsys):
    master, port = pty_pair
    stop = threading.Event()

    def babble() -> None:  # a ROM boot loader at the wrong baud rate: bytes, lines, never a valid one
        while not stop.is_set():
            os.write(master, b"\x00\xff ets Jun  8 2016 rst:0x1 garbage\r\n\x8f\x13#R 1 2 3 crc=zz\n")
            time.sleep(0.02)

    thread = threading.Thread(target=babble, daemon=True)
    thread.start()
    try:
        assert main(["monitor", "--port", port, "--duration", "0.8", "--plain"]) == 1
    finally:
        stop.set()
        thread.join(2)
    err = capsys.readouterr().err
    assert "unreadable line(s)" in err and "Traceback" not in err


def test_monitor_log_to_a_folder_is_one_line(pty_pair, tmp_path, capsys):
    _, port = pty_pair
    assert main(["monitor", "--port", port, "--duration", "0.2", "--log", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --log") and "Traceback" not in err


def test_verify_report_to_a_folder_is_refused_before_the_session(tmp_path, capsys):
    assert main(["verify", "--port", "/dev/null", "--model", str(tmp_path), "--data", str(tmp_path),
                 "--report", str(tmp_path)]) == 2
    assert "is a folder; give the path of a JSON file" in capsys.readouterr().err
