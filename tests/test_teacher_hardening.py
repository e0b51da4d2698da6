"""Issue 13 for the teacher: `teacher train` never overwrites a teacher silently and refuses a one-class data set
(the rule distill applies), corrupt teacher files are one line, `teacher export` names what differs from the
cache it finds and replaces only a cache folder, `teacher evaluate` scores new recordings whole."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tinykd.cli import main  # noqa: E402

pytestmark = pytest.mark.teacher

TINY = ["--tiny", "hidden_size=16", "--tiny", "num_hidden_layers=1", "--tiny", "num_attention_heads=2",
        "--tiny", "intermediate_size=32", "--tiny", "conv_dim=8,8,16,16", "--tiny", "num_conv_pos_embeddings=4",
        "--tiny", "num_conv_pos_embedding_groups=2"]


def _train_args(data, out, *extra):
    return ["teacher", "train", str(data), "--out", str(out), "--epochs", "1", "--batch-size", "8", "--threads", "1",
            "--device", "cpu", "--no-augment", "--no-progress", *TINY, *extra]


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Built-in data (2 classes) and a teacher trained on it through the CLI."""
    from tinykd.data.synth import SynthConfig, synthesize

    work = tmp_path_factory.mktemp("teacher_hardening")
    data = work / "data"
    synthesize(data, SynthConfig(n_classes=2, clips_per_class=8, n_speakers=2, seed=3))
    teacher = work / "teacher"
    assert main(_train_args(data, teacher)) == 0
    return work, data, teacher


def test_teacher_train_refuses_an_existing_teacher_without_force(small, capsys):
    work, data, teacher = small
    before = {p.name: p.stat().st_mtime_ns for p in teacher.iterdir()}
    assert main(_train_args(data, teacher)) == 2
    assert "teacher folder exists; use --force to replace it" in _err(capsys)
    assert {p.name: p.stat().st_mtime_ns for p in teacher.iterdir()} == before
    again = work / "again"
    shutil.copytree(teacher, again)
    assert main(_train_args(data, again, "--force")) == 0
    assert f"replaced the tinykd teacher folder {again}" in capsys.readouterr().out
    notes = work / "notes"
    notes.mkdir()
    (notes / "thesis.tex").write_text("precious")
    assert main(_train_args(data, notes, "--force")) == 2
    assert "not a tinykd teacher folder" in _err(capsys) and (notes / "thesis.tex").read_text() == "precious"


def test_teacher_train_refuses_a_one_class_data_set_like_distill(small, capsys):
    work, data, _ = small
    one = work / "one"
    one.mkdir()
    shutil.copytree(sorted(p for p in data.iterdir() if p.is_dir())[0], one / "only")
    assert main(_train_args(one, work / "one_teacher")) == 2
    assert "only one class (only); a classifier needs at least 2" in _err(capsys)
    assert not (work / "one_teacher").exists()


@pytest.mark.parametrize("damage,words", [
    ("labels_json", "labels.json: not valid JSON"),
    ("labels_list", "must be a non-empty JSON list of class names"),
    ("weights_truncated", "truncated or corrupt"),
    ("config_json", "cannot load the model"),
])
def test_corrupt_teacher_files_are_one_line(small, capsys, damage, words):
    work, data, teacher = small
    bad = work / f"bad_{damage}"
    shutil.copytree(teacher, bad)
    if damage == "labels_json":
        (bad / "labels.json").write_text("[\"a\", ")
    elif damage == "labels_list":
        (bad / "labels.json").write_text(json.dumps({"a": 1}))
    elif damage == "weights_truncated":
        blob = (bad / "model.safetensors").read_bytes()
        (bad / "model.safetensors").write_bytes(blob[: len(blob) // 3])
    else:
        (bad / "config.json").write_text("{not json")
    for cmd in (["teacher", "export", str(data), "--teacher", str(bad), "--out", str(work / f"c_{damage}")],
                ["teacher", "evaluate", str(data), "--teacher", str(bad)]):
        assert main(cmd + ["--threads", "1"] + (["--no-progress"] if cmd[1] == "export" else [])) == 2
        assert words in _err(capsys)
    assert not (work / f"c_{damage}").exists()  # refused before the output folder was made


def test_export_names_what_differs_and_replaces_only_a_cache(small, capsys):
    work, data, teacher = small
    cache = work / "cache"
    export = ["teacher", "export", str(data), "--teacher", str(teacher), "--threads", "1", "--no-progress",
              "--batch-size", "8"]
    assert main(export + ["--out", str(cache), "--shard-size", "8"]) == 0
    capsys.readouterr()
    # Another --shard-size on a complete cache: the soft labels are the same; nothing to do, and it says why.
    assert main(export + ["--out", str(cache), "--shard-size", "4"]) == 0
    out = capsys.readouterr().out
    assert "nothing to do" in out and "--shard-size applies to a new export" in out and "another teacher" not in out
    # Other data: named as such.
    from tinykd.data.synth import SynthConfig, synthesize

    other = work / "other_data"
    synthesize(other, SynthConfig(n_classes=2, clips_per_class=8, n_speakers=2, seed=4))
    assert main(["teacher", "export", str(other), "--teacher", str(teacher), "--threads", "1", "--no-progress",
                 "--out", str(cache)]) == 2
    err = _err(capsys)
    assert "another data set (fingerprint" in err and "shard size" not in err and "--overwrite" in err
    # --overwrite goes through prepare_output: says what it replaced, refuses a folder of another kind.
    assert main(export + ["--out", str(cache), "--overwrite"]) == 0
    assert f"replaced the tinykd cache folder {cache}" in capsys.readouterr().out
    assert main(export + ["--out", str(teacher), "--overwrite"]) == 2
    assert "not a tinykd cache folder (a tinykd teacher folder)" in _err(capsys)
    assert (teacher / "model.safetensors").is_file()
    # An unfinished export with another shard size: started over, and the message says why.
    meta = json.loads((cache / "meta.json").read_text())
    meta["complete"] = False
    (cache / "meta.json").write_text(json.dumps(meta))
    assert main(export + ["--out", str(cache), "--shard-size", "5"]) == 0
    assert "an unfinished export with another shard size (512 -> 5)" in capsys.readouterr().out


def test_teacher_evaluate_scores_new_recordings_whole(small, capsys):
    from tinykd.data.synth import SynthConfig, synthesize

    work, data, teacher = small
    new = work / "new_speaker"
    synthesize(new / "clips", SynthConfig(n_classes=2, clips_per_class=3, n_speakers=1, seed=11))
    rows = ["path,label,split"] + [f"clips/{w.parent.name}/{w.name},{w.parent.name},test"
                                   for w in sorted((new / "clips").rglob("*.wav"))]
    (new / "m.csv").write_text("\n".join(rows) + "\n")
    assert main(["teacher", "evaluate", str(new / "m.csv"), "--teacher", str(teacher), "--threads", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 6 and result["split"] == "all"
    assert main(["teacher", "evaluate", str(data), "--teacher", str(teacher), "--threads", "1", "--json"]) == 0
    own = json.loads(capsys.readouterr().out)
    assert own["split"] == "test" and own["n"] < 16
