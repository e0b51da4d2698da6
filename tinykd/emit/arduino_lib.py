"""`tinykd export arduino`: a quantized model and the tinykd firmware as an Arduino library zip.

What `arduino-cli lib install --zip-path FILE.zip` (and the IDE's "Add .ZIP Library") installs: a zip holding
ONE top folder, the library, in the Arduino 1.5 library layout:

    <Name>/library.properties     name, version, ..., depends= its TFLM library on Mbed boards
    <Name>/README.md              how to build it, which TFLM each board uses, what the model needs
    <Name>/src/<Name>.h           the library's header (includes= of library.properties)
    <Name>/src/model_data.h, model_data.cpp, model_ops.h   the model, as tinykd.emit writes it (a signal
                                  model's front end flatbuffer is in model_data.cpp beside the body's)
    <Name>/src/core/*, src/tflm/* the tinykd board core and TFLM glue (the builder compiles src/ recursively)
    <Name>/examples/<Name>/<Name>.ino           the tinykd firmware sketch (tinykd_fw.ino)
    <Name>/examples/<Name>/tinykd_config.h, tinykd_pins.h   the sketch's settings, for the user to edit

The files come from tinykd.emit.project (the same ones `tinykd flash` writes); the C sources are emitted
afresh from the run's int8 flatbuffer(s), so the model bytes in the zip are the run's. The zip is built in
memory and written atomically, with fixed timestamps: the same run gives the same bytes.

Which TFLM: on the Nano 33 BLE (Arduino Mbed core) the Chirale_TensorFlowLite library (`depends=`); on ESP32
boards the arduino-esp32 3.x core's bundled esp-tflite-micro, so nothing more. `tinykd.tflite.ops.missing_ops`
says what a model's resolver lacks on each, and the README says it.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from tinykd import __version__
from tinykd.artifacts import Int8Dir
from tinykd.boards import DEFAULT_BAUD, check_fit, get_board
from tinykd.configio import atomic_write_bytes
from tinykd.emit.identifiers import c_identifier
from tinykd.emit.op_resolver import resolver_methods
from tinykd.emit.project import check_labels_fit_firmware, firmware_buffer_bytes, project_tree
from tinykd.errors import TinykdError

# The Arduino Library Manager's name of Chirale_TensorFlowLite (its library.properties spells it with "FL";
# its authors' ArduTFLite names it so in depends=).
MBED_TFLM_LIBRARY = "Chirale_TensorFLowLite"
ARCHITECTURES = ("mbed_nano", "esp32")
# The boards the example's settings are written for: the Mbed path and the ESP32 path of the sketch, with the
# TFLM library (tinykd.tflite.ops target) each is built with. arduino-esp32 3.x bundles esp-tflite-micro >= 1.2.0
# (per core release): the README checks against the oldest.
BOARD_PATHS = (("nano33ble", "ARDUINO_ARCH_MBED", "chirale-2.0.0"), ("esp32", None, "esp-tflite-micro-1.2.0"))
_TFLM_OF = {"chirale-2.0.0": f"{MBED_TFLM_LIBRARY} 2.0.0",
            "esp-tflite-micro-1.2.0": "arduino-esp32 3.x's esp-tflite-micro, checked against its oldest, 1.2.0"}
PROJECT_URL = "https://pypi.org/project/tinykd/"
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)
_MAX_NAME = 63  # Arduino's limit for sketch names
_SKETCH_INCLUDES = re.compile(
    r'#ifdef PLATFORMIO\n#include "core/tkd_board\.h"\n#include "tflm/tkd_app\.h"\n#else\n'
    r'#include "src/core/tkd_board\.h"\n#include "src/tflm/tkd_app\.h"\n#endif\n')


def library_name(text: str) -> str:
    """A name valid as an Arduino library AND sketch name (letters, digits, `_`; a letter first; 63 at most)."""
    ident = c_identifier(text, what="library name")  # one-line error when nothing usable is left
    return ident if len(ident) <= _MAX_NAME else ident[:_MAX_NAME].rstrip("_")


def _one_line(text: str) -> str:
    """A library.properties value: one line, no control characters."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def _model_sources(folder: Int8Dir) -> dict[str, str]:
    """model_data.h, model_data.cc and model_ops.h emitted now from the run's flatbuffer(s) and quantize.json."""
    from tinykd.emit.write import export_c

    tmp = Path(tempfile.mkdtemp(prefix="tinykd-arduino-"))
    try:
        export_c(folder.path, tmp)
        return {name: (tmp / name).read_text(encoding="utf-8") for name in Int8Dir.C_FILES}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _example_sketch(sketch: str) -> str:
    """The firmware sketch as a library example: the core and the glue are under the library's src/ (on the
    include path), the layout PlatformIO also uses."""
    if not _SKETCH_INCLUDES.search(sketch):
        raise TinykdError("firmware/tinykd_fw/tinykd_fw.ino: its core/tflm #include block changed; "
                          "tinykd.emit.arduino_lib must follow it")
    return _SKETCH_INCLUDES.sub(
        '// tinykd library: the core and the TFLM glue are in the library\'s src/, on the include path.\n'
        '#include "core/tkd_board.h"\n#include "tflm/tkd_app.h"\n', sketch, count=1)


def _config_header(trees: dict[str, dict[str, bytes]]) -> str:
    """tinykd_config.h for the example: the settings `tinykd flash` writes for each board path, chosen by the
    core's own define (ESP32 boards with PSRAM: set TINYKD_ARENA_PLACEMENT in it)."""
    parts = ["// tinykd export arduino: the example's build settings, one block per board path. Edit freely:",
             "// board name (the hello line), baud, mode after boot, stream hop, arena placement (ESP32).", ""]
    first = True
    for board, define, _ in BOARD_PATHS:
        text = trees[board]["src/tinykd_config.h"].decode()
        body = [ln for ln in text.rstrip("\n").splitlines() if not ln.startswith("// Generated by")]
        parts.append(f"#{'if' if first else 'elif'} defined({define})" if define else "#else")
        parts += body
        first = False
    parts += ["#endif", ""]
    return "\n".join(parts)


def _library_header(name: str) -> str:
    guard = f"{name.upper()}_H_"
    return "\n".join([
        f"// {name}: a tinykd model for TensorFlow Lite Micro (generated by tinykd export arduino; do not edit).",
        "// The example sketch (File > Examples) is the complete tinykd firmware; your own sketch can include",
        "// this header and run the model with TFLM's MicroInterpreter and tinykd_register_ops().",
        f"#ifndef {guard}",
        f"#define {guard}",
        "#if defined(ARDUINO_ARCH_MBED)",
        f"#include <Chirale_TensorFlowLite.h>  // TFLM on Mbed boards ({MBED_TFLM_LIBRARY}, this library's depends=)",
        "#endif",
        '#include "model_data.h"',
        '#include "model_ops.h"',
        f"#endif  // {guard}",
        "",
    ])


def _properties(name: str, labels: list[str], report: dict, url: str) -> str:
    kind = "front end + int8 body" if report.get("kind") == "signal" else "int8 waveform model"
    shown = ", ".join(labels[:12]) + (", ..." if len(labels) > 12 else "")
    fields = {
        "name": name,
        "version": __version__,
        "author": "tinykd",
        "maintainer": "tinykd",
        "sentence": f"A {len(labels)}-class audio classifier ({shown}) for TensorFlow Lite Micro, made by tinykd.",
        "paragraph": (f"{kind}, {report['sample_rate']} Hz, TFLM arena {report['arena']['bytes']} B. The example is the "
                      "tinykd firmware: it streams microphone results or verifies uploaded clips over the tinykd "
                      "serial protocol (tinykd monitor, tinykd verify). Mbed boards need Chirale_TensorFlowLite; "
                      "ESP32 boards use the TFLite Micro their core bundles."),
        "category": "Data Processing",
        "url": url,
        "architectures": ",".join(ARCHITECTURES),
        "includes": f"{name}.h",
        "depends": MBED_TFLM_LIBRARY,
    }
    return "".join(f"{k}={_one_line(str(v))}\n" for k, v in fields.items())


def _readme(name: str, labels: list[str], report: dict, methods: list[str], fits: dict[str, str]) -> str:
    from tinykd.tflite.ops import missing_ops

    lines = [f"# {name}", "",
             f"A tinykd model ({len(labels)} classes: {', '.join(labels)}) with the tinykd firmware as its example.",
             "Generated by `tinykd export arduino`; do not edit the files in src/ (export again instead).", "",
             "## Install and build", "",
             "```",
             "arduino-cli config set library.enable_unsafe_install true   # once: allows --zip-path",
             f"arduino-cli lib install --zip-path {name}.zip",
             f"arduino-cli lib install {MBED_TFLM_LIBRARY}                 # Nano 33 BLE only",
             f"arduino-cli compile --fqbn arduino:mbed_nano:nano33ble ~/Arduino/libraries/{name}/examples/{name}",
             "```", "",
             ("In the Arduino IDE: Sketch > Include Library > Add .ZIP Library, then File > Examples > "
              f"{name} > {name}."), "",
             "## Which TensorFlow Lite Micro", "",
             (f"- Nano 33 BLE (Arduino Mbed OS core): the {MBED_TFLM_LIBRARY} library (Chirale_TensorFlowLite 2.0.0), "
              "named in library.properties `depends=`."),
             ("- ESP32 boards (arduino-esp32 core 3.x): the core's bundled esp-tflite-micro (\"TFLite Micro\", with "
              "ESP-NN); nothing to install, and the depends= above is not used there."), ""]
    lines += ["## What this model needs", "",
              f"Resolver methods (model_ops.h): {', '.join(methods)}.", ""]
    for board, _, target in BOARD_PATHS:
        lacking = missing_ops(methods, target)
        if lacking:
            lines.append(f"- {board} ({_TFLM_OF[target]}): LACKS {', '.join(lacking)}: the example does not compile "
                         "there with that TFLM (a signal model's front end needs TFLM's Signal library).")
        else:
            lines.append(f"- {board} ({_TFLM_OF[target]}): has every one.")
        lines.append(f"  Fit (tinykd/boards.py): {fits[board]}.")
    lines += ["", "## Settings", "",
              (f"examples/{name}/tinykd_config.h (baud, mode after boot, stream hop, ESP32 arena placement) and "
               "tinykd_pins.h (microphone pins) belong to the sketch: edit them there."), ""]
    return "\n".join(lines)


def _safe_member(rel: str) -> str:
    """A zip member name that stays inside the archive's top folder: relative, no `..`, no backslash."""
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or "\\" in rel or not p.parts or any(c < " " for c in rel):
        raise TinykdError(f"refusing zip member name {rel!r}: it would leave the library folder")
    return p.as_posix()


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        dirs = sorted({str(PurePosixPath(rel).parents[i]) for rel in files for i in range(len(PurePosixPath(rel).parts) - 1)})
        for d in dirs:
            info = zipfile.ZipInfo(_safe_member(d) + "/", _FIXED_TIME)
            info.external_attr = (0o40755 << 16) | 0x10
            zf.writestr(info, b"")
        for rel in sorted(files):
            info = zipfile.ZipInfo(_safe_member(rel), _FIXED_TIME)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[rel])
    return buf.getvalue()


def library_files(run: str | os.PathLike, name: str | None = None, *, mode: str = "stream", hop_ms: int = 500,
                  baud: int = DEFAULT_BAUD, url: str = PROJECT_URL) -> tuple[str, dict[str, bytes]]:
    """(library name, path in the zip -> content) of the library for RUN (or its int8 folder)."""
    from tinykd.emit.write import report_op_names

    folder = Int8Dir.find(run)
    labels = folder.labels()
    check_labels_fit_firmware(labels, str(folder.path))
    report = folder.report()
    # refused when they are not the model(s) quantize.json describes
    model_bytes = len(folder.flatbuffer()) + len(folder.frontend_flatbuffer() or b"")
    sources = _model_sources(folder)
    lib = library_name(name if name is not None else f"tinykd_{folder.path.resolve().parent.name}")
    trees = {board: project_tree("pio", get_board(board), sources, report=report, mode=mode, hop_ms=hop_ms,
                                 baud=baud) for board, _, _ in BOARD_PATHS}
    tree = trees[BOARD_PATHS[0][0]]
    buffers = firmware_buffer_bytes(report, hop_ms)
    fits = {board: check_fit(board, model_bytes, folder.arena_bytes(), buffers).summary() for board, _, _ in BOARD_PATHS}
    methods = resolver_methods(report_op_names(report))  # what model_ops.h registers, in its order
    files: dict[str, bytes] = {
        "library.properties": _properties(lib, labels, report, url).encode(),
        "README.md": _readme(lib, labels, report, methods, fits).encode(),
        f"src/{lib}.h": _library_header(lib).encode(),
        f"examples/{lib}/{lib}.ino": _example_sketch(tree["src/main.cpp"].decode()).encode(),
        f"examples/{lib}/tinykd_config.h": _config_header(trees).encode(),
        f"examples/{lib}/tinykd_pins.h": tree["src/tinykd_pins.h"],
    }
    for rel, data in tree.items():
        if rel.startswith(("src/core/", "src/tflm/")) or rel in ("src/model_data.h", "src/model_data.cpp",
                                                                  "src/model_ops.h"):
            files[rel] = data
    return lib, {f"{lib}/{rel}": data for rel, data in files.items()}


def export_arduino(run: str | os.PathLike, out: str | os.PathLike | None = None, *, name: str | None = None,
                   mode: str = "stream", hop_ms: int = 500, baud: int = DEFAULT_BAUD, url: str = PROJECT_URL) -> Path:
    """Write the Arduino library zip for RUN (or its int8 folder) to `out` (default RUN/<name>.zip); returns
    its path. `name`: the library (and example) name, default `tinykd_<run folder>`."""
    lib, files = library_files(run, name, mode=mode, hop_ms=hop_ms, baud=baud, url=url)
    if out is None:
        out = Int8Dir.find(run).path.resolve().parent / f"{lib}.zip"
    out = Path(out)
    if out.is_dir():
        raise TinykdError(f"{out}: is a folder; give the path of the .zip file to write (e.g. {out / (lib + '.zip')})")
    if out.suffix.lower() != ".zip":
        raise TinykdError(f"{out}: an Arduino library zip must end in .zip; pass --out {out.with_suffix('.zip')}")
    atomic_write_bytes(out, _zip_bytes(files))
    return out
