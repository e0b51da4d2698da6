"""Layouts (FSDD, TESS, folder-per-class, CSV), auto-detection, de-duplication and bad input (tinykd.data)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from data_helpers import make_tree, noise_clip, write_wav
from tinykd.data import DataConfig, load_dataset
from tinykd.data.layouts import detect_format
from tinykd.errors import AudioError, DatasetError, TinykdError

FSDD_FILES = [f"recordings/{d}_{s}_{i}.wav" for d in range(3) for s in ("alice", "bob") for i in range(7)]
TESS_FILES = [
    f"{folder}/{spk}_{word}_{emo}.wav"
    for spk in ("OAF", "YAF")
    for emo in ("angry", "happy", "neutral")
    for folder in [f"{spk}_{emo}" if spk == "OAF" else f"{spk}_{emo}".lower()]  # folder case differs, as in TESS
    for word in ("back", "bar", "base", "bath")
]
FOLDER_FILES = [f"{label}/{spk}_take{i}.wav" for label in ("dog", "cat", "bird") for spk in ("ann", "ben") for i in range(4)]


def cfg(**kw) -> DataConfig:
    return DataConfig(**kw)


def test_fsdd_layout_labels_speakers_and_own_split(tmp_path):
    make_tree(tmp_path, FSDD_FILES, rate=8000)
    assert detect_format(tmp_path)[0] == "fsdd"
    ds = load_dataset(tmp_path, cfg(val_fraction=0.0))
    assert ds.format == "fsdd" and ds.labels == ["0", "1", "2"] and ds.speakers == ["alice", "bob"]
    for c in ds.clips:
        index = int(c.path.rsplit("_", 1)[1].split(".")[0])
        assert c.split == ("test" if index < 5 else "train")
        assert c.source_rate == 8000
    x = ds.load_split("test")
    assert x.x.shape == (3 * 2 * 5, 16000) and x.x.dtype == np.float32 and x.y.dtype == np.int64


def test_tess_layout_case_insensitive_folders_and_dedup(tmp_path):
    make_tree(tmp_path, TESS_FILES)
    # a second copy of one folder (TESS ships duplicate copies): same audio, reported and skipped
    shutil.copytree(tmp_path / "OAF_angry", tmp_path / "copy" / "oaf_Angry")
    ds = load_dataset(tmp_path, cfg())
    assert ds.format == "tess"
    assert ds.labels == ["angry", "happy", "neutral"]
    assert ds.speakers == ["OAF", "YAF"]
    assert len(ds.clips) == len(TESS_FILES)
    dups = [p for p in ds.problems if "duplicate of" in p.message]
    assert len(dups) == 4 and all("oaf_Angry" in p.path for p in dups)


def test_dedup_flags_conflicting_labels(tmp_path):
    x = noise_clip("shared")
    write_wav(tmp_path / "a" / "s_1.wav", x)
    write_wav(tmp_path / "b" / "s_2.wav", x)
    make_tree(tmp_path, ["a/s_3.wav", "a/s_4.wav", "b/s_5.wav", "b/s_6.wav"])
    ds = load_dataset(tmp_path, cfg(val_fraction=0))
    (dup,) = ds.problems
    assert "b/s_2.wav" in dup.path and "labelled 'b'" in dup.message
    assert len(load_dataset(tmp_path, cfg(val_fraction=0, dedup=False)).clips) == 6


def test_folder_layout_with_speaker_prefix(tmp_path):
    make_tree(tmp_path, FOLDER_FILES)
    fmt, reason = detect_format(tmp_path)
    assert fmt == "folder" and "folder" in reason
    ds = load_dataset(tmp_path, cfg())
    assert ds.labels == ["bird", "cat", "dog"]
    assert ds.speakers == ["ann", "ben"]


def test_folder_layout_without_common_prefix_gives_unknown_speaker(tmp_path):
    make_tree(tmp_path, FOLDER_FILES + ["dog/plain.wav"])
    ds = load_dataset(tmp_path, cfg())
    assert ds.speakers == ["unknown"]


def test_files_outside_class_folders_are_reported(tmp_path):
    make_tree(tmp_path, FOLDER_FILES + ["stray.wav"])
    ds = load_dataset(tmp_path, cfg())
    (p,) = ds.problems
    assert p.path.endswith("stray.wav") and "class folder" in p.message


def test_format_override_beats_detection(tmp_path):
    make_tree(tmp_path, FSDD_FILES, rate=8000)
    ds = load_dataset(tmp_path, cfg(format="folder"))
    assert ds.format == "folder" and ds.labels == ["recordings"]
    assert {c.speaker for c in ds.clips} == {"0", "1", "2"}  # the prefix rule applied, as asked


def test_detection_tolerates_a_few_misnamed_files_and_reports_them(tmp_path):
    make_tree(tmp_path, FSDD_FILES + ["recordings/extra_take.wav"], rate=8000)
    ds = load_dataset(tmp_path, cfg())
    assert ds.format == "fsdd"
    (p,) = ds.problems
    assert p.path.endswith("extra_take.wav") and "does not match" in p.message


def test_hidden_files_are_ignored(tmp_path):
    make_tree(tmp_path, FOLDER_FILES)
    (tmp_path / "dog" / "._ann_take0.wav").write_bytes(b"\0\5\x16\7")  # macOS resource fork
    ds = load_dataset(tmp_path, cfg())
    assert ds.problems == [] and len(ds.clips) == len(FOLDER_FILES)


def test_symlinked_class_folders_are_followed_once(tmp_path):
    make_tree(tmp_path / "elsewhere", ["dog/ann_1.wav", "dog/ann_2.wav"])
    make_tree(tmp_path / "data", ["cat/ann_1.wav", "cat/ann_2.wav"])
    (tmp_path / "data" / "dog").symlink_to(tmp_path / "elsewhere" / "dog", target_is_directory=True)
    (tmp_path / "data" / "cat" / "loop").symlink_to(tmp_path / "data", target_is_directory=True)  # a loop
    ds = load_dataset(tmp_path / "data", cfg(split="random", val_fraction=0, test_fraction=0.5))
    assert ds.labels == ["cat", "dog"] and len(ds.clips) == 4 and not ds.problems


def test_csv_manifest_with_speaker_and_split(tmp_path):
    make_tree(tmp_path, [f"audio/{i}.flac".replace(".flac", ".wav") for i in range(12)])
    rows = ["path,label,speaker,split"]
    for i in range(12):
        rows.append(f"audio/{i}.wav,{'yes' if i % 2 else 'no'},p{i % 3},{['train', 'train', 'validation', 'test'][i % 4]}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    assert detect_format(tmp_path) == ("csv", "CSV manifest manifest.csv")
    for root in (tmp_path, tmp_path / "manifest.csv"):
        ds = load_dataset(root, cfg())
        assert ds.format == "csv" and ds.labels == ["no", "yes"]
        assert ds.speakers == ["p0", "p1", "p2"]
        assert [c.split for c in ds.clips] == [["train", "train", "val", "test"][i % 4] for i in range(12)]


def test_csv_without_optional_columns_uses_random_split(tmp_path):
    make_tree(tmp_path, [f"{i}.wav" for i in range(20)])
    (tmp_path / "list.csv").write_text("label,path\n" + "".join(f"c{i % 2},{i}.wav\n" for i in range(20)))
    ds = load_dataset(tmp_path, cfg(val_fraction=0, test_fraction=0.2))
    assert ds.speakers == ["unknown"] and "stratified random" in ds.split_how
    assert sum(c.split == "test" for c in ds.clips) == 4


def test_csv_bad_rows_are_reported(tmp_path):
    make_tree(tmp_path, [f"{i}.wav" for i in range(8)])
    rows = "path,label,split\n" + "".join(f"{i}.wav,c{i % 2},{'test' if i < 2 else 'train'}\n" for i in range(8))
    rows += "missing.wav,c0,train\n,c1,train\n7.wav,c1,holdout\n"
    (tmp_path / "m.csv").write_text(rows)
    ds = load_dataset(tmp_path, cfg(val_fraction=0))
    msgs = sorted(p.message for p in ds.problems)
    assert len(msgs) == 3
    assert any("not found" in m for m in msgs)
    assert any("empty path or label" in m for m in msgs)
    assert any("unknown split 'holdout'" in m for m in msgs)


def test_csv_missing_column_is_one_error(tmp_path):
    make_tree(tmp_path, ["a.wav"])
    (tmp_path / "m.csv").write_text("file,label\na.wav,x\n")
    with pytest.raises(DatasetError, match=r"m\.csv: missing column\(s\) path"):
        load_dataset(tmp_path / "m.csv", cfg(format="csv"))


def test_several_manifests_are_ambiguous(tmp_path):
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("path,label\n")
    with pytest.raises(DatasetError, match="several CSV manifests"):
        load_dataset(tmp_path, cfg())


def test_explicit_label_list_reports_unknown_labels(tmp_path):
    make_tree(tmp_path, FOLDER_FILES)
    ds = load_dataset(tmp_path, cfg(labels=("dog", "cat")))
    assert ds.labels == ["dog", "cat"]  # the given order is the class-id order
    unknown = [p for p in ds.problems if "not in the label list" in p.message]
    assert len(unknown) == 8 and all("/bird/" in p.path for p in unknown)
    tr = ds.load_split("train")
    assert set(tr.y.tolist()) == {0, 1}


def test_bad_files_are_reported_and_scan_goes_on(tmp_path):
    make_tree(tmp_path, FOLDER_FILES)
    (tmp_path / "dog" / "ann_empty.wav").write_bytes(b"")
    (tmp_path / "cat" / "ann_text.wav").write_text("not audio\n" * 10)
    write_wav(tmp_path / "cat" / "ann_zero.wav", np.zeros(0, np.float32))
    nan = noise_clip("n")
    nan[3] = np.nan
    write_wav(tmp_path / "bird" / "ben_nan.wav", nan, subtype="FLOAT")
    cut = write_wav(tmp_path / "bird" / "ben_cut.wav")
    cut.write_bytes(cut.read_bytes()[:2000])
    ds = load_dataset(tmp_path, cfg())
    assert len(ds.clips) == len(FOLDER_FILES)
    by_name = {p.path.rsplit("/", 1)[1]: p.message for p in ds.problems}
    assert set(by_name) == {"ann_empty.wav", "ann_text.wav", "ann_zero.wav", "ben_nan.wav", "ben_cut.wav"}
    assert "empty file" in by_name["ann_empty.wav"]
    assert "not a readable audio file" in by_name["ann_text.wav"]
    assert "zero-length" in by_name["ann_zero.wav"]
    assert "NaN" in by_name["ben_nan.wav"]
    assert "truncated" in by_name["ben_cut.wav"]
    for p in ds.problems:
        assert "\n" not in str(p)
    # strict: the first bad file (in path order) stops the scan with one line
    with pytest.raises(AudioError, match=r"ben_cut\.wav: truncated.*strict"):
        load_dataset(tmp_path, cfg(strict=True))


def test_strict_also_stops_on_naming_problems(tmp_path):
    make_tree(tmp_path, FOLDER_FILES + ["stray.wav"])
    with pytest.raises(DatasetError, match="stray.wav: not inside a class folder"):
        load_dataset(tmp_path, cfg(strict=True))


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        load_dataset(tmp_path / "nope", cfg())
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="folder is empty"):
        load_dataset(tmp_path / "empty", cfg())
    (tmp_path / "noaudio" / "sub").mkdir(parents=True)
    (tmp_path / "noaudio" / "sub" / "readme.txt").write_text("hi")
    with pytest.raises(DatasetError, match=r"no \.wav or \.flac files"):
        load_dataset(tmp_path / "noaudio", cfg())


def test_nothing_usable_is_an_error_naming_the_first_problem(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"no usable audio clips \(1 problem file\(s\)\); first problem: .*x\.wav: empty"):
        load_dataset(tmp_path, cfg())


def test_bad_config_values_are_one_line_errors():
    for kw, word in (({"format": "mp3"}, "unknown data format"), ({"pad": "middle"}, "unknown pad"),
                     ({"split": "speakers=x"}, "unreadable split"), ({"split": "speaker:"}, "unreadable split"),
                     ({"val_fraction": 1.5}, "val_fraction"), ({"test_fraction": 0.0}, "test_fraction")):
        with pytest.raises(TinykdError, match=word):
            DataConfig(**kw)


def test_config_round_trips_through_json(tmp_path):
    c = DataConfig(split="speaker:ann", labels=("a", "b"), pad="end", seed=3)
    c.save(tmp_path / "data.json")
    assert DataConfig.load(tmp_path / "data.json") == c
