"""docker/ checked without an engine: the Dockerfile agrees with pyproject.toml and the checkout, its ignore
file keeps every host output out of the image, and docker/build-local.sh parses. Building and running the
image (docker/build-local.sh, buildah) takes ~10 minutes and root, so it is not a test; docker/README.md has
its measured figures."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of docker/Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_base_image_is_a_build_argument_with_the_projects_python():
    instructions = _instructions()
    first_from = next(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    args = dict(rest.split("=", 1) for word, rest in instructions[:first_from] if word == "ARG" and "=" in rest)
    assert "BASE" in args, "ARG BASE=... must come before the first FROM"
    assert ("FROM", "${BASE}") in instructions
    minor = re.search(r">=\s*3\.(\d+)", _pyproject()["project"]["requires-python"]).group(1)
    assert re.fullmatch(rf"python:3\.{minor}-slim-bookworm", args["BASE"]), args["BASE"]


def test_the_torch_check_in_the_image_is_the_pinned_cpu_build():
    (pin,) = [r for r in _pyproject()["project"]["optional-dependencies"]["teacher"] if r.startswith("torch")]
    version = pin.split("==", 1)[1]
    text = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    assert f'torch.__version__ == "{version}+cpu"' in text
    assert f"torch-{version}+cpu-" in text  # the wheelhouse wheel it looks for
    assert f"torch-{version}+cpu-" in (DOCKER / "build-local.sh").read_text(encoding="utf-8")


def test_every_copied_path_exists_in_the_checkout():
    copies = [rest.split() for word, rest in _instructions() if word == "COPY"]
    assert copies
    for parts in copies:
        for src in parts[:-1]:
            if not src.startswith("--"):
                assert (REPO / src).exists(), f"COPY {src}: not in the checkout"


def test_ignore_file_covers_every_gitignored_output():
    ignored = {line.strip() for line in (DOCKER / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")}
    assert ".venv" in ignored  # the host's venv would replace the image's own
    for line in (REPO / ".gitignore").read_text(encoding="utf-8").splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        bare = pattern.strip("/")
        anchored = pattern.startswith("/") or "/" in bare
        wanted = {bare} if anchored else {bare, f"**/{bare}"}
        assert wanted & ignored, f".gitignore {pattern!r} has no counterpart in docker/Dockerfile.dockerignore"


def test_build_local_script_parses():
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    proc = subprocess.run([bash, "-n", str(DOCKER / "build-local.sh")], check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
