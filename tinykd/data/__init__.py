"""Datasets: layouts (TESS, FSDD, folder-per-class, CSV), decoding, resampling, splits, content hashes.

    from tinykd.data import DataConfig, load_dataset
    ds = load_dataset("path/to/folder", DataConfig(split="speaker:jackson"))
    train = ds.load_split("train")   # x float32 [n, clip_samples], y int64 [n], hashes, paths

The built-in synthetic set is `tinykd.data.synth` (`synthesize(out_dir, SynthConfig(...))`).
"""

from tinykd.data.config import DataConfig
from tinykd.data.dataset import ClipInfo, Dataset, SplitArrays, load_dataset
from tinykd.data.layouts import Problem

__all__ = ["ClipInfo", "DataConfig", "Dataset", "Problem", "SplitArrays", "load_dataset"]
