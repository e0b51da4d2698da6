"""`tinykd boards`, `flash`, `monitor`, `verify`, `sim` (tinykd.boards, tinykd.device)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from tinykd.cli.app import app, console, err_console
from tinykd.device.protocol import DEFAULT_BAUD
from tinykd.errors import TinykdError

BAUD_HELP = "Serial speed in baud; must match the firmware's."


@app.command("boards")
def boards_cmd() -> None:
    """List the boards `tinykd flash` supports, with their flash/RAM limits and what the firmware needs."""
    from rich.table import Table

    from tinykd.boards import BOARDS

    table = Table(title="boards: sizes in KB (1024 B), from tinykd/boards.py")
    table.add_column("board", no_wrap=True)
    for col in ("flash", "RAM", "arena max", "model max"):
        table.add_column(col, justify="right")
    table.add_column("arduino-cli fqbn", no_wrap=True)
    for b in BOARDS.values():
        table.add_row(b.name, f"{b.flash_bytes / 1024:.0f}", f"{b.ram_bytes / 1024:.0f}",
                      f"{b.arena_budget / 1024:.0f}", f"{b.model_flash_budget / 1024:.0f}", b.fqbn)
    console.print(table)
    for b in BOARDS.values():
        console.print(f"{b.name}: {b.title}, mcu {b.mcu}; PlatformIO board {b.pio_board}. {b.notes}", highlight=False)


@app.command("flash")
def flash_cmd(
    board: str = typer.Option(..., "--board", help="Board id from `tinykd boards` (esp32, esp32s3, nano33ble)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Run folder (uses RUN/int8/) or int8 folder with model_data.h/.cc and model_ops.h."),
    binary: Optional[Path] = typer.Option(None, "--binary", help="Instead of --model: write this prebuilt merged image to an ESP32 board with esptool."),
    port: Optional[str] = typer.Option(None, "--port", help="Serial port to upload to; default: the only port found."),
    tool: str = typer.Option("arduino-cli", "--tool", help="Build tool: arduino-cli or pio (PlatformIO)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Build folder to generate (default: RUN/firmware-<board>-<tool>)."),
    mode: str = typer.Option("stream", "--mode", help="Mode after boot: stream (microphone) or verify (host sends clips)."),
    hop_ms: int = typer.Option(500, "--hop-ms", help="Stream mode: milliseconds between inferences (the window is the model's input)."),
    baud: int = typer.Option(DEFAULT_BAUD, "--baud", help=BAUD_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Generate the folder, print its tree and the exact commands; run nothing."),
    no_upload: bool = typer.Option(False, "--no-upload", help="Build only; do not upload."),
) -> None:
    """Generate a complete firmware project for BOARD with the run's model, check it fits, build and upload it.

    Output: the build folder (sketch or PlatformIO project + model files). The build tool's output is streamed.
    """
    from tinykd.device.flash import FlashOptions, flash, flash_binary

    def echo(text: str) -> None:
        console.print(text, soft_wrap=True, highlight=False, markup=False)

    if (model is None) == (binary is None):
        raise TinykdError("give either --model RUN (build and upload) or --binary FILE (write a prebuilt image)")
    if binary is not None:
        flash_binary(board, binary, port, baud=baud, dry_run=dry_run, echo=echo)
        return
    result = flash(FlashOptions(board=board, model=model, port=port, tool=tool, out=out, mode=mode, hop_ms=hop_ms,
                                baud=baud, dry_run=dry_run, upload=not no_upload), echo=echo)
    console.print(f"build folder: {result.out}")


@app.command("monitor")
def monitor_cmd(
    port: str = typer.Option(..., "--port", help="Serial port of the board (or the path `tinykd sim` printed)."),
    baud: int = typer.Option(DEFAULT_BAUD, "--baud", help=BAUD_HELP),
    log: Optional[Path] = typer.Option(None, "--log", help="Append every line received (time, ok/bad, text) to this file."),
    duration: Optional[float] = typer.Option(None, "--duration", help="Stop after this many seconds (default: until Ctrl-C)."),
    count: Optional[int] = typer.Option(None, "--count", help="Stop after this many results."),
    reconnect_timeout: float = typer.Option(10.0, "--reconnect-timeout", help="Seconds to wait for a vanished port to come back."),
    plain: bool = typer.Option(False, "--plain", help="One printed line per result instead of the live view."),
) -> None:
    """Show a board's results live: label, confidence, timings, with counts of bad/dropped lines and resets.

    Exit 0 when the board was heard, 1 when not one valid line came (a silent board, the wrong baud rate, garbage
    only), 2 on errors.
    """
    from tinykd.device.monitor import MonitorFailed
    from tinykd.device.monitor_view import run_monitor_view

    state = run_monitor_view(console, port, baud, log=log, duration=duration, count=count,
                             reconnect_timeout=reconnect_timeout, plain=plain)
    if state is not None and state.failure():  # silent or garbage only: a failure, exit 1
        raise MonitorFailed(state.failure())


@app.command("verify")
def verify_cmd(
    port: str = typer.Option(..., "--port", help="Serial port of the board (or the path `tinykd sim` printed)."),
    model: Path = typer.Option(..., "--model", help="Run folder (uses RUN/int8/model_int8.tflite) or the .tflite the board runs."),
    data: Path = typer.Option(..., "--data", help="Dataset folder (same layout as for distill)."),
    split: str = typer.Option("test", "--split", help="Which split to send: train, val or test."),
    baud: int = typer.Option(DEFAULT_BAUD, "--baud", help=BAUD_HELP),
    min_agreement: float = typer.Option(1.0, "--min-agreement", help="Exit 1 when fewer than this fraction of clips get the host's top label."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N clips of the split."),
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds to wait for each clip's answer before resending."),
    retries: int = typer.Option(3, "--retries", help="Resends per clip (after a NAK, a lost answer or a reset)."),
    report: Optional[Path] = typer.Option(None, "--report", help="JSON report path (default: MODEL_DIR/verify.json)."),
) -> None:
    """Send the split's clips to the board as int16 PCM and compare its scores with the host TFLM interpreter.

    Prints agreement, accuracy, mismatches and latencies; writes a JSON report. Exit 0 when every clip was
    answered and agreement >= --min-agreement, 1 otherwise, 2 on errors.
    """
    from tinykd.device.verify import VerifyFailed, VerifyOptions, verify
    from tinykd.device.verify_view import print_verify_report

    opts = VerifyOptions(baud=baud, min_agreement=min_agreement, retries=retries, answer_timeout=timeout, limit=limit)
    rep = verify(port, model, data, split, opts, report, progress=True)
    print_verify_report(console, rep)
    if rep.error:
        raise TinykdError(rep.error)
    if not rep.passed:  # an exception, not typer.Exit: main() returns its exit code
        raise VerifyFailed(f"agreement {rep.agreement:.2%} with {rep.answered}/{rep.n_clips} clips answered; "
                           f"needed {rep.min_agreement:.2%} and every clip")


def _emulated(model: Path, board: str, kernels: str, tflm: Optional[Path], mode: str,
              duration: Optional[float]) -> None:
    import time

    from tinykd.device.qemu import EmulatedBoard
    from tinykd.device.qemu.launch import build_for

    with err_console.status(f"cross-compiling the firmware for {board} ({kernels} kernels)"):
        build = build_for(model, board, tflm=tflm, kernels=kernels, mode=mode)
    parts = ", ".join(f"{k} {v:,}" for k, v in build.sizes.flash_by_part.items())
    console.print(f"firmware {build.elf} ({'cached' if build.cached else 'built'}): flash {build.sizes.flash_bytes:,} B "
                  f"({parts}); RAM {build.sizes.ram_bytes:,} B", highlight=False, soft_wrap=True)
    with EmulatedBoard(build, max_seconds=duration) as emulated:
        hello = emulated.hello
        console.print(f"emulated board on {emulated.port}  {board} (QEMU)  model {hello.model_hash if hello else '?'}  "
                      f"mode {mode}", highlight=False, soft_wrap=True)
        sys.stdout.flush()
        try:
            while emulated.alive:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    console.print(f"emulated board stopped ({board})")


@app.command("sim")
def sim_cmd(
    run: Optional[Path] = typer.Option(None, "--run", help="Run folder whose int8 model the virtual board runs."),
    model: Optional[Path] = typer.Option(None, "--model", help="Or a .tflite file (labels.json beside it or one folder up)."),
    mode: str = typer.Option("stream", "--mode", help="Mode after boot: stream (plays --audio as the microphone) or verify."),
    audio: Optional[Path] = typer.Option(None, "--audio", help="WAV file or folder played as the microphone (default: generated tones)."),
    hop: Optional[int] = typer.Option(None, "--hop", help="Stream mode: samples between windows (default: half the model input)."),
    speed: float = typer.Option(1.0, "--speed", help="Play the microphone this many times faster than real time."),
    fault: list[str] = typer.Option([], "--fault", help="Misbehave: garbage[@BYTES], corrupt-line[@N], drop-line[@N], reset[@N], slow[@MS], corrupt-frame[@N], silent, skew[@N] (wrong answers). Repeatable."),
    duration: Optional[float] = typer.Option(None, "--duration", help="Stop after this many seconds (default: until Ctrl-C)."),
    sample_rate: Optional[int] = typer.Option(None, "--sample-rate", help="Model sample rate if the run does not say (default from model_data.h or config.json)."),
    emulate_baud: int = typer.Option(0, "--emulate-baud", help="Make every byte take 10 bit times at this baud rate, like a real UART (default 0: as fast as the pty goes)."),
    board_name: Optional[str] = typer.Option(None, "--board", help="An emulated board from `tinykd boards` (qemu-nano33ble): cross-compile the real firmware with TFLM and run it in QEMU instead of the virtual board."),
    kernels: str = typer.Option("cmsis-nn", "--kernels", help="With --board: cmsis-nn (optimised) or reference TFLM kernels."),
    tflm: Optional[Path] = typer.Option(None, "--tflm", help="With --board: a TFLM source tree or archive (default: the vendored tree in ../shared/vendor)."),
) -> None:
    """Run a board on a pseudo-terminal and print its port: the virtual board (the firmware's C core + the TFLM
    interpreter), or with --board an emulated microcontroller running the real firmware in QEMU.

    Point `tinykd monitor` or `tinykd verify` at the printed path.
    """
    from tinykd.device.model import load_device_model
    from tinykd.device.sim import VirtualBoard, load_audio, parse_faults

    if (run is None) == (model is None):
        raise TinykdError("give exactly one of --run RUN or --model X.tflite")
    if board_name is not None:
        return _emulated(run or model, board_name, kernels, tflm, mode, duration)
    faults = parse_faults(fault)
    dm = load_device_model(run or model, sample_rate)
    board = VirtualBoard(dm, mode=mode, hop=hop, faults=faults, speed=speed, baud=emulate_baud,
                         audio=load_audio(audio, dm.sample_rate) if audio else None)
    board.boot()  # power-on output lands before anyone can open the port, like a board plugged in earlier
    console.print(f"virtual board on {board.port}  model {dm.hash}  {dm.sample_rate} Hz x {dm.input_samples}  "
                  f"mode {mode}  faults {','.join(f'{k}@{v}' for k, v in faults.items()) or 'none'}", highlight=False,
                  soft_wrap=True)
    sys.stdout.flush()
    try:
        stats = board.run(duration)
    except KeyboardInterrupt:
        stats = board.counters()
    finally:
        board.close()
    console.print(f"sim stopped: {stats.results} results, {stats.frames_ok} frames ok, {stats.frames_bad} bad, "
                  f"{stats.resets} resets, faults applied: {', '.join(stats.faults_applied) or 'none'}")
