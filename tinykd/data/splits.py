"""Train/val/test assignment: the dataset's own split, stratified random, or one speaker held out.

Every random choice comes from one `numpy.random.default_rng(seed)` stream walked in a fixed order (labels
sorted, clips in path order), so the same files and seed always give the same split.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from tinykd.data.config import SPLIT_NAMES, DataConfig
from tinykd.errors import DatasetError


def _carve(pool: list[int], labels: Sequence[str], fraction: float, rng: np.random.Generator) -> set[int]:
    """Pick about `fraction` of `pool` per class (at least one, and never the last one, of a class with 2+)."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i in pool:
        by_label[labels[i]].append(i)
    chosen: set[int] = set()
    for label in sorted(by_label):
        members = by_label[label]
        n = len(members)
        k = int(round(n * fraction))
        if fraction > 0 and n >= 2:
            k = min(max(k, 1), n - 1)
        order = rng.permutation(n)
        chosen.update(members[j] for j in order[:k])
    return chosen


def required_splits(config: DataConfig) -> tuple[str, ...]:
    """The splits training needs: train and test, and val unless val_fraction is 0."""
    return ("train", "test") + (("val",) if config.val_fraction > 0 else ())


def empty_split_message(name: str, n: int, config: DataConfig, how: str) -> str:
    return (f"split {name!r} is empty with split={config.split!r} over {n} clip(s) ({how}); "
            f"use more data or another --split" + ("" if name != "val" else " (or val_fraction 0)"))


def assign_splits(
    labels: Sequence[str],
    speakers: Sequence[str],
    own_splits: Sequence[str | None],
    config: DataConfig,
    require: Sequence[str] | None = None,
    unknown_speaker_ok: bool = False,
) -> tuple[list[str], str]:
    """Split name per clip, and a one-line description of how the split was made.

    A DatasetError when one of `require` (default: `required_splits(config)`) would be empty; pass `()` to
    take the split as it falls (scoring new data, `tinykd data info`). `unknown_speaker_ok`: a held-out speaker
    the data does not have holds nothing out (new recordings scored with a run's speaker split) instead of
    being an error (a mistyped --split)."""
    n = len(labels)
    mode, speaker = config.split_mode()
    rng = np.random.default_rng(config.seed)
    split = ["train"] * n
    if mode == "auto" and any(s is not None for s in own_splits):
        for i, s in enumerate(own_splits):
            split[i] = s or "train"
        how = "the dataset's own split"
    elif mode in ("auto", "random"):
        for i in _carve(list(range(n)), labels, config.test_fraction, rng):
            split[i] = "test"
        how = f"stratified random, test {config.test_fraction:g}, seed {config.seed}"
    else:
        known = sorted(set(speakers))
        if speaker not in known and not unknown_speaker_ok:
            raise DatasetError(
                f"unknown speaker {speaker!r} in split speaker:{speaker}; speakers here: {', '.join(known)}"
            )
        for i, s in enumerate(speakers):
            if s == speaker:
                split[i] = "test"
        how = f"speaker {speaker} held out as test"
    if config.val_fraction > 0 and "val" not in split:
        pool = [i for i in range(n) if split[i] == "train"]
        for i in _carve(pool, labels, config.val_fraction, rng):
            split[i] = "val"
        how += f"; val {config.val_fraction:g} of train, stratified, seed {config.seed}"
    for name in required_splits(config) if require is None else require:
        if name not in split:
            raise DatasetError(empty_split_message(name, n, config, how))
    assert set(split) <= set(SPLIT_NAMES)
    return split, how
