"""Issue 13 for distill, evaluate and sweep: a resume on changed data, labels that look like math text, --force
that replaces only its own kind of folder (and never one holding an input), the one training rule, and
`evaluate` on new recordings that hold no training split. Real tiny students on the built-in data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_helpers import write_wav
from distill_helpers import write_tiny_preset
from tinykd.cli import main
from tinykd.errors import TinykdError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("distill_hardening")


@pytest.fixture(scope="module")
def preset(work):
    return write_tiny_preset(work, clip_seconds=0.25)


def _args(data, out, preset, *extra):
    return ["distill", str(data), "--out", str(out), "--student", str(preset), "--alpha", "1", "--epochs", "1",
            "--batch-size", "12", "--lr", "0.01", "--warmup-epochs", "0", "--patience", "0", "--quiet", *extra]


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: " in err, err
    return err


@pytest.fixture(scope="module")
def trained(synth_root, work, preset):
    """A complete run on a private copy of the built-in data (tests below change that copy)."""
    data = work / "data"
    shutil.copytree(synth_root, data)
    run = work / "run"
    assert main(_args(data, run, preset)) == 0
    return data, run


def test_resume_after_clips_were_deleted_is_refused_naming_what_changed(trained, preset, work, capsys):
    """Kill a distill for real (SIGKILL after its first checkpoint), delete clips, --resume: refused, naming
    what changed; config.json keeps what it recorded. With the clips back, the same resume completes."""
    data, _ = trained
    killed = work / "killed"
    env = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, "-m", "tinykd.cli", *_args(data, killed, preset)[:-1], "--epochs", "400",
                             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 240
        while not (killed / "checkpoints" / "last" / "state.json").is_file():
            assert proc.poll() is None and time.monotonic() < deadline, "distill ended before its first checkpoint"
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait(30)
    assert not (killed / "metrics.json").exists()
    config_before = (killed / "config.json").read_text()
    recorded = json.loads(config_before)["dataset"]
    moved = work / "moved"
    moved.mkdir()
    gone = sorted(data.rglob("*.wav"))[:3]
    for p in gone:
        shutil.move(p, moved / f"{p.parent.name}__{p.name}")
    capsys.readouterr()
    assert main(_args(data, killed, preset, "--resume")) == 2
    err = _err(capsys)
    assert "the data set changed since" in err and f"fingerprint {recorded['fingerprint']} -> " in err
    assert "clips" in err and "--force" in err
    assert (killed / "config.json").read_text() == config_before and not (killed / "metrics.json").exists()
    for p in gone:  # the data restored: the same resume continues and completes
        shutil.move(moved / f"{p.parent.name}__{p.name}", p)
    assert main(_args(data, killed, preset, "--resume", "--epochs", "2")) == 0
    assert json.loads((killed / "metrics.json").read_text())["n"] == recorded["n_test"]


def test_labels_that_look_like_math_text_train_and_plot(synth_root, work, preset, capsys):
    """`$x^$` made matplotlib's math parser crash after training, before metrics.json was written."""
    data = work / "mathy"
    shutil.copytree(synth_root, data)
    names = ["$x^$", r"$\frac$", "a_b^c", "[red]"]
    for old, new in zip(sorted(p for p in data.iterdir() if p.is_dir()), names):
        old.rename(data / new)
    run = work / "mathy_run"
    assert main(_args(data, run, preset)) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert sorted(metrics["labels"]) == sorted(names)
    assert (run / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert "$x^$" in (run / "report.md").read_text()


def test_force_replaces_only_a_run_folder_and_never_one_holding_an_input(trained, preset, work, capsys):
    from tinykd.artifacts import RunDir, TeacherDir

    data, run = trained
    teacher = work / "a_teacher"
    TeacherDir(teacher).mark()
    (teacher / "tinykd_teacher.json").write_text("{}")
    assert main(_args(data, teacher, preset, "--force")) == 2
    assert "not a tinykd run folder (a tinykd teacher folder); refusing to delete it with --force" in _err(capsys)
    assert (teacher / "tinykd_teacher.json").is_file()
    holder = work / "holder"
    RunDir(holder).mark()
    shutil.copytree(data, holder / "data")
    assert main(_args(holder / "data", holder, preset, "--force")) == 2
    assert "--force would delete" in _err(capsys) and (holder / "data" / "synth.json").is_file()
    again = work / "again"
    shutil.copytree(run, again)
    assert main(_args(data, again, preset, "--force")) == 0
    assert f"replaced the tinykd run folder {again}" in capsys.readouterr().err


def test_distill_refuses_a_one_class_data_set_by_the_shared_rule(synth_root, work, preset, capsys):
    one = work / "one_class"
    one.mkdir()
    shutil.copytree(sorted(p for p in synth_root.iterdir() if p.is_dir())[0], one / "only")
    assert main(_args(one, work / "one_run", preset)) == 2
    assert "only one class (only); a classifier needs at least 2" in _err(capsys)


def test_corrupt_run_config_on_resume_is_one_line(trained, preset, work, capsys):
    data, run = trained
    for i, doc in enumerate(({"data": {}}, {"distill": {}, "data": []}, [1, 2], {"distill": {"epochs": "x"}, "data": {}})):
        bad = work / f"bad_config_{i}"
        shutil.copytree(run, bad)
        (bad / "metrics.json").unlink()
        (bad / "config.json").write_text(json.dumps(doc))
        assert main(_args(data, bad, preset, "--resume")) == 2
        _err(capsys)


# -- evaluate on data that is not the training set ---------------------------------------------------------


def _new_speaker_manifest(root: Path, seed: int, classes: int = 4, split: str | None = "test") -> Path:
    from tinykd.data.synth import SynthConfig, synthesize

    synthesize(root / "clips", SynthConfig(n_classes=classes, clips_per_class=3, n_speakers=1, seed=seed))
    rows = ["path,label,speaker" + (",split" if split else "")]
    for wav in sorted((root / "clips").rglob("*.wav")):
        rows.append(f"clips/{wav.parent.name}/{wav.name},{wav.parent.name},newcomer" + (f",{split}" if split else ""))
    (root / "new.csv").write_text("\n".join(rows) + "\n")
    return root / "new.csv"


def test_evaluate_scores_every_clip_of_new_recordings_holding_only_test_clips(trained, work, capsys):
    """A CSV of one new speaker, every row marked test: there is no training split to demand."""
    _, run = trained
    manifest = _new_speaker_manifest(work / "newcomer", seed=7)
    out = work / "newcomer.json"
    assert main(["evaluate", str(run), str(manifest), "--json", str(out)]) == 0
    m = json.loads(out.read_text())
    assert m["n"] == 12 and m["split"] == "all" and "not the data set the model was trained on" in m["split_reason"]
    assert m["classes_absent"] == [] and len(m["per_class"]) == 4
    assert main(["evaluate", str(run), str(manifest), "--split", "train"]) == 2
    assert "split 'train' is empty" in _err(capsys)
    assert main(["evaluate", str(run), str(manifest), "--split", "test"]) == 0
    assert "(n = 12)" in capsys.readouterr().out


def test_evaluate_new_recordings_with_some_classes_and_a_named_layout(trained, work, capsys):
    from tinykd.data.synth import class_specs
    from tinykd.distill.evaluate import evaluate

    _, run = trained
    root = work / "partial"
    manifest = _new_speaker_manifest(root, seed=8, classes=2, split=None)
    m = evaluate(run, manifest)
    assert m["n"] == 6 and m["split"] == "all"
    assert m["classes_absent"] == sorted(c.name for c in class_specs(4)[2:])
    assert {r["label"] for r in m["per_class"]} <= {c.name for c in class_specs(4)}
    # --format: read the same clips as a folder layout, beside a CSV that is not a manifest
    (root / "new.csv").write_text("path,speaker\n")
    with pytest.raises(TinykdError, match="--format folder"):
        evaluate(run, root)
    m2 = evaluate(run, root / "clips", fmt="folder")
    assert m2["n"] == 6
    # A class the model never learnt is refused by name.
    write_wav(root / "clips" / "whistle" / "spk0_whistle_000.wav")
    with pytest.raises(TinykdError, match=r"class\(es\) \['whistle'\] are not among the model's"):
        evaluate(run, root / "clips", fmt="folder")


def test_evaluate_on_the_training_data_keeps_scoring_its_test_split(trained):
    from tinykd.distill.evaluate import evaluate

    data, run = trained
    m = evaluate(run, data)
    saved = json.loads((run / "metrics.json").read_text())
    assert m["split"] == "test" and m["n"] == saved["n"] and m["confusion"] == saved["confusion"]
    assert evaluate(run, data, split="all")["n"] == sum(json.loads((run / "config.json").read_text())["dataset"][k]
                                                        for k in ("n_train", "n_val", "n_test"))


# -- sweep --------------------------------------------------------------------------------------------------


def test_sweep_continues_only_a_sweep_folder_and_force_replaces_only_a_sweep(trained, preset, work, capsys):
    data, run = trained
    foreign = work / "foreign_sweep"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    base = ["sweep", str(data), "--student", str(preset), "--alphas", "1", "--temperatures", "1", "--epochs", "1",
            "--quiet"]
    assert main(base + ["--out", str(foreign)]) == 2
    assert "not a tinykd sweep folder" in _err(capsys)
    assert main(base + ["--out", str(run), "--force"]) == 2
    assert "refusing to delete it with --force" in _err(capsys)
    assert (foreign / "notes.txt").read_text() == "mine" and (run / "metrics.json").is_file()
