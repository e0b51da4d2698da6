"""Did the teacher help? The alpha = 1 baseline of a distillation run, trained once and reused, and the comparison.

A distillation run (alpha < 1 or an attention term) is only worth something against the same student trained
on the same data with the same seed and schedule but without the teacher (alpha = 1). That baseline is a run
folder in a cache of runs, so it is trained once and reused by every later run with the same key:

- where: `$TINYKD_BASELINES`, else `$XDG_CACHE_HOME/tinykd/baselines`, else `~/.cache/tinykd/baselines`
  (`--baselines DIR` on the command line); one ordinary run folder per key, `<student>-<key hash>/`, with
  `baseline.json` (the key in full) beside its files;
- the key: the student preset (its full definition, not only its name), the data set's fingerprint (its clips,
  labels, split assignment, sample rate, clip length), the split setting, and every training setting of the run
  except the teacher's (alpha, T, beta): seed, epochs, batch size, learning rate and schedule, patience,
  augmentation;
- concurrency: a lock file per key (`fcntl.flock`), so two runs that need the same baseline train it once.

The comparison (`compare`): the difference in test accuracy, distilled minus baseline, with its binomial
standard error sqrt(p1 (1 - p1) / n1 + p0 (1 - p0) / n0), and a verdict in words: "helped" when the
difference is above two standard errors, "did not help" when it is below minus two, "within noise" between.
`teacher_accuracy` scores the teacher itself on the validation clips (from the cache's logits), which is what
the warning before training compares with the baseline's validation accuracy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from tinykd.artifacts import RunDir
from tinykd.configio import load_json, save_json, to_dict
from tinykd.distill.config import DistillConfig
from tinykd.errors import TinykdError

ENV = "TINYKD_BASELINES"
KEY_FILE = "baseline.json"
SE_BAND = 2.0  # |difference| within this many standard errors is "within noise"


def default_baseline_dir() -> Path:
    """Where the baseline runs live unless told otherwise (see the module docstring)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "tinykd" / "baselines"


def baseline_config(cfg: DistillConfig) -> DistillConfig:
    """The same run without the teacher: alpha 1, no attention term; T set to the default (it has no effect)."""
    return dataclasses.replace(cfg, alpha=1.0, attention_weight=0.0, temperature=DistillConfig.temperature)


def is_baseline(cfg: DistillConfig) -> bool:
    return cfg.alpha >= 1.0 and cfg.attention_weight <= 0


def baseline_key(cfg: DistillConfig, preset: dict[str, Any], dataset) -> dict[str, Any]:
    """Everything that makes two alpha = 1 runs the same run (see the module docstring)."""
    settings = to_dict(baseline_config(cfg))
    settings.pop("student")  # the preset's definition below stands for it
    return {"student": preset, "data_fingerprint": dataset.fingerprint(), "split": str(dataset.config.split),
            "clip_samples": int(dataset.clip_samples), "sample_rate": int(dataset.sample_rate), "training": settings}


def key_hash(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:40] or "student"


class BaselineCache:
    """A folder of complete alpha = 1 run folders, one per key."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_baseline_dir()

    def folder(self, key: dict[str, Any]) -> Path:
        return self.root / f"{_safe_name(str(key['student'].get('name', 'student')))}-{key_hash(key)}"

    def lookup(self, key: dict[str, Any]) -> Path | None:
        """The complete baseline run for `key`, or None."""
        folder = self.folder(key)
        if not RunDir(folder).is_complete() or not (folder / KEY_FILE).is_file():
            return None
        try:
            saved = load_json(folder / KEY_FILE)
        except TinykdError:
            return None
        return folder if isinstance(saved, dict) and saved.get("key") == key else None

    @contextlib.contextmanager
    def locked(self, key: dict[str, Any]):
        """Hold the key's lock file while checking and training, so a baseline is trained once."""
        import fcntl

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fh = open(self.root / f".{self.folder(key).name}.lock", "a+")
        except OSError as exc:
            raise TinykdError(f"{self.root}: cannot use the baseline cache here ({exc.strerror}); give --baselines DIR "
                              "(a writable folder) or --no-baseline") from None
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def publish(self, run_dir: Path, key: dict[str, Any]) -> Path:
        """Copy a complete alpha = 1 run into the cache (when the key has no entry yet); its path in the cache."""
        folder = self.folder(key)
        with self.locked(key):
            if self.lookup(key) is not None:
                return folder
            tmp = self.root / f".tmp-{folder.name}-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(run_dir, tmp)
            save_json(tmp / KEY_FILE, {"key": key, "hash": key_hash(key), "copied_from": str(Path(run_dir).resolve())})
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        return folder

    def ensure(self, data, cfg: DistillConfig, key: dict[str, Any], data_config, *, show_progress: bool,
               allow_outside: bool, log) -> tuple[Path, bool]:
        """(the baseline run folder, whether it was trained now): reuse it, or train (or finish) it under the lock."""
        from tinykd.distill.run import distill

        folder = self.folder(key)
        with self.locked(key):
            if self.lookup(key) is not None:
                return folder, False
            if folder.exists() and not (folder / RunDir.CONFIG).is_file():
                shutil.rmtree(folder)  # a start that wrote nothing usable
            log(f"training the alpha = 1 baseline of this run once (cached in {folder}) ...")
            distill(data, baseline_config(cfg), folder, data_config=data_config,
                    resume=folder.exists() and (folder / RunDir.CONFIG).is_file(), show_progress=show_progress,
                    allow_outside=allow_outside, log=log)
            save_json(folder / KEY_FILE, {"key": key, "hash": key_hash(key)})
        return folder, True


# -- comparison --------------------------------------------------------------------------------------------


def binomial_se(p1: float, n1: int, p0: float, n0: int) -> float:
    """Standard error of the difference of two accuracies measured on n1 and n0 clips (binomial)."""
    return math.sqrt(max(p1 * (1 - p1), 0.0) / max(n1, 1) + max(p0 * (1 - p0), 0.0) / max(n0, 1))


def verdict(difference: float, se: float) -> str:
    if difference > SE_BAND * se:
        return "helped"
    if difference < -SE_BAND * se:
        return "did not help"
    return "within noise"


def compare(accuracy: float, n: int, base_accuracy: float, base_n: int) -> dict[str, Any]:
    """The distilled run against its baseline: difference (fraction), its binomial SE, the verdict."""
    diff = float(accuracy) - float(base_accuracy)
    se = binomial_se(float(accuracy), int(n), float(base_accuracy), int(base_n))
    return {"accuracy": float(accuracy), "n": int(n), "baseline_accuracy": float(base_accuracy),
            "baseline_n": int(base_n), "difference": diff, "se": se, "verdict": verdict(diff, se)}


def verdict_line(c: dict[str, Any], split: str = "test") -> str:
    """The one line a report and the command print."""
    word = {"helped": "helped", "did not help": "did not help", "within noise": "made no difference beyond noise"}[c["verdict"]]
    return (f"The teacher {word} ({c['verdict']}): {100 * c['difference']:+.1f} points against the alpha = 1 baseline "
            f"({100 * c['accuracy']:.1f} % vs {100 * c['baseline_accuracy']:.1f} % on {c['n']} {split} clips, "
            f"binomial SE {100 * c['se']:.1f} points).")


def teacher_accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of teacher logits [n, C] against labels [n]."""
    logits = np.asarray(logits)
    if len(y) == 0:
        raise TinykdError("no validation clips to score the teacher on")
    return float(np.mean(logits.argmax(axis=1) == np.asarray(y)))


def weak_teacher_warning(teacher_val: float, base_val: float, n_val: int) -> str | None:
    """The warning printed before training when the teacher is worse than the student without it."""
    if teacher_val >= base_val:
        return None
    return (f"warning: the teacher scores {100 * teacher_val:.1f} % on the {n_val} validation clips, below the "
            f"{100 * base_val:.1f} % of this student trained without it (alpha = 1, same data and seed); distilling "
            "from it will likely make the student worse: use --alpha 1, or a stronger teacher")


def load_baseline_metrics(folder: Path) -> dict[str, Any]:
    metrics = load_json(Path(folder) / RunDir.METRICS)
    if not isinstance(metrics, dict) or not isinstance(metrics.get("accuracy"), (int, float)):
        raise TinykdError(f"{folder / RunDir.METRICS}: no accuracy in it; delete {folder} to train the baseline again")
    return metrics
