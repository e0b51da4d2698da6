"""A built wheel works outside the checkout: `pip install` it into a fresh virtual environment, then run
`tinykd flash --dry-run` and a short `tinykd sim` from a folder that holds no tinykd sources.

Nothing is downloaded: the wheel is built from this checkout without build isolation and installed with
--no-deps; the new environment reaches the already-installed dependencies (TensorFlow, tflite-micro, ...)
through a .pth file naming this environment's site-packages, after its own, so `import tinykd` there is the
wheel's copy (checked).
"""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from device_support import DIGITS, REPO, cached_run

pytestmark = pytest.mark.slow


def _git_files(folder: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", folder], cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("needs a git checkout to list the shipped files")
    return [line for line in out.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a clean copy of the sources: a stale build/ folder in the checkout would leak into the wheel.
    base = tmp_path_factory.mktemp("dist")
    src, dist = base / "src", base / "dist"
    junk = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "demo-out", "runs",
                                  ".pytest_cache")
    shutil.copytree(REPO, src, symlinks=True, ignore=junk)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(dist), str(src)], capture_output=True, text=True, env=_env(base))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (whl,) = dist.glob("tinykd-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    base = tmp_path_factory.mktemp("venv")
    env = base / "v"
    clean = _env(base)
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, env=clean)
    assert not list(Path(env).glob("lib/python*/site-packages/tinykd"))
    py = env / "bin" / "python"
    proc = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                          capture_output=True, text=True, env=clean)
    assert proc.returncode == 0, proc.stderr[-3000:]
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, env=clean).stdout.strip()
    Path(purelib, "zz_tinykd_test_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return env


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "TINYKD_FIRMWARE", "TINYKD_MODELS", "VIRTUAL_ENV")}
    env.update(TINYKD_CACHE=str(tmp / "cache"), TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1")
    return env


def test_wheel_ships_every_firmware_source_and_preset(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in _git_files("firmware") + _git_files("models"):
        top, rest = rel.split("/", 1)
        assert f"tinykd/_{top}/{rest}" in names, rel


def test_installed_wheel_flashes_and_simulates_outside_the_checkout(venv, tmp_path):
    run = cached_run(tmp_path / "runs", DIGITS)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = _env(tmp_path)
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import tinykd; print(tinykd.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(venv)), where
    tinykd = str(venv / "bin" / "tinykd")
    flash = subprocess.run([tinykd, "flash", "--board", "esp32", "--model", str(run), "--dry-run", "--out",
                            str(work / "fw")], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert flash.returncode == 0, flash.stderr[-2000:]
    sketch = work / "fw" / "tinykd_fw" / "tinykd_fw.ino"
    assert sketch.read_text() == (REPO / "firmware" / "tinykd_fw" / "tinykd_fw.ino").read_text()
    assert (work / "fw" / "tinykd_fw" / "src" / "core" / "tkd_board.cpp").is_file()
    sim = subprocess.run([tinykd, "sim", "--run", str(run), "--duration", "2"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=300)
    assert sim.returncode == 0, sim.stderr[-2000:]
    assert re.search(r"virtual board on /dev/pts/\d+", sim.stdout) and "sim stopped" in sim.stdout
    # The virtual board's C core was compiled from the wheel's copy of the firmware.
    assert list((tmp_path / "cache" / "native").glob("*/libtinykd_core.so"))
