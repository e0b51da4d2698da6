"""End to end on the built-in synthetic data: run folders, the CLI's refusals, soft-label caches (real
writer, logits of a real model), evaluate on .keras/.tflite, and a 2 x 2 sweep with its report files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from distill_helpers import write_tiny_preset
from tinykd.errors import CacheError, TinykdError

RUN_FILES = ("model.keras", "config.json", "labels.json", "metrics.json", "history.json", "training_curves.png",
             "confusion_matrix.png", "report.md")


def _cfg(preset, **kw):
    from tinykd.distill.config import DistillConfig

    base = dict(student=str(preset), alpha=1.0, epochs=1, batch_size=12, lr=1e-2, warmup_epochs=0, patience=0)
    return DistillConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("distill_run")


@pytest.fixture(scope="module")
def preset(work):
    return write_tiny_preset(work, clip_seconds=0.25)


@pytest.fixture(scope="module")
def teacher_run(synth_root, work, preset):
    """alpha = 1 (no teacher): the base run, and the teacher of the teacher-student and cache tests."""
    from tinykd.distill.run import distill

    return distill(synth_root, _cfg(preset, epochs=2), work / "teacher_run", show_progress=False)


def _dataset(run_dir: Path, root: Path):
    from tinykd.configio import from_dict, load_json
    from tinykd.data import DataConfig, load_dataset

    return load_dataset(root, from_dict(DataConfig, load_json(run_dir / "config.json")["data"]))


def write_cache(out: Path, ds, run_dir: Path, labels=None, drop: int = 0) -> Path:
    """A soft-label cache in the teacher's format (its own writer): logits of the model in `run_dir` on every
    clip, and as attention each clip's short-time energy envelope (where the sound is), rows summing to 1."""
    from tinykd.configio import to_dict
    from tinykd.students.saved import load_run_model
    from tinykd.teacher.cache import shard_name, write_meta, write_shard

    model, _ = load_run_model(run_dir)
    x = np.concatenate([ds.load_split(s).x for s in ("train", "val", "test")])
    hashes = sum((ds.load_split(s).hashes for s in ("train", "val", "test")), [])
    logits = np.asarray(model(x, training=False), dtype=np.float32)
    frames = 50
    energy = (x[:, : (x.shape[1] // frames) * frames].reshape(len(x), frames, -1) ** 2).mean(axis=2) + 1e-8
    attention = (energy / energy.sum(axis=1, keepdims=True)).astype(np.float32)
    keep = slice(drop, None)
    out.mkdir(parents=True)
    digest = write_shard(out / shard_name(0), logits[keep], hashes[keep], attention[keep])
    write_meta(out, {
        "complete": True, "labels": list(labels or ds.labels),
        "teacher": {"name": "tiny-test-teacher", "config_hash": "0", "weights_hash": "0"},
        "dataset_fingerprint": ds.fingerprint(), "data_config": to_dict(ds.config), "n_clips": len(hashes[keep]),
        "shards": [{"file": shard_name(0), "n": len(hashes[keep]), "sha256": digest}],
        "has_attention": True, "teacher_frames": frames,
    })
    return out


def test_run_folder_is_complete(teacher_run, synth_root):
    run = teacher_run.run_dir
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("accuracy", "macro_f1", "per_class", "confusion", "n", "weighted_f1", "split", "training"):
        assert key in metrics
    assert metrics["split"] == "test" and metrics["n"] == sum(map(sum, metrics["confusion"]))
    config = json.loads((run / "config.json").read_text())
    assert set(config) >= {"distill", "student", "frontend", "data", "teacher", "params"}
    assert config["distill"]["alpha"] == 1.0 and config["teacher"] == {"cache": None, "teacher_student": None}
    ds = _dataset(run, synth_root)
    assert json.loads((run / "labels.json").read_text()) == ds.labels
    assert len(json.loads((run / "history.json").read_text())) == 2
    report = (run / "report.md").read_text()
    assert f"{metrics['accuracy']:.2%}" in report and "none (alpha = 1" in report
    assert (run / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_refuses_existing_folder_and_bad_values(teacher_run, synth_root, preset, capsys):
    from tinykd.cli import main

    run = str(teacher_run.run_dir)
    base = ["distill", str(synth_root), "--student", str(preset), "--epochs", "1", "--quiet"]
    assert main(base + ["--alpha", "1", "--out", run]) == 2
    assert "run folder exists; use --resume to continue it or --force" in capsys.readouterr().err
    assert main(base + ["--alpha", "1", "--out", run, "--resume", "--epochs", "2"]) == 0
    assert "already complete" in capsys.readouterr().out
    assert main(base + ["--alpha", "1.5", "--out", run + "x"]) == 2
    assert "--alpha must be in [0, 1]" in capsys.readouterr().err
    assert main(base + ["--temperature", "0", "--out", run + "x"]) == 2
    assert "--temperature must be > 0" in capsys.readouterr().err
    assert main(base + ["--alpha", "0.5", "--out", run + "x"]) == 2
    assert "needs a teacher" in capsys.readouterr().err
    assert not Path(run + "x").exists()
    not_a_run = teacher_run.run_dir.parent / "not_a_run"
    not_a_run.mkdir()
    (not_a_run / "notes.txt").write_text("mine")
    assert main(base + ["--alpha", "1", "--out", str(not_a_run), "--force"]) == 2
    assert "not a tinykd run folder" in capsys.readouterr().err and (not_a_run / "notes.txt").is_file()


def test_cache_with_attention_and_bad_caches(teacher_run, synth_root, work, preset):
    from tinykd.distill.run import distill

    ds = _dataset(teacher_run.run_dir, synth_root)
    cache = write_cache(work / "cache", ds, teacher_run.run_dir)
    res = distill(synth_root, _cfg(preset, alpha=0.5, attention_weight=0.5), work / "kd_att", cache=cache,
                  show_progress=False)
    hist = res.history[0]
    assert hist["train_kd"] > 0 and hist["train_attention"] > 0 and np.isfinite(hist["train_loss"])
    assert json.loads((res.run_dir / "config.json").read_text())["teacher"]["cache"] == str(cache)
    assert "attention" not in " ".join(w.path for w in __import__("keras").saving.load_model(res.run_dir / "model.keras").weights)

    short = write_cache(work / "cache_short", ds, teacher_run.run_dir, drop=3)
    with pytest.raises(CacheError, match="not cached|not in the cache"):
        distill(synth_root, _cfg(preset, alpha=0.5), work / "kd_short", cache=short, show_progress=False)
    swapped = write_cache(work / "cache_labels", ds, teacher_run.run_dir, labels=list(reversed(ds.labels)))
    with pytest.raises(CacheError, match="label maps disagree"):
        distill(synth_root, _cfg(preset, alpha=0.5), work / "kd_labels", cache=swapped, show_progress=False)


def _float_tflite(model, path: Path) -> None:
    import tensorflow as tf

    export_dir = path.parent / "saved_model"
    model.export(str(export_dir), format="tf_saved_model", verbose=False)
    path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(export_dir)).convert())


def test_evaluate_keras_run_and_tflite(teacher_run, synth_root, work, capsys):
    from tinykd.cli import main
    from tinykd.distill.evaluate import evaluate
    from tinykd.students.saved import load_run_model

    run = teacher_run.run_dir
    saved = json.loads((run / "metrics.json").read_text())
    on_folder = evaluate(run, synth_root)
    on_file = evaluate(run / "model.keras", synth_root)
    assert on_folder["accuracy"] == on_file["accuracy"] == saved["accuracy"]
    assert on_folder["confusion"] == saved["confusion"]
    model, _ = load_run_model(run)
    tfl = run / "float" / "model.tflite"
    tfl.parent.mkdir()
    _float_tflite(model, tfl)
    out_json = work / "eval.json"
    assert main(["evaluate", str(tfl), str(synth_root), "--json", str(out_json)]) == 0
    got = json.loads(out_json.read_text())
    assert {"accuracy", "macro_f1", "per_class", "confusion", "n"} <= set(got)
    assert got["model_type"] == "tflite" and got["n"] == saved["n"]
    assert got["confusion"] == saved["confusion"]  # float TFLite predicts what Keras predicts
    assert "accuracy" in capsys.readouterr().out
    with pytest.raises(TinykdError, match="unknown model type"):
        evaluate(run / "labels.json", synth_root)


def test_tiny_sweep_and_resume(teacher_run, synth_root, work, preset):
    from tinykd.distill.sweep import sweep

    out = work / "sweep"
    base = _cfg(preset)
    res = sweep(synth_root, base, [1, 2], [0.5, 1], out, teacher_student=teacher_run.run_dir, show_progress=False)
    assert sorted(res.trained) == ["T1_a0.5", "T2_a0.5", "a1_no_teacher"] and res.skipped == []
    for name in ("ablation.md", "ablation.csv", "ablation_heatmap.png", "sweep.json"):
        assert (out / name).is_file(), name
    for cell in res.trained:
        assert (out / "confusion" / f"{cell}.png").is_file()
        assert (out / cell / "metrics.json").is_file()
    rows = list(csv.DictReader((out / "ablation.csv").open()))
    assert [(float(r["temperature"]), float(r["alpha"])) for r in rows] == [(1, 0.5), (1, 1), (2, 0.5), (2, 1)]
    for r in rows:
        m = json.loads((out / r["run"] / "metrics.json").read_text())
        assert float(r["accuracy"]) == pytest.approx(m["accuracy"])
    cell_cfg = json.loads((out / "T2_a0.5" / "config.json").read_text())
    assert cell_cfg["distill"]["temperature"] == 2 and cell_cfg["teacher"]["teacher_student"] == str(teacher_run.run_dir)
    md = (out / "ablation.md").read_text()
    assert "| T \\ alpha | 0.5 | 1 |" in md and "ablation_heatmap.png" in md
    again = sweep(synth_root, base, [1, 2], [0.5, 1], out, teacher_student=teacher_run.run_dir, show_progress=False)
    assert again.trained == [] and sorted(again.skipped) == ["T1_a0.5", "T2_a0.5", "a1_no_teacher"]
    with pytest.raises(TinykdError, match="alpha must be in"):
        sweep(synth_root, base, [1], [2.0], out, show_progress=False)
