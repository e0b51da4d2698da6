"""`teacher train --extra-train DIR`: more labelled data for the teacher, never a held-out clip or voice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from data_helpers import renamed_tones_set  # noqa: E402
from tinykd.cli import main  # noqa: E402
from tinykd.data import DataConfig, load_dataset  # noqa: E402
from tinykd.errors import DatasetError  # noqa: E402
from tinykd.teacher.train import extra_training_split  # noqa: E402

pytestmark = pytest.mark.teacher

SPLIT = DataConfig(split="speaker:spk0")  # spk0 is the main set's test voice; val is carved from spk1, spk2


@pytest.fixture(scope="module")
def main_split(synth_root):
    ds = load_dataset(synth_root, SPLIT)
    return ds, ds.load_split("val"), ds.load_split("test")


def test_extra_labels_are_mapped_by_name(main_split, tmp_path):
    ds, val, test = main_split
    extra = renamed_tones_set(tmp_path / "extra", "ext")
    x, y, record = extra_training_split(extra, ds, val, test, SPLIT, log=lambda s: None)
    own = load_dataset(extra, DataConfig())
    part = own.load_split("train")
    assert len(y) == len(part.y) == record["n_train"] > 0 and x.shape == (len(y), ds.clip_samples)
    # Each clip keeps its class name, now as the main set's id of that name.
    assert [ds.labels[i] for i in y] == [own.labels[i] for i in part.y]
    assert set(own.labels) < set(ds.labels) and record["fingerprint"] == own.fingerprint()
    assert record["speakers"] == 2


def test_a_class_the_data_set_lacks_is_refused(tmp_path, main_split):
    ds, val, test = main_split
    extra = renamed_tones_set(tmp_path / "extra", "ext", n_classes=6)
    with pytest.raises(DatasetError, match=r"extra training set has class\(es\) .* that") as err:
        extra_training_split(extra, ds, val, test, SPLIT, log=lambda s: None)
    assert str(extra) in str(err.value)


def test_a_held_out_voice_is_refused(tmp_path, main_split):
    ds, val, test = main_split
    extra = renamed_tones_set(tmp_path / "extra", "spk")  # spk0 is the main set's test speaker, spk1 one of val's
    with pytest.raises(DatasetError, match="held out in .* val/test split"):
        extra_training_split(extra, ds, val, test, SPLIT, log=lambda s: None)


def test_held_out_clips_under_other_names_are_refused(tmp_path, synth_root, main_split):
    ds, val, test = main_split
    extra = tmp_path / "extra"
    extra.mkdir()
    rows = ["path,label,speaker,split"]
    for i, (path, y) in enumerate(zip(test.paths[:3] + val.paths[:3], test.y.tolist()[:3] + val.y.tolist()[:3])):
        src = Path(path) if Path(path).is_absolute() else synth_root / path
        shutil.copy(src, extra / f"clip{i}.wav")
        rows.append(f"clip{i}.wav,{ds.labels[y]},someone,train")  # a new speaker name, the same audio
    (extra / "manifest.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match=r"\d extra training clip\(s\) are clips of .* val/test split"):
        extra_training_split(extra, ds, val, test, SPLIT, log=lambda s: None)


def test_the_data_set_itself_is_refused(synth_root, main_split):
    ds, val, test = main_split
    with pytest.raises(DatasetError, match="is the data set itself"):
        extra_training_split(synth_root, ds, val, test, SPLIT, log=lambda s: None)


def test_cli_trains_on_both_and_records_therenamed_tones_set(synth_root, tmp_path, capsys):
    extra = renamed_tones_set(tmp_path / "extra", "ext")
    out = tmp_path / "teacher"
    args = ["teacher", "train", str(synth_root), "--out", str(out), "--extra-train", str(extra), "--split", "speaker:spk0",
            "--epochs", "1", "--batch-size", "8", "--threads", "1", "--device", "cpu", "--no-progress",
            "--tiny", "hidden_size=32", "--tiny", "num_hidden_layers=1", "--tiny", "num_attention_heads=2",
            "--tiny", "intermediate_size=64", "--tiny", "conv_dim=16,16,32,32", "--tiny", "num_conv_pos_embeddings=8",
            "--tiny", "num_conv_pos_embedding_groups=4"]
    assert main(args) == 0
    said = capsys.readouterr().out
    meta = json.loads((out / "tinykd_teacher.json").read_text())
    (record,) = meta["extra_train"]
    n_own = meta["dataset"]["n_train"]
    assert record["root"] == str(extra.resolve()) and record["n_train"] > 0
    assert f"{n_own + record['n_train']} training clips" in said
    assert meta["status"] == "complete" and np.isfinite(meta["test_accuracy"])
    # The extra set's classes are a subset: the teacher's labels stay the data set's.
    assert json.loads((out / "labels.json").read_text()) == list(load_dataset(synth_root, SPLIT).labels)


def test_cli_refuses_a_bad_extra_set_in_one_line(synth_root, tmp_path, capsys):
    extra = renamed_tones_set(tmp_path / "extra", "ext", n_classes=6)
    out = tmp_path / "teacher"
    assert main(["teacher", "train", str(synth_root), "--out", str(out), "--extra-train", str(extra),
                 "--epochs", "1", "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert "extra training set has class(es)" in err and "Traceback" not in err
    assert not out.exists()
