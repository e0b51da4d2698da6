"""Shared test fixtures.

- `fsdd_root`: the real Free Spoken Digit recordings beside the repo (../shared/data/fsdd); tests that use it
  are skipped cleanly when the folder is absent (a user's fresh machine does not have it).
- `synth_root`: a small built-in synthetic data set, generated once per test session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FSDD = Path(os.environ.get("TINYKD_FSDD", REPO.parent / "shared" / "data" / "fsdd"))


@pytest.fixture(scope="session")
def fsdd_root() -> Path:
    if not (FSDD / "recordings").is_dir():
        pytest.skip(f"FSDD not found at {FSDD} (set TINYKD_FSDD to use another copy)")
    return FSDD


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A small built-in synthetic data set (4 classes, few clips each), made once per session."""
    from tinykd.data.synth import SynthConfig, synthesize

    out = tmp_path_factory.mktemp("synth")
    synthesize(out, SynthConfig(n_classes=4, clips_per_class=12, n_speakers=3, seed=0))
    return out
