"""`tinykd export arduino` (tinykd.emit.arduino_lib): the Arduino library zip.

- the layout arduino-cli's `lib install --zip-path` takes: one top folder holding library.properties (every
  field the Arduino library specification requires, depends= the Mbed TFLM library), src/ (the model, the
  tinykd core and TFLM glue, the library header) and examples/<Name>/<Name>.ino; member names confined;
- the example compiles against the REAL headers (tests/test_firmware_sketch.py's machinery: Chirale_TensorFlowLite
  for the Mbed path, esp-tflite-micro for the ESP32 path), as the Arduino builder compiles a library example:
  the sketch folder, then every .cpp under the library's src/; a signal model fails on Mbed with exactly the
  Signal ops tinykd.tflite.ops predicts missing;
- the model bytes in the zip are the run's (body and front end);
- bad input: no int8 model, an output that is a folder / not writable / not .zip: one-line errors.

- Arduino's own builder (Debian's `arduino-builder` 1.3.25, when installed) finds the library in a
  libraries folder by its headers (Chirale_TensorFlowLite.h -> Chirale, model_data.h -> this library), walks its
  src/ recursively, and generates the sketch's prototypes; that generated sketch compiles against Chirale's
  real headers. arduino-builder needs a platform to run: a STAND-IN platform (boards.txt, platform.txt with
  only a preprocessor recipe, the Arduino core STAND-IN headers) is written for it. Skipped without it.

NOT run: arduino-cli itself (not on this machine; nothing can download it): the zip layout is checked against
its documented rules (one top folder, library.properties, src/, examples/).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from device_support import DIGITS, cached_run
from test_firmware_sketch import assert_compiles_as_predicted, compile_units, header_set, write_arduino_stand_ins
from test_qemu_helpers import require_host_compiler, require_vendor, signal_pair
from tinykd.emit.arduino_lib import MBED_TFLM_LIBRARY, _safe_member, export_arduino, library_name
from tinykd.errors import TinykdError

REQUIRED_FIELDS = ("name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url",
                   "architectures")
CATEGORIES = ("Display", "Communication", "Signal Input/Output", "Sensors", "Device Control", "Timing",
              "Data Storage", "Data Processing", "Other")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("export_models")
    return {"waveform": cached_run(base, DIGITS, int8_io=True), "signal": signal_pair(base)[0].parent}


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


@pytest.mark.parametrize("kind", ["waveform", "signal"])
def test_zip_has_the_layout_arduino_cli_installs(runs, tmp_path, kind):
    out = export_arduino(runs[kind], tmp_path / "lib.zip")
    assert out == tmp_path / "lib.zip"
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        tops = {PurePosixPath(n).parts[0] for n in names}
        assert len(tops) == 1  # arduino-cli: exactly one folder at the top of the zip
        lib = tops.pop()
        for n in names:
            p = PurePosixPath(n)
            assert not p.is_absolute() and ".." not in p.parts and "\\" not in n
        props = _properties(zf.read(f"{lib}/library.properties").decode())
        files = {n[len(lib) + 1 :] for n in names if not n.endswith("/")}
        readme = zf.read(f"{lib}/README.md").decode()
    assert all(props.get(k) for k in REQUIRED_FIELDS), props
    assert props["name"] == lib and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,62}", lib)
    assert re.fullmatch(r"\d+\.\d+\.\d+", props["version"]) and props["category"] in CATEGORIES
    assert props["depends"] == MBED_TFLM_LIBRARY and set(props["architectures"].split(",")) == {"mbed_nano", "esp32"}
    assert props["includes"] == f"{lib}.h"
    model = {"src/model_data.h", "src/model_data.cpp", "src/model_ops.h", f"src/{lib}.h"}
    glue = {"src/tflm/tkd_tflm.cpp", "src/tflm/tkd_tflm.h", "src/tflm/tkd_app.h", "src/tflm/tkd_model_desc.h"}
    sketch = {f"examples/{lib}/{lib}.ino", f"examples/{lib}/tinykd_config.h", f"examples/{lib}/tinykd_pins.h"}
    assert model | glue | sketch | {"library.properties", "README.md", "src/core/tkd_board.cpp"} <= files
    assert all(f.startswith(("src/", "examples/")) for f in files - {"library.properties", "README.md"})
    # The README says which TFLM each board uses, and what this model lacks on the Mbed library.
    assert "esp-tflite-micro" in readme and MBED_TFLM_LIBRARY in readme
    assert ("LACKS AddEnergy" in readme) == (kind == "signal")


def test_model_bytes_in_the_zip_are_the_runs(runs, tmp_path):
    from tinykd.emit import parse_model_array

    for kind, run in runs.items():
        out = export_arduino(run, tmp_path / f"{kind}.zip")
        with zipfile.ZipFile(out) as zf:
            lib = zf.namelist()[0].split("/")[0]
            source = zf.read(f"{lib}/src/model_data.cpp").decode()
        assert parse_model_array(source) == (run / "int8" / "model_int8.tflite").read_bytes()
        if kind == "signal":
            assert parse_model_array(source, "tinykd_frontend") == (run / "int8" / "frontend.tflite").read_bytes()
    again = export_arduino(runs["waveform"], tmp_path / "again.zip")
    assert again.read_bytes() == (tmp_path / "waveform.zip").read_bytes()  # fixed timestamps: reproducible


def _installed(zip_path: Path, libraries: Path) -> tuple[Path, Path]:
    """(library folder, example folder) as `lib install --zip-path` leaves them in the libraries folder."""
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(libraries)
    lib = next(libraries.iterdir())
    return lib, lib / "examples" / lib.name


@pytest.mark.parametrize("kind, board", [("waveform", "nano33ble"), ("signal", "nano33ble"), ("waveform", "esp32")])
def test_example_compiles_against_the_real_headers(runs, tmp_path, kind, board):
    """The example as the Arduino builder compiles it: the sketch (its folder first on the include path), then
    every .cpp of the library's src/ (recursively), with the TFLM library's headers."""
    require_host_compiler()
    require_vendor("esp-tflite-micro", "esp-nn", "chirale")
    from test_firmware_sketch import BOARD_TARGET, model_methods

    stand_ins = write_arduino_stand_ins(tmp_path / "stand_ins")
    lib, example = _installed(export_arduino(runs[kind], tmp_path / "lib.zip"), tmp_path / "libraries")
    target, arch = BOARD_TARGET[board]
    units = [example / f"{lib.name}.ino", *sorted((lib / "src").rglob("*.cpp"))]
    if board == "nano33ble" and kind == "waveform":  # a user's own sketch that includes the library header
        user = tmp_path / "user.cpp"
        user.write_text(f'#include <{lib.name}.h>\nint tkd_ops() {{ return kTinykdNumOps; }}\n')
        units.append(user)
    proc = compile_units(header_set(target), arch, [stand_ins, example, lib / "src"], units, tmp_path / "obj")
    predicted = assert_compiles_as_predicted(proc, model_methods(lib / "src"), target)
    assert bool(predicted) == (kind == "signal" and board == "nano33ble")


STAND_IN_PLATFORM = """name=tinykd STAND-IN platform for arduino-builder (Nano 33 BLE flags; preprocessing only)
version=1.0.0
tinykd.flags=-std=gnu++14 -funsigned-char -DARDUINO_ARCH_MBED -DARDUINO_ARDUINO_NANO33BLE -DARDUINO={runtime.ide.version}
recipe.preproc.macros=g++ {tinykd.flags} -w -x c++ -E -CC {includes} "{source_file}" -o "{preprocessed_file_path}"
"""
CTAGS = """tools.ctags.path={path}
tools.ctags.cmd.path={{path}}/arduino-ctags
tools.ctags.pattern="{{cmd.path}}" -u --language-force=c++ -f - --c++-kinds=svpf --fields=KSTtzns --line-directives "{{source_file}}"
"""


def test_arduino_builder_finds_the_library_and_its_example_compiles(runs, tmp_path):
    import json
    import shutil
    import subprocess

    builder, ctags = shutil.which("arduino-builder"), shutil.which("arduino-ctags")
    if builder is None or ctags is None:
        pytest.skip("needs Debian's arduino-builder (apt-get install arduino-builder)")
    require_host_compiler()
    require_vendor("chirale")
    from test_firmware_sketch import BOARD_TARGET

    from tinykd.device.qemu.tree import vendored_library

    hardware = tmp_path / "hardware"
    platform = hardware / "tinykd" / "mbed_nano"
    write_arduino_stand_ins(platform / "cores" / "host")
    (hardware / "platform.txt").write_text(CTAGS.format(path=Path(ctags).parent))
    (platform / "boards.txt").write_text("host.name=tinykd stand-in\nhost.build.board=ARDUINO_NANO33BLE\n"
                                         "host.build.core=host\n")
    (platform / "platform.txt").write_text(STAND_IN_PLATFORM)
    lib, example = _installed(export_arduino(runs["waveform"], tmp_path / "lib.zip"), tmp_path / "libraries")
    chirale, _ = vendored_library("chirale")
    (tmp_path / "tools").mkdir()
    build = tmp_path / "build"
    build.mkdir()
    proc = subprocess.run([builder, "-preprocess", "-hardware", str(hardware), "-tools", str(tmp_path / "tools"),
                           "-libraries", str(chirale.parent), "-libraries", str(tmp_path / "libraries"),
                           "-fqbn", "tinykd:mbed_nano:host", "-build-path", str(build), "-ide-version", "10607",
                           str(example / f"{lib.name}.ino")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    found = {e["Include"]: e["Includepath"] for e in json.loads((build / "includes.cache").read_text()) if e["Include"]}
    assert found == {"Chirale_TensorFlowLite.h": str(chirale / "src"), "model_data.h": str(lib / "src")}
    sketch = build / "sketch" / f"{lib.name}.ino.cpp"
    assert "\nvoid setup();\n" in sketch.read_text()  # the builder's generated prototypes
    target, arch = BOARD_TARGET["nano33ble"]
    proc = compile_units(header_set(target), arch, [platform / "cores" / "host", example, lib / "src"], [sketch],
                         tmp_path / "obj")
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_hostile_names_stay_inside_the_library_folder(runs, tmp_path):
    assert library_name("../../etc/passwd") == "etc_passwd"
    assert library_name("7 days") == "m7_days" and library_name("main") == "main_"
    assert len(library_name("x" * 200)) == 63
    with pytest.raises(TinykdError, match="library name '..'") as err:
        export_arduino(runs["waveform"], tmp_path / "dots.zip", name="..")
    assert "\n" not in str(err.value)
    out = export_arduino(runs["waveform"], tmp_path / "evil.zip", name="../../../tmp/evil")
    with zipfile.ZipFile(out) as zf:
        assert all(n.startswith("tmp_evil/") for n in zf.namelist())
    for bad in ("../x", "/abs/x", "a/../../b", "a\\b", "a/\nb"):
        with pytest.raises(TinykdError, match="refusing zip member"):
            _safe_member(bad)


def test_bad_input_is_one_line(runs, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "a-file").write_text("x")
    cases = [
        ((tmp_path / "run", tmp_path / "x.zip"), "run `tinykd quantize` first"),  # no int8 model
        ((tmp_path / "nowhere", tmp_path / "x.zip"), "no such run folder"),
        ((runs["waveform"], tmp_path), "is a folder"),  # out is a folder
        ((runs["waveform"], tmp_path / "a-file" / "x.zip"), "cannot write it"),  # its parent is a file
        ((runs["waveform"], tmp_path / "lib.tar"), "must end in .zip"),
    ]
    for (run, out), msg in cases:
        with pytest.raises(TinykdError, match=re.escape(msg)) as err:
            export_arduino(run, out)
        assert "\n" not in str(err.value)
    assert not list(tmp_path.glob("*.zip")) and not list(tmp_path.glob(".*.tmp"))


def test_cli_export_arduino(runs, tmp_path, capsys):
    from tinykd.cli import main

    assert main(["export", "arduino", str(runs["waveform"]), "--out", str(tmp_path / "cli.zip"), "--name", "kws"]) == 0
    assert f"wrote {tmp_path / 'cli.zip'}" in capsys.readouterr().out
    with zipfile.ZipFile(tmp_path / "cli.zip") as zf:
        assert "kws/examples/kws/kws.ino" in zf.namelist()
    assert main(["export", "arduino", str(tmp_path / "missing"), "--out", str(tmp_path / "x.zip")]) != 0
    err = capsys.readouterr().err
    assert "error:" in err and len(err.strip().splitlines()) == 1
