"""The leave-one-speaker-out protocol end to end on built-in generated data (2 speakers, 1 epoch everywhere):
`tinykd sweep --folds speakers` pretrains, trains and exports a teacher per fold without the held-out speaker,
trains the students' grid, and summarises every cell over folds; a protocol killed for real (the process, after
its first fold's soft labels) continues where it stopped; other teacher settings are refused on resume; the
summary's figures are the ones the fold folders hold."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from distill_helpers import write_tiny_preset  # noqa: E402
from tinykd.cli import main  # noqa: E402

pytestmark = [pytest.mark.teacher, pytest.mark.slow]

TINY = ["--teacher-tiny", "hidden_size=16", "--teacher-tiny", "num_hidden_layers=1", "--teacher-tiny",
        "num_attention_heads=2", "--teacher-tiny", "intermediate_size=32", "--teacher-tiny", "conv_dim=8,8,16,16",
        "--teacher-tiny", "num_conv_pos_embeddings=4", "--teacher-tiny", "num_conv_pos_embedding_groups=2"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from tinykd.data.synth import SynthConfig, synthesize

    work = tmp_path_factory.mktemp("loso")
    saved = os.environ.get("TINYKD_BASELINES")
    os.environ["TINYKD_BASELINES"] = str(work / "baselines")  # the CLI's default cache, kept out of the home folder
    data = work / "data"
    synthesize(data, SynthConfig(n_classes=3, clips_per_class=6, n_speakers=2, seed=1))
    preset = write_tiny_preset(work, clip_seconds=0.25)
    args = ["sweep", str(data), "--folds", "speakers", "--student", str(preset), "--temperatures", "2",
            "--alphas", "0.5", "--attention-weight", "0,0.5", "--epochs", "1", "--batch-size", "12", "--lr", "0.01",
            "--warmup-epochs", "0", "--patience", "0", "--teacher-epochs", "1", "--pretrain-epochs", "1",
            "--threads", "1", "--quiet", *TINY]
    yield work, data, preset, args
    if saved is None:
        os.environ.pop("TINYKD_BASELINES", None)
    else:
        os.environ["TINYKD_BASELINES"] = saved


@pytest.fixture(scope="module")
def protocol(setup):
    """Run it in a child process, kill that process once fold 1's soft labels are complete, run it again here."""
    work, data, preset, args = setup
    out = work / "protocol"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    log = (work / "child.log").open("w")
    child = subprocess.Popen([sys.executable, "-m", "tinykd.cli", *args, "--out", str(out)], env=env,
                             stdout=log, stderr=subprocess.STDOUT, text=True)
    first_cache = out / "fold-spk0" / "cache" / "meta.json"
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if first_cache.is_file() and json.loads(first_cache.read_text()).get("complete") is True:
                break
            time.sleep(0.2)
        assert child.poll() is None, f"the protocol ended before it could be killed: {(work / 'child.log').read_text()[-2000:]}"
        child.kill()
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
        log.close()
    killed_at = {p: p.stat().st_mtime_ns for p in (out / "fold-spk0" / "teacher" / "model.safetensors",
                                                   out / "fold-spk0" / "pretrained" / "model.safetensors")}
    assert not (out / "summary.json").exists()
    return work, data, preset, args, out, killed_at


def test_a_killed_protocol_continues_where_it_stopped(protocol, capsys):
    work, data, preset, args, out, killed_at = protocol
    assert main(args + ["--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Leave-one-speaker-out" in text and "skipped" in text
    for path, stamp in killed_at.items():  # fold 1's pretraining and teacher were not trained again
        assert path.stat().st_mtime_ns == stamp, path
    for name in ("protocol.md", "protocol.png", "summary.json", "protocol.json"):
        assert (out / name).is_file(), name
    for fold in ("fold-spk0", "fold-spk1"):
        for part in ("pretrained", "teacher", "cache", "tiny-test"):
            assert json.loads((out / fold / part / "tinykd.json").read_text())["kind"] in (
                "pretrained", "teacher", "cache", "sweep"), (fold, part)
        assert json.loads((out / fold / "tinykd.json").read_text())["kind"] == "fold"
        for cell in ("a1_no_teacher", "T2_a0.5", "T2_a0.5_b0.5", "T2_a1_b0.5"):
            assert (out / fold / "tiny-test" / cell / "metrics.json").is_file(), (fold, cell)
    assert json.loads((out / "tinykd.json").read_text())["kind"] == "protocol"
    # Each fold's alpha = 1 run went into the baseline cache, where a later `distill` of that fold finds it.
    assert len([p for p in (work / "baselines").iterdir() if (p / "baseline.json").is_file()]) == 2
    # Rerunning a finished protocol trains nothing.
    assert main(args + ["--out", str(out)]) == 0
    assert "trained 0 unit(s)" in capsys.readouterr().out


def test_the_held_out_speaker_is_heard_by_no_one(protocol):
    out = protocol[4]
    for speaker in ("spk0", "spk1"):
        fold = out / f"fold-{speaker}"
        pre = json.loads((fold / "pretrained" / "tinykd_pretrain.json").read_text())
        assert pre["status"] == "complete" and pre["data"]["excluded_speakers"] == [speaker]
        assert speaker not in pre["data"]["speakers"]
        teacher = json.loads((fold / "teacher" / "tinykd_teacher.json").read_text())
        assert teacher["data_config"]["split"] == f"speaker:{speaker}"
        assert teacher["pretrained"]["dir"] == str((fold / "pretrained").resolve())
        # The held-out speaker's accuracy per epoch is recorded as a diagnostic, and the checkpoint is still the best
        # on validation (seen speakers).
        history = json.loads((fold / "teacher" / "train_metrics.json").read_text())
        assert all("heldout_accuracy" in e for e in history["epochs"])
        assert history["best_epoch"] == 1
        run = json.loads((fold / "tiny-test" / "T2_a0.5" / "config.json").read_text())
        assert run["data"]["split"] == f"speaker:{speaker}"
        assert run["teacher"]["cache"] == str(fold / "cache")


def test_summary_figures_are_the_fold_folders_figures(protocol):
    from tinykd.data import DataConfig, load_dataset
    from tinykd.teacher.cache import SoftLabelCache

    work, data, preset, args, out, _ = protocol
    summary = json.loads((out / "summary.json").read_text())
    speakers = ["spk0", "spk1"]
    assert summary["speakers"] == speakers
    rows = {r["cell"]: r for r in summary["students"]["tiny-test"]["cells"]}
    assert set(rows) == {"a1_no_teacher", "T2_a0.5", "T2_a0.5_b0.5", "T2_a1_b0.5"}
    acc = {(s, c): json.loads((out / f"fold-{s}" / "tiny-test" / c / "metrics.json").read_text())["accuracy"]
           for s in speakers for c in rows}
    for cell, r in rows.items():
        values = [acc[(s, cell)] for s in speakers]
        assert r["per_fold"] == dict(zip(speakers, values))
        assert r["mean"] == pytest.approx(np.mean(values))
        assert r["se"] == pytest.approx(np.std(values, ddof=1) / math.sqrt(2))
        if cell != "a1_no_teacher":
            diffs = [acc[(s, cell)] - acc[(s, "a1_no_teacher")] for s in speakers]
            assert r["difference"] == pytest.approx(np.mean(diffs))
            assert r["difference_se"] == pytest.approx(np.std(diffs, ddof=1) / math.sqrt(2))
    for s in speakers:  # the teacher's held-out accuracy: its cached soft labels on the held-out speaker's clips
        ds = load_dataset(data, DataConfig(split=f"speaker:{s}", clip_seconds=0.25))
        test = ds.load_split("test")
        cache = SoftLabelCache.open(out / f"fold-{s}" / "cache")
        expect = float(np.mean(cache.logits(test.hashes).argmax(axis=1) == test.y))
        assert summary["teacher"]["per_fold"][s] == pytest.approx(expect)
        assert summary["teacher"]["n_per_fold"][s] == len(test) == sum(c.speaker == s for c in ds.clips)
    md = (out / "protocol.md").read_text()
    assert "| teacher | held-out speaker |" in md and "| tiny-test | T2_a0.5 |" in md
    assert summary["seconds_total"] > 0


def test_other_teacher_settings_are_refused_on_resume(protocol, capsys):
    work, data, preset, args, out, _ = protocol
    changed = list(args)
    i = changed.index("--teacher-epochs")
    changed[i + 1] = "2"
    assert main(changed + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "other teacher settings" in err and len(err.strip().splitlines()) == 1
    # A teacher extra set added on resume is another teacher too (protocols saved before the option had none).
    assert main(args + ["--out", str(out), "--teacher-extra-train", str(work)]) == 2
    err = capsys.readouterr().err
    assert "other teacher_extra_train settings" in err and len(err.strip().splitlines()) == 1


def test_every_fold_teacher_also_learns_the_extra_set(setup, tmp_path):
    from data_helpers import renamed_tones_set

    work, data, preset, args = setup
    extra = renamed_tones_set(tmp_path / "extra", "other", n_classes=2)
    out = tmp_path / "protocol"
    i = args.index("--pretrain-epochs")
    plain = args[:i] + args[i + 2:]  # no pretraining: each fold's teacher from scratch
    assert main(plain + ["--out", str(out), "--speakers", "spk0", "--teacher-extra-train", str(extra),
                         "--no-teacher-masking", "--teacher-batch-size", "8"]) == 0
    meta = json.loads((out / "fold-spk0" / "teacher" / "tinykd_teacher.json").read_text())
    (record,) = meta["extra_train"]
    assert record["root"] == str(extra.resolve()) and record["n_train"] > 0
    assert meta["train_config"]["batch_size"] == 8 and meta["train_config"]["masking"]["mask_time_prob"] == 0.0
    assert json.loads((out / "protocol.json").read_text())["teacher_extra_train"] == [str(extra.resolve())]


def test_folds_option_errors_are_one_line(setup, capsys, tmp_path):
    work, data, preset, args = setup
    assert main(args + ["--out", str(tmp_path / "a"), "--speakers", "nobody"]) == 2
    assert "no speaker nobody here" in capsys.readouterr().err
    assert main(args + ["--out", str(tmp_path / "b"), "--cache", str(tmp_path)]) == 2
    assert "drop --cache" in capsys.readouterr().err
    bad = list(args)
    bad[bad.index("--folds") + 1] = "classes"
    assert main(bad + ["--out", str(tmp_path / "c")]) == 2
    assert "use one of speakers" in capsys.readouterr().err


def test_another_student_seed_against_the_same_teachers_pools(protocol, tmp_path, capsys):
    """--teachers-from copies every fold's finished pretraining, teacher and soft labels (no teacher is trained),
    and pool_seeds averages the two seeds per fold before the mean +- SE over folds."""
    from tinykd.distill.loso import pool_seeds, pooled_report

    work, data, preset, args, out, _ = protocol
    assert main(args + ["--out", str(out)]) == 0  # finished (or finishes) the seed-0 protocol
    second = tmp_path / "seed1"
    assert main(args + ["--out", str(second), "--seed", "1", "--teachers-from", str(out)]) == 0
    for s in ("spk0", "spk1"):
        for unit, weights in (("teacher", "model.safetensors"), ("pretrained", "model.safetensors"), ("cache", "meta.json")):
            assert (second / f"fold-{s}" / unit / weights).read_bytes() == (out / f"fold-{s}" / unit / weights).read_bytes()
        fold = json.loads((second / f"fold-{s}" / "fold.json").read_text())
        assert fold["teachers_from"] == str((out / f"fold-{s}").resolve())
        assert "teacher" not in fold["seconds"] and "cache" not in fold["seconds"]  # nothing of the teacher trained here
    assert "were taken from" in (second / "protocol.md").read_text()
    a = json.loads((out / "summary.json").read_text())
    b = json.loads((second / "summary.json").read_text())
    assert a["teacher"]["per_fold"] == b["teacher"]["per_fold"]
    pooled = pool_seeds([out, second])
    assert pooled["seeds"] == [0, 1]
    rows_a = {r["cell"]: r for r in a["students"]["tiny-test"]["cells"]}
    rows_b = {r["cell"]: r for r in b["students"]["tiny-test"]["cells"]}
    for r in pooled["students"]["tiny-test"]:
        per_fold = [(rows_a[r["cell"]]["per_fold"][s] + rows_b[r["cell"]]["per_fold"][s]) / 2 for s in ("spk0", "spk1")]
        assert r["mean"] == pytest.approx(np.mean(per_fold))
        assert r["se"] == pytest.approx(np.std(per_fold, ddof=1) / math.sqrt(2))
        if r["cell"] != "a1_no_teacher":
            diffs = [(rows_a[r["cell"]]["difference_per_fold"][s] + rows_b[r["cell"]]["difference_per_fold"][s]) / 2
                     for s in ("spk0", "spk1")]
            assert r["difference"] == pytest.approx(np.mean(diffs))
            assert r["per_seed_difference"] == [rows_a[r["cell"]]["difference"], rows_b[r["cell"]]["difference"]]
    assert "| tiny-test | T2_a0.5 |" in pooled_report(pooled)
    # Refused in one line: other teacher options, this protocol's own folder, one seed twice.
    changed = list(args)
    changed[changed.index("--teacher-epochs") + 1] = "2"
    capsys.readouterr()
    assert main(changed + ["--out", str(tmp_path / "other"), "--seed", "2", "--teachers-from", str(out)]) == 2
    err = capsys.readouterr().err
    assert "teacher settings differ" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "other").exists()  # refused before anything is written
    assert main(args + ["--out", str(out), "--teachers-from", str(out)]) == 2
    assert "this protocol's own folder" in capsys.readouterr().err
    with pytest.raises(Exception, match="repeats"):
        pool_seeds([out, out])
