"""Splits (own, stratified random, speaker held out), load_split arrays and the dataset fingerprint."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from data_helpers import make_tree, noise_clip, write_wav
from tinykd.data import DataConfig, load_dataset
from tinykd.errors import DatasetError

FILES = [f"{label}/{spk}_{i}.wav" for label in ("a", "b", "c") for spk in ("s1", "s2", "s3") for i in range(10)]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_tree(tmp_path_factory.mktemp("splits"), FILES)


def _splits(ds):
    return {c.path: c.split for c in ds.clips}


def test_random_split_is_stratified_and_seeded(tree):
    ds = load_dataset(tree, DataConfig(split="random", test_fraction=0.2, val_fraction=0.1, seed=1))
    per = Counter((c.label, c.split) for c in ds.clips)
    for label in "abc":
        assert per[(label, "test")] == 6  # 20 % of 30
        assert per[(label, "val")] == 2  # 10 % of the 24 left, rounded
        assert per[(label, "train")] == 22
    again = load_dataset(tree, DataConfig(split="random", test_fraction=0.2, val_fraction=0.1, seed=1))
    assert _splits(again) == _splits(ds)
    other = load_dataset(tree, DataConfig(split="random", test_fraction=0.2, val_fraction=0.1, seed=2))
    assert _splits(other) != _splits(ds)
    assert ds.fingerprint() != other.fingerprint()


def test_auto_without_own_split_is_random(tree):
    a = load_dataset(tree, DataConfig(split="auto", seed=5))
    b = load_dataset(tree, DataConfig(split="random", seed=5))
    assert _splits(a) == _splits(b) and "stratified random" in a.split_how


def test_speaker_held_out(tree):
    ds = load_dataset(tree, DataConfig(split="speaker:s2", val_fraction=0.2))
    assert {c.speaker for c in ds.clips if c.split == "test"} == {"s2"}
    assert all(c.split != "test" for c in ds.clips if c.speaker != "s2")
    val = Counter(c.label for c in ds.clips if c.split == "val")
    assert val == {"a": 4, "b": 4, "c": 4}  # 20 % of each class's 20 training clips
    test = ds.load_split("test")
    assert len(test) == 30 and set(test.speakers) == {"s2"}


def test_unknown_speaker_names_the_known_ones(tree):
    with pytest.raises(DatasetError, match=r"unknown speaker 'zed'.*speakers here: s1, s2, s3"):
        load_dataset(tree, DataConfig(split="speaker:zed"))


def test_held_out_only_speaker_leaves_train_empty(tmp_path):
    make_tree(tmp_path, [f"{label}/solo_{i}.wav" for label in "ab" for i in range(3)])
    with pytest.raises(DatasetError, match="split 'train' is empty"):
        load_dataset(tmp_path, DataConfig(split="speaker:solo"))


def test_csv_split_column_without_test_rows_is_an_empty_split(tmp_path):
    make_tree(tmp_path, [f"{i}.wav" for i in range(6)])
    (tmp_path / "m.csv").write_text("path,label,split\n" + "".join(f"{i}.wav,x{i % 2},train\n" for i in range(6)))
    with pytest.raises(DatasetError, match="split 'test' is empty"):
        load_dataset(tmp_path, DataConfig(val_fraction=0))
    # random ignores the manifest's own split
    ds = load_dataset(tmp_path, DataConfig(split="random", val_fraction=0, test_fraction=0.3))
    assert Counter(c.split for c in ds.clips) == {"train": 4, "test": 2}


def test_tiny_class_keeps_one_clip_in_each_side(tmp_path):
    make_tree(tmp_path, ["a/x_1.wav", "a/x_2.wav", "b/x_3.wav", "b/x_4.wav", "b/x_5.wav"])
    ds = load_dataset(tmp_path, DataConfig(split="random", val_fraction=0, test_fraction=0.1))
    per = Counter((c.label, c.split) for c in ds.clips)
    assert per == {("a", "train"): 1, ("a", "test"): 1, ("b", "train"): 2, ("b", "test"): 1}


def test_val_fraction_zero_gives_an_empty_val_split(tree):
    ds = load_dataset(tree, DataConfig(val_fraction=0))
    val = ds.load_split("val")
    assert len(val) == 0 and val.x.shape == (0, 16000)


def test_unknown_split_name(tree):
    ds = load_dataset(tree, DataConfig())
    with pytest.raises(DatasetError, match="unknown split name 'training'"):
        ds.load_split("training")


def test_load_split_arrays(tmp_path):
    # 0.5 s at 8 kHz -> 1 s at 16 kHz, centred: 4000 zeros, 8000 samples of audio, 4000 zeros
    make_tree(tmp_path, [f"{label}/s_{i}.wav" for label in "xy" for i in range(5)], rate=8000)
    write_wav(tmp_path / "x" / "s_long.wav", noise_clip("long", seconds=1.5, rate=8000), rate=8000)
    ds = load_dataset(tmp_path, DataConfig(split="random", val_fraction=0, test_fraction=0.4))
    tr = ds.load_split("train")
    assert tr.x.dtype == np.float32 and tr.x.shape == (len(tr), 16000)
    assert tr.y.dtype == np.int64 and sorted(set(tr.y.tolist())) == [0, 1]
    assert [ds.labels[i] for i in tr.y] == [c.label for c in ds.clips if c.split == "train"]
    for row, path in zip(tr.x, tr.paths):
        if path.endswith("s_long.wav"):
            assert np.abs(row).max() > 0 and np.abs(row[:100]).max() > 0  # cropped, no padding
        else:
            assert not row[:3990].any() and not row[-3990:].any()
            assert np.abs(row[4100:11900]).min() >= 0 and np.abs(row[4100:11900]).max() > 0.1
    assert tr.hashes == [c.hash for c in ds.clips if c.split == "train"]


def test_decode_on_demand_matches_cache_and_detects_changed_files(tmp_path):
    make_tree(tmp_path, [f"{label}/s_{i}.wav" for label in "xy" for i in range(5)], rate=22050)
    cached = load_dataset(tmp_path, DataConfig(val_fraction=0, pad="end"))
    lazy = load_dataset(tmp_path, DataConfig(val_fraction=0, pad="end"), keep_audio=False)
    a, b = cached.load_split("train"), lazy.load_split("train")
    np.testing.assert_array_equal(a.x, b.x)
    assert a.hashes == b.hashes and cached.fingerprint() == lazy.fingerprint()
    victim = b.paths[0]
    write_wav(victim, noise_clip("changed"), rate=22050)
    with pytest.raises(DatasetError, match="file changed since the data set was scanned"):
        lazy.load_split("train")


def test_fingerprint_tracks_content_labels_and_clip_settings(tmp_path):
    make_tree(tmp_path, [f"{label}/s_{i}.wav" for label in "xy" for i in range(5)])
    base = load_dataset(tmp_path, DataConfig()).fingerprint()
    assert load_dataset(tmp_path, DataConfig()).fingerprint() == base
    assert load_dataset(tmp_path, DataConfig(clip_seconds=0.5)).fingerprint() != base
    assert load_dataset(tmp_path, DataConfig(sample_rate=8000)).fingerprint() != base
    write_wav(tmp_path / "x" / "s_0.wav", noise_clip("new content"))
    assert load_dataset(tmp_path, DataConfig()).fingerprint() != base


@pytest.mark.fsdd
def test_fsdd_figures(fsdd_root):
    ds = load_dataset(fsdd_root, DataConfig(val_fraction=0))
    assert ds.format == "fsdd" and not ds.problems
    assert len(ds.clips) == 2500 and len(ds.labels) == 10 and len(ds.speakers) == 5
    assert ds.labels == [str(d) for d in range(10)]
    assert {c.source_rate for c in ds.clips} == {8000}
    per_split = Counter(c.split for c in ds.clips)
    assert per_split == {"train": 2250, "test": 250}  # index 0-4 of the 50 takes per speaker and digit
    test = ds.load_split("test")
    assert test.x.shape == (250, 16000) and np.isfinite(test.x).all()
    held = load_dataset(fsdd_root, DataConfig(split="speaker:jackson", val_fraction=0), keep_audio=False)
    assert Counter(c.split for c in held.clips) == {"train": 2000, "test": 500}
    assert {c.speaker for c in held.clips if c.split == "test"} == {"jackson"}
