"""`tinykd flash`: generate a complete firmware project for a board, check the model fits, build, upload.

The generated folder is self-contained: the sketch (or a PlatformIO project), the firmware's core sources,
the emitted model files and a generated `tinykd_config.h`. Build tools are run with argument lists
(never a shell string) and their output is streamed. `--dry-run` prints the tree and the exact commands.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tinykd import __version__
from tinykd.artifacts import Int8Dir, deployment_hash
from tinykd.boards import Board, check_fit, get_board
from tinykd.device.link import list_ports
from tinykd.device.protocol import DEFAULT_BAUD
from tinykd.emit.project import (SKETCH, TOOLS, check_labels_fit_firmware, firmware_buffer_bytes, op_support, project_tree,
                                 what_would_fit)
from tinykd.emit.write import report_op_names
from tinykd.errors import TinykdError

BUILD_INFO = "tinykd_build.json"
ESP32_INDEX = "https://espressif.github.io/arduino-esp32/package_esp32_index.json"

INSTALL_HINTS = {
    "arduino-cli": "install arduino-cli (https://arduino.github.io/arduino-cli/latest/installation/)",
    "pio": "install PlatformIO Core (pip install platformio, or https://docs.platformio.org/en/latest/core/installation/)",
    "esptool": "install esptool (pip install esptool)",
}


@dataclass
class FlashOptions:
    board: str
    model: Path
    port: str | None = None
    tool: str = "arduino-cli"
    out: Path | None = None
    mode: str = "stream"
    hop_ms: int = 500
    baud: int = DEFAULT_BAUD
    dry_run: bool = False
    upload: bool = True


@dataclass
class FlashResult:
    out: Path
    commands: list[list[str]]
    setup: list[list[str]] = field(default_factory=list)  # one-time tool setup, printed, never run
    files: list[str] = field(default_factory=list)
    fit: str = ""


@dataclass(frozen=True)
class ModelFiles:
    """An int8 model as the firmware gets it: the record (quantize.json), the flatbuffer and its C sources."""

    folder: Int8Dir
    tflite: bytes  # the body of a signal model, or the waveform model
    frontend: bytes | None  # a signal model's front end
    sources: dict[str, str]  # model_data.h, model_data.cc, model_ops.h
    report: dict

    @property
    def flatbuffer_bytes(self) -> int:
        """Flash the model takes: every flatbuffer the firmware holds."""
        return len(self.tflite) + len(self.frontend or b"")

    @property
    def hash(self) -> str:
        """What the board reports as its model (tinykd.artifacts.deployment_hash)."""
        return deployment_hash(self.frontend, self.tflite)

    @property
    def arena_bytes(self) -> int:
        return self.folder.arena_bytes()

    @property
    def sample_rate(self) -> int:
        return self.folder.sample_rate()

    @property
    def input_samples(self) -> int:
        return int(self.report["input"]["shape"][-1])


def load_model_files(path: Path) -> ModelFiles:
    """The int8 model of RUN/int8/ (or that folder itself) with its emitted C sources.

    When the C sources are missing they are emitted now (tinykd.emit) into a temporary folder; the int8 folder
    is left as it was. Sources that do not hold this model (another hash) are refused."""
    folder = Int8Dir.find(path)
    flat = folder.flatbuffer()  # refused when it is not the model quantize.json describes
    frontend = folder.frontend_flatbuffer()
    check_labels_fit_firmware(folder.labels(), str(folder.path))
    tmp = None
    src = folder.path
    if not all((folder / f).is_file() for f in Int8Dir.C_FILES):
        from tinykd.emit.write import export_c

        tmp = Path(tempfile.mkdtemp(prefix="tinykd-emit-"))
        export_c(folder.path, tmp)
        src = tmp
    try:
        sources = {f: (src / f).read_text(encoding="utf-8") for f in Int8Dir.C_FILES}
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    files = ModelFiles(folder, flat, frontend, sources, folder.report())
    m = re.search(r'_model_hash\[\]\s*=\s*"([0-9a-f]+)"', sources[Int8Dir.C_SOURCE])
    if not m or m.group(1) != files.hash:
        raise TinykdError(f"{folder.path}/{Int8Dir.C_SOURCE} does not hold {Int8Dir.TFLITE} (hash differs); "
                          "run `tinykd export c` or `tinykd quantize` again")
    return files


def resolve_port(port: str | None, found: list[str]) -> str:
    """The port to upload to: the one given, else the only one found."""
    if port:
        return port
    if not found:
        raise TinykdError("no serial port found: plug the board in (with a data USB cable) or pass --port")
    if len(found) > 1:
        raise TinykdError(f"several serial ports found ({', '.join(found)}); pass --port to choose one")
    return found[0]


def _commands(opts: FlashOptions, board: Board, out: Path, port: str | None) -> tuple[list[list[str]], list[list[str]]]:
    """(build/upload commands, one-time setup commands)."""
    p = port or "PORT"
    if opts.tool == "arduino-cli":
        sketch = str(out / SKETCH)
        build = str(out / "build")
        cmds = [["arduino-cli", "compile", "--fqbn", board.fqbn, "--build-path", build, "--warnings", "default", sketch]]
        if opts.upload:
            cmds.append(["arduino-cli", "upload", "--fqbn", board.fqbn, "--port", p, "--input-dir", build, sketch])
        core = board.fqbn.rsplit(":", 1)[0]
        setup = [["arduino-cli", "core", "update-index", "--additional-urls", ESP32_INDEX]] if core.startswith("esp32") else []
        setup.append(["arduino-cli", "core", "install", core] + (["--additional-urls", ESP32_INDEX] if core.startswith("esp32") else []))
        if board.mcu.startswith("nrf"):
            setup.append(["arduino-cli", "lib", "install", "Chirale_TensorFLowLite"])  # the library index spells it so (its library.properties name=)
        return cmds, setup
    cmds = [["pio", "run", "--project-dir", str(out)]]
    if opts.upload:
        cmds.append(["pio", "run", "--project-dir", str(out), "--target", "upload", "--upload-port", p])
    return cmds, []


def _write_tree(out: Path, tree: dict[str, bytes], info: dict) -> None:
    """Write the project into a fresh sibling folder, then swap it in: never a half-written project."""
    if out.exists() and any(out.iterdir()) and not (out / BUILD_INFO).is_file():
        raise TinykdError(f"{out}: exists and is not a tinykd build folder; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for rel, data in tree.items():
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        (tmp / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n")
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _run(cmd: list[str], echo: Callable[[str], None]) -> None:
    """Run one build/upload command, streaming its output line by line."""
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    except FileNotFoundError:
        raise TinykdError(f"{cmd[0]} not found: {INSTALL_HINTS.get(cmd[0], 'install it')}") from None
    assert proc.stdout is not None
    for line in proc.stdout:
        echo(line.rstrip("\n"))
    if proc.wait() != 0:
        raise TinykdError(f"{shlex.join(cmd[:2])} failed (exit {proc.returncode}); its output is above")


def flash(opts: FlashOptions, echo: Callable[[str], None] = print) -> FlashResult:
    if opts.tool not in TOOLS:
        raise TinykdError(f"unknown --tool {opts.tool!r}; use one of {', '.join(TOOLS)}")
    if opts.mode not in ("stream", "verify"):
        raise TinykdError(f"--mode must be stream or verify, got {opts.mode!r}")
    if opts.hop_ms <= 0:
        raise TinykdError(f"--hop-ms must be positive, got {opts.hop_ms}")
    board = get_board(opts.board)
    files = load_model_files(opts.model)
    if board.emulated:
        raise TinykdError(f"{board.name} is an emulated board: run it with `tinykd sim --board {board.name}`")
    buffers = firmware_buffer_bytes(files.report, opts.hop_ms)
    fit = check_fit(board, files.flatbuffer_bytes, files.arena_bytes, buffers)
    if not fit.fits:
        raise TinykdError(f"{files.folder.path}: model does not fit {board.name}: {'; '.join(fit.problems)}; "
                          f"{what_would_fit(files.flatbuffer_bytes, files.arena_bytes, buffers)}")
    support = op_support(board, report_op_names(files.report))
    if not support.builds:
        raise TinykdError(f"{files.folder.path}: {support.line()}; pick a board whose TFLM has them "
                          f"(`tinykd boards`), or a model without them")
    if support.line():
        echo(f"warning: {support.line()}")
    exe = "arduino-cli" if opts.tool == "arduino-cli" else "pio"
    if not opts.dry_run and not (shutil.which(exe) or (exe == "pio" and shutil.which("platformio"))):
        raise TinykdError(f"{exe} not found on PATH: {INSTALL_HINTS[exe]}; or use --dry-run to only generate the project")
    port = None
    if opts.upload:  # a dry run prints PORT unless --port names one: it never guesses
        port = opts.port if opts.dry_run else resolve_port(opts.port, list_ports())
    out = Path(opts.out) if opts.out else files.folder.path.parent / f"firmware-{board.name}-{opts.tool}"
    out = out.resolve()
    tree = project_tree(opts.tool, board, files.sources, report=files.report, mode=opts.mode, hop_ms=opts.hop_ms,
                        baud=opts.baud)
    cmds, setup = _commands(opts, board, out, port)
    info = {"tinykd": __version__, "board": board.name, "tool": opts.tool, "model_hash": files.hash,
            "model": str(files.folder.path), "fit": fit.summary(), "mode": opts.mode, "baud": opts.baud,
            "commands": cmds, "setup": setup}
    _write_tree(out, tree, info)
    result = FlashResult(out, cmds, setup, sorted(tree) + [BUILD_INFO], fit.summary())
    echo(fit.summary())
    if opts.dry_run:
        echo(f"generated {out}/")
        for rel in result.files:
            size = (out / rel).stat().st_size
            echo(f"  {rel}  ({size} B)")
        echo("one-time setup (not run):" if setup else "one-time setup: none (PlatformIO installs the platform on first build)")
        for cmd in setup:
            echo(f"  {shlex.join(cmd)}")
        echo("commands (not run, --dry-run):")
        for cmd in cmds:
            echo(f"  {shlex.join(cmd)}")
        if opts.upload and port is None:
            echo("  PORT: pass --port (ports found: " + (", ".join(list_ports()) or "none") + ")")
        return result
    for cmd in cmds:
        echo(f"$ {shlex.join(cmd)}")
        _run(cmd, echo)
    return result


def flash_binary(board_name: str, binary: Path, port: str | None = None, *, baud: int = DEFAULT_BAUD,
                 dry_run: bool = False, echo: Callable[[str], None] = print) -> list[str]:
    """Write a prebuilt merged image (e.g. build/tinykd_fw.ino.merged.bin from an earlier build) to an
    ESP32-family board at offset 0 with esptool; returns the command."""
    board = get_board(board_name)
    if not board.mcu.startswith("esp32"):
        raise TinykdError(f"--binary writes ESP32-family boards with esptool; {board.name} is a {board.mcu}: "
                          "use --model RUN with --tool arduino-cli or pio")
    binary = Path(binary)
    if not binary.is_file() or binary.stat().st_size == 0:
        raise TinykdError(f"{binary}: no such binary (build once with tinykd flash --no-upload; arduino-cli writes "
                          "build/tinykd_fw.ino.merged.bin)")
    exe = shutil.which("esptool.py") or shutil.which("esptool")
    if exe is None and not dry_run:
        raise TinykdError(f"esptool not found on PATH: {INSTALL_HINTS['esptool']}")
    given = port
    port = port or (None if dry_run else resolve_port(None, list_ports()))
    cmd = [Path(exe).name if exe else "esptool.py", "--chip", board.mcu, "--port", port or "PORT", "--baud",
           str(baud), "write_flash", "0x0", str(binary.resolve())]
    if dry_run:
        echo("command (not run, --dry-run):")
        echo(f"  {shlex.join(cmd)}")
        if given is None:
            echo("  PORT: pass --port (ports found: " + (", ".join(list_ports()) or "none") + ")")
        return cmd
    echo(f"$ {shlex.join(cmd)}")
    _run([exe, *cmd[1:]], echo)
    return cmd
