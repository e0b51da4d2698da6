"""The built-in synthetic data set: determinism, layout, config checks, and that it is learnable but not trivial."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from scipy.optimize import minimize

from tinykd.data import DataConfig, load_dataset
from tinykd.data.synth import SynthConfig, class_specs, class_specs_all, speaker_specs, synthesize
from tinykd.errors import DatasetError


def test_fixture_set_loads_as_folder_per_class(synth_root):
    ds = load_dataset(synth_root, DataConfig())
    assert ds.format == "folder" and not ds.problems
    assert len(ds.clips) == 4 * 12 and len(ds.labels) == 4
    assert ds.speakers == ["spk0", "spk1", "spk2"]
    assert {c.source_rate for c in ds.clips} == {16000} and {c.frames for c in ds.clips} == {16000}
    meta = json.loads((synth_root / "synth.json").read_text())
    assert meta["config"]["n_classes"] == 4 and meta["n_files"] == 48
    assert [c["name"] for c in meta["classes"]] == [c.name for c in class_specs(4)]
    assert (synth_root / "README.md").read_text().startswith("# tinykd synthetic")


def test_deterministic_bit_for_bit_and_seed_dependent(tmp_path):
    cfg = SynthConfig(n_classes=3, clips_per_class=4, n_speakers=2, seed=7)
    synthesize(tmp_path / "a", cfg)
    synthesize(tmp_path / "b", cfg)
    synthesize(tmp_path / "c", SynthConfig(n_classes=3, clips_per_class=4, n_speakers=2, seed=8))
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.wav"))
    assert len(files) == 12
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
        assert (tmp_path / "a" / rel).read_bytes() != (tmp_path / "c" / rel).read_bytes()
    # a clip does not depend on how many others are made
    synthesize(tmp_path / "d", SynthConfig(n_classes=5, clips_per_class=6, n_speakers=2, seed=7))
    assert (tmp_path / "a" / files[0]).read_bytes() == (tmp_path / "d" / files[0]).read_bytes()


def test_clip_contents_are_sane(synth_root):
    for p in sorted(synth_root.rglob("*.wav"))[:12]:
        x, sr = sf.read(p, dtype="float32")
        assert sr == 16000 and x.shape == (16000,)
        assert np.isfinite(x).all() and 0.15 < np.abs(x).max() < 1.0
        assert x.std() > 0.005  # not silence


def _synth_args(out, classes=2):
    return ["data", "synth", str(out), "--kind", "tones", "--classes", str(classes), "--clips-per-class", "2", "--speakers", "1"]


def test_rerun_needs_force_and_force_replaces_only_an_earlier_set(tmp_path, capsys):
    from tinykd.cli import main

    synthesize(tmp_path / "s", SynthConfig(n_classes=4, clips_per_class=2, n_speakers=1))
    with pytest.raises(DatasetError, match="not empty"):  # the library never replaces anything
        synthesize(tmp_path / "s", SynthConfig(n_classes=2, clips_per_class=2, n_speakers=1))
    assert main(_synth_args(tmp_path / "s")) == 2
    assert "synth folder exists; use --force to replace it" in capsys.readouterr().err
    assert main(_synth_args(tmp_path / "s") + ["--force"]) == 0
    assert f"replaced the tinykd synth folder {tmp_path / 's'}" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "s").iterdir() if p.is_dir()) == sorted(c.name for c in class_specs(2))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(DatasetError, match="not empty"):
        synthesize(tmp_path / "mine", SynthConfig(n_classes=2, clips_per_class=1))
    assert main(_synth_args(tmp_path / "mine") + ["--force"]) == 2
    assert "not a tinykd synth folder" in capsys.readouterr().err
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_a_crafted_synth_json_never_deletes_outside_the_folder(tmp_path, capsys):
    """synth.json names `../victim` (and an absolute path) as classes: --force replaces DIR as a whole and
    deletes nothing by a name read from the file."""
    from tinykd.cli import main

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    out = tmp_path / "set"
    synthesize(out, SynthConfig(n_classes=2, clips_per_class=1, n_speakers=1))
    meta = json.loads((out / "synth.json").read_text())
    meta["classes"] += [{"name": "../victim"}, {"name": str(victim)}]
    (out / "synth.json").write_text(json.dumps(meta))
    assert main(_synth_args(out)) == 2
    assert (victim / "keep.txt").read_text() == "mine"
    assert main(_synth_args(out) + ["--force"]) == 0
    assert (victim / "keep.txt").read_text() == "mine"
    assert json.loads((out / "synth.json").read_text())["n_files"] == 4


@pytest.mark.parametrize(
    "kw,word",
    [({"n_classes": 0}, "n_classes"), ({"n_classes": 25}, "n_classes"), ({"clips_per_class": 0}, "clips_per_class"),
     ({"sample_rate": 4000}, "sample_rate"), ({"variation": -1}, "variation"), ({"snr_db": (20, 10)}, "snr_db"),
     ({"subtype": "MP3"}, "subtype")],
)
def test_bad_synth_config(tmp_path, kw, word):
    with pytest.raises(DatasetError, match=word):
        synthesize(tmp_path / "x", SynthConfig(**kw))


def test_classes_and_speakers_are_distinct():
    names = [c.name for c in class_specs_all()]
    assert len(names) == len(set(names)) == 24
    core = class_specs(8)
    assert {c.contour for c in core} == {"rise", "fall"} and {c.vowel for c in core} == {"a", "i"}
    spk = speaker_specs(SynthConfig(n_speakers=4))
    f0 = [s.f0 for s in spk]
    assert f0 == sorted(f0) and f0[-1] / f0[0] > 1.8  # low to high voices


# -- learnability: a linear classifier on log-mel statistics -------------------------------------------------
def _features(x: np.ndarray) -> np.ndarray:
    """Log-mel statistics: band means over 4 time chunks, band std, and frame-energy modulation."""
    from tinykd.frontend.numpy_ref import logmel

    lm = logmel(x)  # [n, frames, mels]
    parts = [c.mean(axis=1) for c in np.array_split(lm, 4, axis=1)] + [lm.std(axis=1)]
    energy = lm.mean(axis=2)
    smooth = np.stack([np.convolve(e, np.ones(8) / 8, mode="valid") for e in energy])
    step = np.abs(np.diff(smooth, axis=1))
    parts.append(np.stack([step.mean(axis=1), step.std(axis=1), smooth.std(axis=1)], axis=1))
    return np.concatenate(parts, axis=1)


def _softmax_regression(x: np.ndarray, y: np.ndarray, n_classes: int, l2: float = 1e-2) -> np.ndarray:
    n, d = x.shape

    def loss(w):
        W = w.reshape(d + 1, n_classes)
        z = x @ W[:-1] + W[-1]
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        value = -np.log(p[np.arange(n), y] + 1e-12).mean() + l2 * (W[:-1] ** 2).sum()
        p[np.arange(n), y] -= 1
        grad = np.vstack([x.T @ p / n + 2 * l2 * W[:-1], p.mean(axis=0)])
        return value, grad.ravel()

    w0 = np.zeros((d + 1) * n_classes)
    return minimize(loss, w0, jac=True, method="L-BFGS-B", options={"maxiter": 300}).x.reshape(d + 1, n_classes)


def _linear_accuracy(root) -> float:
    """Test accuracy of the log-mel-statistics softmax regression on a seeded stratified 75/25 split."""
    ds = load_dataset(root, DataConfig(split="random", val_fraction=0, test_fraction=0.25, seed=0))
    tr, te = ds.load_split("train"), ds.load_split("test")
    f_tr, f_te = _features(tr.x), _features(te.x)
    mu, sd = f_tr.mean(axis=0), f_tr.std(axis=0) + 1e-6
    W = _softmax_regression((f_tr - mu) / sd, tr.y, len(ds.labels))
    return float(((((f_te - mu) / sd) @ W[:-1] + W[-1]).argmax(axis=1) == te.y).mean())


def test_learnable_but_not_trivial(tmp_path):
    """Seeded, so the accuracy is a fixed number; the band says: clearly above chance, clearly below 100 %."""
    synthesize(tmp_path / "synth", SynthConfig(n_classes=8, clips_per_class=32, n_speakers=4, seed=0))
    acc = _linear_accuracy(tmp_path / "synth")
    assert 0.3 < acc < 0.8, f"linear log-mel baseline accuracy {acc:.3f} (chance 0.125)"
    # With no random variation the same classifier separates the classes almost perfectly: the difficulty
    # comes from the designed overlap, not from classes that carry no signal.
    synthesize(tmp_path / "easy", SynthConfig(n_classes=8, clips_per_class=16, n_speakers=4, seed=0, variation=0.0,
                                             snr_db=(30, 30)))
    easy_acc = _linear_accuracy(tmp_path / "easy")
    assert easy_acc > 0.9 and easy_acc > acc + 0.2, f"variation=0 accuracy {easy_acc:.3f} vs {acc:.3f}"
