"""Honest by default (issue 14): a distillation is compared with the alpha = 1 baseline of the same student, data and
seed (trained once into a cache of runs, then reused); a deliberately weak teacher (a cache of always-wrong logits,
written with the real cache writer) is reported BEFORE training; the comparison figures are the ones the run
folders hold; a sweep always holds alpha = 1 and reads every cell against it."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from distill_helpers import write_tiny_preset
from tinykd.distill.baseline import (BaselineCache, baseline_key, binomial_se, compare, default_baseline_dir, verdict,
                                     verdict_line)


def _cfg(preset, **kw):
    from tinykd.distill.config import DistillConfig

    base = dict(student=str(preset), alpha=1.0, epochs=2, batch_size=12, lr=1e-2, warmup_epochs=0, patience=0)
    return DistillConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("distill_baseline")


@pytest.fixture(scope="module")
def preset(work):
    return write_tiny_preset(work, clip_seconds=0.25)


@pytest.fixture(scope="module")
def ds(synth_root):
    from tinykd.data import DataConfig, load_dataset

    return load_dataset(synth_root, DataConfig(clip_seconds=0.25))


def write_logit_cache(out: Path, ds, logits_of) -> Path:
    """A soft-label cache in the teacher's format, written with the teacher's own writer: `logits_of(y)` gives
    the logits [n, C] of clips with labels y."""
    from tinykd.configio import to_dict
    from tinykd.teacher.cache import shard_name, write_meta, write_shard

    arrays = [ds.load_split(s) for s in ("train", "val", "test")]
    hashes = sum((a.hashes for a in arrays), [])
    y = np.concatenate([a.y for a in arrays])
    logits = np.asarray(logits_of(y), dtype=np.float32)
    out.mkdir(parents=True)
    digest = write_shard(out / shard_name(0), logits, hashes, None)
    write_meta(out, {
        "complete": True, "labels": list(ds.labels),
        "teacher": {"name": "made-up-teacher", "config_hash": "0", "weights_hash": "0"},
        "dataset_fingerprint": ds.fingerprint(), "data_config": to_dict(ds.config), "n_clips": len(hashes),
        "shards": [{"file": shard_name(0), "n": len(hashes), "sha256": digest}], "has_attention": False,
        "teacher_frames": None,
    })
    return out


def _one_hot(y, c, scale=10.0):
    out = np.zeros((len(y), c), dtype=np.float32)
    out[np.arange(len(y)), y] = scale
    return out


@pytest.fixture(scope="module")
def weak_cache(work, ds):
    """Always wrong: the teacher's top class is the next class after the true one (0 % on every split)."""
    c = len(ds.labels)
    return write_logit_cache(work / "weak_cache", ds, lambda y: _one_hot((y + 1) % c, c))


@pytest.fixture(scope="module")
def oracle_cache(work, ds):
    """Always right, confidently."""
    c = len(ds.labels)
    return write_logit_cache(work / "oracle_cache", ds, lambda y: _one_hot(y, c))


@pytest.fixture(scope="module")
def baselines(work):
    return BaselineCache(work / "baselines")


@pytest.fixture(scope="module")
def weak_run(synth_root, work, preset, weak_cache, baselines):
    """alpha = 0.5 from the weak teacher; the log records, for each line, whether training had started."""
    from tinykd.distill.run import distill

    out = work / "weak_run"
    lines: list[tuple[str, bool]] = []
    res = distill(synth_root, _cfg(preset, alpha=0.5), out, cache=weak_cache, show_progress=False, baselines=baselines,
                  log=lambda line: lines.append((line, (out / "checkpoints").exists())))
    return res, lines


def test_comparison_figures_by_hand():
    se = binomial_se(0.9, 200, 0.8, 250)
    assert se == pytest.approx(math.sqrt(0.9 * 0.1 / 200 + 0.8 * 0.2 / 250))
    c = compare(0.9, 200, 0.8, 250)
    assert c["difference"] == pytest.approx(0.1) and c["se"] == pytest.approx(se) and c["verdict"] == "helped"
    assert compare(0.8, 250, 0.9, 200)["verdict"] == "did not help"
    assert compare(0.81, 250, 0.8, 250)["verdict"] == "within noise"
    assert verdict(0.0, 0.0) == "within noise" and verdict(0.01, 0.0) == "helped"
    line = verdict_line(compare(0.5, 400, 0.6, 400))  # SE = sqrt(0.25/400 + 0.24/400) = 0.035
    assert "did not help" in line and "-10.0 points" in line and "SE 3.5 points" in line
    assert "within noise" in verdict_line(compare(0.5, 100, 0.6, 100))  # SE 0.07: -10 is within two of them


def test_default_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYKD_BASELINES", str(tmp_path / "b"))
    assert default_baseline_dir() == tmp_path / "b"
    monkeypatch.delenv("TINYKD_BASELINES")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_baseline_dir() == tmp_path / "xdg" / "tinykd" / "baselines"


def test_weak_teacher_is_reported_before_training(weak_run, ds, weak_cache):
    res, lines = weak_run
    warnings = [(line, started) for line, started in lines if line.startswith("warning: the teacher scores")]
    assert len(warnings) == 1, lines
    line, started = warnings[0]
    assert not started, "the warning must come before the distillation trains"
    assert "0.0 % on the" in line and "--alpha 1" in line
    assert any("training the alpha = 1 baseline" in text for text, _ in lines)
    m = res.metrics
    val = ds.load_split("val")
    assert m["teacher_val"] == {"accuracy": 0.0, "n": len(val)}
    assert m["baseline"]["baseline_val_accuracy"] > 0.0


def test_the_comparison_is_against_the_cached_baseline_run(weak_run, baselines, ds, preset):
    res, _ = weak_run
    b = res.metrics["baseline"]
    folder = Path(b["run"])
    assert folder.parent == baselines.root and b["trained_now"] is True
    base = json.loads((folder / "metrics.json").read_text())
    base_cfg = json.loads((folder / "config.json").read_text())
    assert base_cfg["distill"]["alpha"] == 1.0 and base_cfg["distill"]["attention_weight"] == 0.0
    assert base_cfg["distill"]["seed"] == 0 and base_cfg["distill"]["epochs"] == 2
    assert base_cfg["dataset"]["fingerprint"] == ds.fingerprint()
    key = json.loads((folder / "baseline.json").read_text())["key"]
    assert key == baseline_key(_cfg(preset, alpha=0.5), base_cfg["student"], ds)
    m = res.metrics
    assert b["baseline_accuracy"] == base["accuracy"] and b["accuracy"] == m["accuracy"]
    assert b["difference"] == pytest.approx(m["accuracy"] - base["accuracy"])
    assert b["se"] == pytest.approx(math.sqrt(m["accuracy"] * (1 - m["accuracy"]) / m["n"]
                                              + base["accuracy"] * (1 - base["accuracy"]) / base["n"]))
    assert b["verdict"] == verdict(b["difference"], b["se"])
    report = (res.run_dir / "report.md").read_text()
    assert verdict_line(b, "test") in report and "The teacher itself scores 0.0 %" in report


def test_a_good_teacher_gives_no_warning_and_reuses_the_baseline(synth_root, work, preset, oracle_cache, baselines,
                                                                weak_run):
    from tinykd.distill.run import distill

    first = Path(weak_run[0].metrics["baseline"]["run"])
    stamp = (first / "metrics.json").stat().st_mtime_ns
    lines: list[str] = []
    res = distill(synth_root, _cfg(preset, alpha=0.5, temperature=4.0), work / "oracle_run", cache=oracle_cache,
                  show_progress=False, baselines=baselines, log=lines.append)
    assert not any(line.startswith("warning: the teacher") for line in lines), lines
    assert not any("training the alpha = 1 baseline" in line for line in lines)
    b = res.metrics["baseline"]
    assert Path(b["run"]) == first and b["trained_now"] is False
    assert (first / "metrics.json").stat().st_mtime_ns == stamp
    assert res.metrics["teacher_val"]["accuracy"] == 1.0


def test_an_alpha_one_run_fills_the_cache_for_later_runs(synth_root, work, preset, weak_cache):
    from tinykd.distill.run import distill

    cache = BaselineCache(work / "baselines_from_a1")
    first = distill(synth_root, _cfg(preset, seed=3), work / "a1_seed3", show_progress=False, baselines=cache)
    [entry] = [p for p in cache.root.iterdir() if p.is_dir()]
    assert json.loads((entry / "metrics.json").read_text())["accuracy"] == first.metrics["accuracy"]
    lines: list[str] = []
    res = distill(synth_root, _cfg(preset, alpha=0.5, seed=3), work / "kd_seed3", cache=weak_cache, show_progress=False,
                  baselines=cache, log=lines.append)
    assert res.metrics["baseline"]["trained_now"] is False and Path(res.metrics["baseline"]["run"]) == entry
    assert res.metrics["baseline"]["baseline_accuracy"] == first.metrics["accuracy"]


def test_cli_prints_the_warning_and_one_verdict_line(synth_root, work, preset, weak_cache, capsys):
    from tinykd.cli import main

    args = ["distill", str(synth_root), "--student", str(preset), "--alpha", "0.5", "--epochs", "2", "--batch-size",
            "12", "--lr", "0.01", "--warmup-epochs", "0", "--patience", "0", "--quiet", "--cache", str(weak_cache)]
    assert main(args + ["--out", str(work / "cli_kd"), "--baselines", str(work / "baselines")]) == 0
    out, err = capsys.readouterr()
    assert "warning: the teacher scores 0.0 %" in err
    verdicts = [line for line in out.splitlines() if line.startswith("The teacher ")]
    assert len(verdicts) == 1 and "against the alpha = 1 baseline" in verdicts[0]
    assert main(args + ["--out", str(work / "cli_kd_nobase"), "--no-baseline"]) == 0
    out, err = capsys.readouterr()
    assert "whether the teacher helped is not known" in out and "warning: the teacher" not in err
    assert "baseline" not in json.loads((work / "cli_kd_nobase" / "metrics.json").read_text())


def test_sweep_always_holds_alpha_one_and_reads_every_cell_against_it(synth_root, work, preset, oracle_cache, baselines,
                                                                      weak_run):
    from tinykd.distill.sweep import sweep

    out = work / "sweep"
    res = sweep(synth_root, _cfg(preset), [2.0], [0.0, 0.5], out, cache=oracle_cache, show_progress=False,
                baselines=baselines)
    assert json.loads((out / "sweep.json").read_text())["alphas"] == [0.0, 0.5, 1.0]
    # The alpha = 1 cell is the cached baseline, copied, not trained again.
    assert "a1_no_teacher" in res.skipped and "a1_no_teacher" not in res.trained
    cached = json.loads((Path(weak_run[0].metrics["baseline"]["run"]) / "metrics.json").read_text())
    rows = list(csv.DictReader((out / "ablation.csv").open()))
    base = [r for r in rows if r["run"] == "a1_no_teacher"]
    assert len(base) == 1 and float(base[0]["accuracy"]) == pytest.approx(cached["accuracy"])
    for r in rows:
        if r["run"] == "a1_no_teacher":
            continue
        m = json.loads((out / r["run"] / "metrics.json").read_text())
        c = compare(m["accuracy"], m["n"], cached["accuracy"], cached["n"])
        assert float(r["difference"]) == pytest.approx(c["difference"]) and float(r["se"]) == pytest.approx(c["se"])
        assert r["verdict"] == c["verdict"]
    md = (out / "ablation.md").read_text()
    assert "**Did the teacher help?**" in md and "| T \\ alpha | 0 | 0.5 | 1 |" in md
