"""Issue 13 for the data stage: hostile manifests and files, permissions, out-of-range audio, CSVs that are not
manifests, `tinykd data info` reporting everything, the one training rule, and the shared file writer.

Every case is named after what it guards against; each goes through the real library or the real CLI
(`tinykd.cli.main`), with real files (soundfile) and, for permissions, the real kernel check.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from data_helpers import make_tree, noise_clip, open_tree, shared_tmp, unprivileged, write_wav
from tinykd.cli import main
from tinykd.data import DataConfig, load_dataset
from tinykd.errors import AudioError, DatasetError, OutputError, TinykdError

FOLDER_FILES = [f"{label}/{spk}_take{i}.wav" for label in ("dog", "cat") for spk in ("ann", "ben") for i in range(4)]


def _one_line_error(capsys, code: int = 2) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    return err


# -- CSV manifests --------------------------------------------------------------------------------------------


def test_nul_byte_in_a_csv_manifest_path_is_a_problem_row_not_a_traceback(tmp_path, capsys):
    make_tree(tmp_path, [f"{i}.wav" for i in range(8)])
    rows = "path,label\n" + "".join(f"{i}.wav,c{i % 2}\n" for i in range(8)) + "bad\x00name.wav,c0\n"
    (tmp_path / "m.csv").write_text(rows)
    ds = load_dataset(tmp_path, DataConfig(split="random", val_fraction=0, test_fraction=0.25))
    (p,) = ds.problems
    assert p.path.endswith("m.csv:10") and "control character" in p.message and len(ds.clips) == 8
    assert main(["data", "info", str(tmp_path / "m.csv")]) == 0
    assert "control character" in capsys.readouterr().out
    # a NUL in the data path itself (argv cannot carry one, a library caller can): one line
    with pytest.raises(DatasetError, match="NUL byte"):
        load_dataset(str(tmp_path) + "\x00x", DataConfig())


def test_csv_rows_outside_the_manifest_folder_need_allow_outside(tmp_path, capsys):
    data = tmp_path / "data"
    make_tree(data, [f"{i}.wav" for i in range(8)])
    make_tree(tmp_path / "elsewhere", ["secret.wav"])
    rows = "path,label\n" + "".join(f"{i}.wav,c{i % 2}\n" for i in range(8))
    rows += "../elsewhere/secret.wav,c0\n../elsewhere/missing.wav,c0\n/etc/hostname,c1\n"
    (data / "m.csv").write_text(rows)
    cfg = DataConfig(split="random", val_fraction=0, test_fraction=0.25)
    ds = load_dataset(data, cfg)
    outside = [p for p in ds.problems if "outside the manifest's folder" in p.message]
    assert len(outside) == 3 and len(ds.clips) == 8
    # The existing and the missing file get the same kind of line: the problem list reveals nothing.
    texts = {p.message.split("'")[1]: p.message.replace(p.message.split("'")[1], "X") for p in outside}
    assert texts["../elsewhere/secret.wav"] == texts["../elsewhere/missing.wav"]
    assert all("not found" not in p.message for p in outside)
    opened = load_dataset(data, DataConfig(split="random", val_fraction=0, test_fraction=0.25, allow_outside=True))
    assert any(c.path.endswith("secret.wav") for c in opened.clips)
    assert any("missing.wav" in p.path and "not found" in p.message for p in opened.problems)
    assert main(["data", "info", str(data), "--allow-outside", "--split", "random", "--val-fraction", "0"]) == 0
    assert "secret.wav" not in capsys.readouterr().out  # read, so not a problem any more


def test_a_csv_in_the_data_folder_without_a_label_column_is_refused_not_ignored(tmp_path, capsys):
    make_tree(tmp_path, FOLDER_FILES)
    (tmp_path / "speakers.csv").write_text("path,speaker\ndog/ann_take0.wav,ann\n")
    with pytest.raises(DatasetError, match=r"speakers\.csv: a CSV file in the data folder that is not a usable manifest \(no label column"):
        load_dataset(tmp_path, DataConfig())
    assert main(["data", "info", str(tmp_path)]) == 2
    assert "--format folder" in _one_line_error(capsys)
    # Naming the layout reads the audio and leaves the CSV alone.
    assert len(load_dataset(tmp_path, DataConfig(format="folder")).clips) == len(FOLDER_FILES)
    with pytest.raises(DatasetError, match="no label column"):
        load_dataset(tmp_path, DataConfig(format="csv"))


def test_a_csv_in_the_data_folder_that_is_not_utf8_is_refused_not_ignored(tmp_path):
    make_tree(tmp_path, FOLDER_FILES)
    (tmp_path / "labels.csv").write_bytes("path,label\nd\xe9j\xe0.wav,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"labels\.csv: .*not a usable manifest \(not UTF-8 text\)"):
        load_dataset(tmp_path, DataConfig())


# -- audio ----------------------------------------------------------------------------------------------------


def test_float_wav_with_samples_at_1e30_is_a_problem_of_that_file(tmp_path):
    make_tree(tmp_path, FOLDER_FILES)
    loud = noise_clip("loud")
    loud[100:110] = 1e30
    loud[200] = -1e30
    write_wav(tmp_path / "dog" / "ann_huge.wav", loud, subtype="FLOAT")
    hot = noise_clip("hot") * 3.0  # peak 1.5: above full scale, still audio: kept
    write_wav(tmp_path / "cat" / "ben_hot.wav", hot, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"ann_huge\.wav: 11 sample\(s\) out of range \(peak 1e\+30"):
        from tinykd.data.audio import decode

        decode(tmp_path / "dog" / "ann_huge.wav")
    ds = load_dataset(tmp_path, DataConfig())
    (p,) = ds.problems
    assert p.path.endswith("ann_huge.wav") and "out of range" in p.message
    assert any(c.path.endswith("ben_hot.wav") for c in ds.clips)


def test_wav_with_nan_is_refused_by_decode(tmp_path):
    from tinykd.data.audio import decode

    x = noise_clip("n")
    x[5] = np.nan
    with pytest.raises(AudioError, match="1 NaN or infinite sample"):
        decode(write_wav(tmp_path / "nan.wav", x, subtype="FLOAT"))


def test_a_folder_named_like_a_wav_is_a_problem_not_a_traceback(tmp_path):
    make_tree(tmp_path, FOLDER_FILES)
    (tmp_path / "dog" / "sub.wav").mkdir()
    (tmp_path / "dog" / "sub.wav" / "x.txt").write_text("x")
    ds = load_dataset(tmp_path, DataConfig())
    assert len(ds.clips) == len(FOLDER_FILES)


# -- permissions ----------------------------------------------------------------------------------------------


def test_chmod_000_wav_is_permission_denied_not_corrupt(capsys):
    from tinykd.data.audio import decode

    with shared_tmp() as root:
        make_tree(root, FOLDER_FILES)
        locked = root / "dog" / "ann_take0.wav"
        open_tree(root)
        locked.chmod(0)
        with unprivileged():
            with pytest.raises(AudioError, match="permission denied") as info:
                decode(locked)
            assert "corrupt" not in str(info.value)
            with pytest.raises(DatasetError, match=r"1 file\(s\) or folder\(s\) may not be read.*ann_take0\.wav: permission denied"):
                load_dataset(root, DataConfig())
            assert main(["data", "info", str(root)]) == 0
        out = capsys.readouterr().out
        assert "permission problems (1" in out and "ann_take0.wav: permission denied" in out


def test_an_unreadable_class_folder_never_silently_leaves_the_data_set(capsys):
    with shared_tmp() as root:
        make_tree(root, FOLDER_FILES + [f"bird/ann_take{i}.wav" for i in range(4)])
        open_tree(root)
        (root / "bird").chmod(0)
        with unprivileged():
            with pytest.raises(DatasetError, match=r"bird: permission denied: cannot list this folder"):
                load_dataset(root, DataConfig())
            assert main(["data", "info", str(root)]) == 0
            out = capsys.readouterr().out
        assert "permission problems (1" in out and "cannot list this folder" in out
        (root / "bird").chmod(0o755)
        assert load_dataset(root, DataConfig()).labels == ["bird", "cat", "dog"]


def test_an_unreadable_data_folder_is_one_line(capsys):
    with shared_tmp() as root:
        make_tree(root / "data", FOLDER_FILES)
        open_tree(root)
        (root / "data").chmod(0)
        with unprivileged():
            assert main(["data", "info", str(root / "data")]) == 2
        assert "permission denied" in _one_line_error(capsys)


# -- data info reports everything --------------------------------------------------------------------------


def test_data_info_names_every_broken_file_even_when_the_train_split_would_be_empty(tmp_path, capsys):
    """5 good and 5 broken FSDD files, all with test indices: the train split is empty, which used to stop the
    scan before a single broken file was named."""
    good = [f"{d}_alice_{i}.wav" for d, i in ((0, 0), (0, 1), (1, 2), (1, 3), (2, 4))]
    make_tree(tmp_path, good)
    broken = [f"{d}_bob_{i}.wav" for d, i in ((0, 0), (1, 1), (2, 2), (0, 3), (1, 4))]
    for name in broken:
        (tmp_path / name).write_bytes(b"RIFF\x00\x00")
    summary_path = tmp_path.parent / f"{tmp_path.name}-info.json"
    assert main(["data", "info", str(tmp_path), "--format", "fsdd", "--json", str(summary_path)]) == 0
    out = capsys.readouterr().out
    for name in broken:
        assert name in out
    assert "split 'train' is empty" in out and "problem files (5, skipped)" in out
    summary = json.loads(summary_path.read_text())
    assert summary["n_clips"] == 5 and summary["per_split"]["test"] == 5
    assert [p["kind"] for p in summary["problems"]].count("split") >= 1
    # Training on it still stops, with the same one line as before.
    with pytest.raises(DatasetError, match="split 'train' is empty"):
        load_dataset(tmp_path, DataConfig(format="fsdd"))


def test_data_info_with_no_usable_clip_lists_them_all_and_exits_2(tmp_path, capsys):
    for name in ("a/x.wav", "a/y.wav", "b/z.wav"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert main(["data", "info", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert all(n in captured.out for n in ("x.wav", "y.wav", "z.wav"))
    assert "no usable audio clips (3 problem(s) listed above)" in captured.err and "Traceback" not in captured.err


def test_data_info_prints_hostile_class_names_as_they_are(tmp_path, capsys):
    """Folder names and manifest labels are data: rich markup ([/], [bold]), math text ($x^$) and escape codes
    are printed as written, never obeyed (a "[/]" label used to crash rich)."""
    names = ["$x^$", "[bold]b", "esc\x1b[31m"]
    make_tree(tmp_path / "f", [f"{n}/{s}_{i}.wav" for n in names for s in ("ann", "ben") for i in range(3)])
    assert main(["data", "info", str(tmp_path / "f")]) == 0
    out = capsys.readouterr().out
    assert "$x^$" in out and "[bold]b" in out and "\x1b[31m" not in out and "esc\\x1b[31m" in out
    make_tree(tmp_path / "m", [f"{i}.wav" for i in range(12)])
    (tmp_path / "m" / "m.csv").write_text("path,label\n" + "".join(f"{i}.wav,{['[/]', '[/red]'][i % 2]}\n" for i in range(12)))
    assert main(["data", "info", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "[/]" in out and "[/red]" in out


def test_data_info_json_to_a_folder_or_an_unwritable_place_is_one_line(tmp_path, capsys):
    make_tree(tmp_path / "d", FOLDER_FILES)
    (tmp_path / "out").mkdir()
    (tmp_path / "file").write_text("x")
    for target, words in ((tmp_path / "out", "is a folder"), (tmp_path / "file" / "s.json", "cannot write it")):
        assert main(["data", "info", str(tmp_path / "d"), "--json", str(target)]) == 2
        assert words in _one_line_error(capsys)
    with pytest.raises(OutputError, match="NUL byte"):  # argv cannot carry a NUL; the library can
        from tinykd.configio import save_json

        save_json(tmp_path / "x\x00.json", {})
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []  # no temp file left behind


# -- the shared writer and reader ------------------------------------------------------------------------------


def test_atomic_writer_failures_are_output_errors_that_leave_nothing_behind(tmp_path):
    from tinykd.configio import atomic_write_bytes, load_json

    (tmp_path / "d").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        atomic_write_bytes(tmp_path / "d", b"x")
    with shared_tmp() as root:
        (root / "ro").mkdir(mode=0o555)
        with unprivileged():
            with pytest.raises(OutputError, match="permission denied") as info:
                atomic_write_bytes(root / "ro" / "f.json", b"x")
            assert info.value.errno is not None
        assert list((root / "ro").iterdir()) == []
        (root / "locked.json").write_text("{}")
        (root / "locked.json").chmod(0)
        with unprivileged():
            with pytest.raises(TinykdError, match="permission denied"):
                load_json(root / "locked.json")
    atomic_write_bytes(tmp_path / "ok.bin", b"x")
    assert (tmp_path / "ok.bin").stat().st_mode & 0o044  # readable by others like any file (umask 022)


def test_configs_read_back_from_json_check_every_field_type():
    from tinykd.configio import from_dict
    from tinykd.distill.config import DistillConfig

    for bad, field in (({"sample_rate": "16k"}, "DataConfig.sample_rate"), ({"labels": "ab"}, "DataConfig.labels"),
                       ({"strict": 1}, "DataConfig.strict"), ({"clip_seconds": None}, "DataConfig.clip_seconds")):
        with pytest.raises(TinykdError, match=field):
            from_dict(DataConfig, bad)
    with pytest.raises(TinykdError, match="AugmentConfig.noise_snr_db"):
        from_dict(DistillConfig, {"augment": {"noise_snr_db": [1]}})
    with pytest.raises(TinykdError, match="DistillConfig.epochs"):
        from_dict(DistillConfig, {"epochs": "30"})
    assert from_dict(DataConfig, {"labels": ["a", "b"], "sample_rate": 8000.0}).sample_rate == 8000


def test_confined_path_keeps_record_names_inside_their_folder(tmp_path):
    from tinykd.configio import confined_path

    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "link").symlink_to(tmp_path)
    assert confined_path(tmp_path / "cache", "shard-00000.safetensors") == (tmp_path / "cache" / "shard-00000.safetensors").resolve()
    for name in ("../x", "/etc/hostname", "a/../../x", "link/other", ".", "", None, 3):
        with pytest.raises(TinykdError):
            confined_path(tmp_path / "cache", name)


def test_error_lines_show_control_characters_escaped():
    assert str(TinykdError("a\x00b \x1b[2J c\nd")) == "a\\x00b \\x1b[2J c d"


# -- the one training rule ------------------------------------------------------------------------------------


def test_check_trainable_is_the_one_rule_for_training_data(tmp_path):
    make_tree(tmp_path / "one", [f"dog/{s}_{i}.wav" for s in ("ann", "ben") for i in range(6)])
    ds = load_dataset(tmp_path / "one", DataConfig())
    with pytest.raises(DatasetError, match=r"only one class \(dog\); a classifier needs at least 2"):
        ds.check_trainable()
    make_tree(tmp_path / "two", FOLDER_FILES)
    load_dataset(tmp_path / "two", DataConfig()).check_trainable()


def test_changes_since_names_what_changed(tmp_path):
    make_tree(tmp_path, FOLDER_FILES)
    cfg = DataConfig(split="random", val_fraction=0, test_fraction=0.25)
    record = load_dataset(tmp_path, cfg).record()
    assert load_dataset(tmp_path, cfg).changes_since(record) is None
    os.unlink(tmp_path / "dog" / "ann_take0.wav")
    changed = load_dataset(tmp_path, cfg).changes_since(record)
    assert changed.startswith(f"fingerprint {record['fingerprint']} -> ") and "clips" in changed
