"""Teacher end to end on generated data: train a very small Wav2Vec2, export a cache, resume an interrupted
export (a process killed for real), detect stale caches, read the cache back in a process without torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tinykd.data import DataConfig, load_dataset  # noqa: E402
from tinykd.errors import CacheError, TinykdError  # noqa: E402
from tinykd.teacher.cache import SoftLabelCache  # noqa: E402
from tinykd.teacher.config import TeacherTrainConfig, TinyTeacherSize  # noqa: E402
from tinykd.teacher.export import ExportConfig, export_cache, export_dataset  # noqa: E402
from tinykd.teacher.model import teacher_identity  # noqa: E402

pytestmark = pytest.mark.teacher

REPO = Path(__file__).resolve().parents[1]
# Small enough for a few seconds per epoch on one core; the real default is in TinyTeacherSize.
TEST_SIZE = TinyTeacherSize(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
    conv_dim=(16, 16, 32, 32), num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=4,
)
EXPORT = ExportConfig(batch_size=8, shard_size=16, threads=1)


def _train(data_root: Path, out: Path, epochs: int = 2, seed: int = 0):
    from tinykd.teacher.train import train_teacher

    cfg = TeacherTrainConfig(epochs=epochs, batch_size=8, lr=1e-3, seed=seed, threads=1, device="cpu", tiny=TEST_SIZE)
    return train_teacher(data_root, out, cfg, DataConfig(), progress=False, log=lambda s: None)


@pytest.fixture(scope="module")
def ds(synth_root):
    return load_dataset(synth_root, DataConfig())


@pytest.fixture(scope="module")
def teacher(synth_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher")
    return _train(synth_root, out), out


@pytest.fixture(scope="module")
def cache_dir(synth_root, teacher, tmp_path_factory):
    out = tmp_path_factory.mktemp("cache") / "soft"
    export_cache(synth_root, teacher[1], out, EXPORT, DataConfig(), progress=False, log=lambda s: None)
    return out


@pytest.fixture(scope="module")
def three_class(tmp_path_factory):
    """Other data with other labels, and a teacher trained on it."""
    from tinykd.data.synth import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("synth3")
    synthesize(root, SynthConfig(n_classes=3, clips_per_class=8, n_speakers=2, seed=5))
    out = tmp_path_factory.mktemp("teacher3")
    _train(root, out, epochs=1, seed=1)
    return root, out


def test_train_writes_a_loadable_best_checkpoint(teacher, ds):
    from tinykd.teacher.model import load_teacher, resolve_device
    from tinykd.teacher.train import evaluate

    result, out = teacher
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "labels.json", "tinykd_teacher.json", "train_metrics.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "labels.json").read_text()) == ds.labels
    meta = json.loads((out / "tinykd_teacher.json").read_text())
    assert meta["status"] == "complete" and meta["dataset_fingerprint"] == ds.fingerprint()
    assert meta["data_config"]["sample_rate"] == 16000 and "per utterance" in meta["input_normalisation"]
    metrics = json.loads((out / "train_metrics.json").read_text())
    assert [row["epoch"] for row in metrics["epochs"]] == [1, 2]
    assert all(np.isfinite(row["train_loss"]) for row in metrics["epochs"])
    # The saved checkpoint is the best epoch's: reloading it reproduces that epoch's val accuracy exactly.
    model, fe = load_teacher(out, attentions=False)
    val = ds.load_split("val")
    _, acc, logits = evaluate(model, fe, val.x, val.y, 16000, resolve_device("cpu"))
    best = metrics["epochs"][metrics["best_epoch"] - 1]
    assert acc == pytest.approx(best["val_accuracy"], abs=1e-9)
    assert logits.shape == (len(val.y), len(ds.labels))
    test = ds.load_split("test")
    _, test_acc, _ = evaluate(model, fe, test.x, test.y, 16000, resolve_device("cpu"))
    assert result.test_accuracy == pytest.approx(test_acc, abs=1e-9)
    # The folder describes itself: report.md with the measured figures, and the curves it shows.
    report = (out / "report.md").read_text()
    assert f"{100 * test_acc:.1f} %" in report and f"{meta['n_params']:,} parameters" in report
    assert (out / "training_curves.png").stat().st_size > 1000


def test_export_matches_the_teacher_run_directly(cache_dir, teacher, ds):
    import torch

    from tinykd.teacher.model import load_teacher, model_inputs
    from tinykd.teacher.rollout import temporal_weights

    cache = SoftLabelCache.open(cache_dir)
    cache.check(ds)
    cache.check(ds, teacher=teacher_identity(teacher[1]))
    assert cache.labels == ds.labels and cache.dataset_fingerprint == ds.fingerprint()
    assert len(cache) == len({c.hash for c in ds.clips})
    assert len(list(cache_dir.glob("shard-*.safetensors"))) == -(-len(cache) // EXPORT.shard_size)
    model, fe = load_teacher(teacher[1])
    test = ds.load_split("test")
    with torch.inference_mode():
        out = model(**model_inputs(fe, test.x, 16000, torch.device("cpu")), output_attentions=True)
    np.testing.assert_allclose(cache.logits(test.hashes), out.logits.numpy(), rtol=1e-4, atol=1e-5)
    frames = out.attentions[0].shape[-1]
    assert cache.teacher_frames == frames
    expected = temporal_weights([a.numpy() for a in out.attentions])
    np.testing.assert_allclose(cache.attention(test.hashes, frames), expected, atol=1e-5)
    student = cache.attention(test.hashes, 31)
    assert student.shape == (len(test.hashes), 31)
    np.testing.assert_allclose(student.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(CacheError, match="not in the cache"):
        cache.logits(["0" * 64])
    # report.md: the teacher's test accuracy from the cached logits equals the teacher run directly.
    cached_acc = float(np.mean(out.logits.numpy().argmax(axis=1) == test.y))
    report = (cache_dir / "report.md").read_text()
    assert f"| test | {len(test.y)} | {100 * cached_acc:.1f} % |" in report


def test_export_again_is_a_no_op(cache_dir, synth_root, teacher):
    before = {p.name: p.stat().st_mtime_ns for p in cache_dir.iterdir()}
    result = export_cache(synth_root, teacher[1], cache_dir, EXPORT, DataConfig(), progress=False, log=lambda s: None)
    assert result.already_complete and result.shards_written == 0
    assert {p.name: p.stat().st_mtime_ns for p in cache_dir.iterdir()} == before


KILL_AFTER_FIRST_SHARD = textwrap.dedent(
    """
    import os, signal, sys
    from tinykd.data import DataConfig
    from tinykd.teacher.export import ExportConfig, export_cache

    def die(index, path):
        # A real interruption: the process is killed right after the first shard is committed.
        os.kill(os.getpid(), signal.SIGKILL)

    export_cache(sys.argv[1], sys.argv[2], sys.argv[3], ExportConfig(batch_size=8, shard_size=16, threads=1),
                 DataConfig(), progress=False, on_shard_written=die)
    """
)


def test_killed_export_resumes_at_the_next_shard(synth_root, teacher, cache_dir, tmp_path):
    out = tmp_path / "resumed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_FIRST_SHARD, str(synth_root), str(teacher[1]), str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert sorted(p.name for p in out.glob("shard-*")) == ["shard-00000.safetensors"]
    assert json.loads((out / "meta.json").read_text())["complete"] is False
    with pytest.raises(CacheError, match="incomplete cache"):
        SoftLabelCache.open(out)
    first = (out / "shard-00000.safetensors").stat().st_mtime_ns

    result = export_cache(synth_root, teacher[1], out, EXPORT, DataConfig(), progress=False, log=lambda s: None)
    assert result.shards_reused == 1 and result.shards_written == result.n_shards - 1
    assert (out / "shard-00000.safetensors").stat().st_mtime_ns == first
    resumed, full = SoftLabelCache.open(out), SoftLabelCache.open(cache_dir)
    assert resumed.hashes == full.hashes
    np.testing.assert_allclose(resumed.logits(full.hashes), full.logits(full.hashes), atol=1e-5)


def test_full_disk_mid_export_leaves_an_incomplete_cache(ds, teacher, tmp_path):
    import errno

    out = tmp_path / "full"

    def disk_full(index, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(CacheError, match="disk full") as info:
        export_dataset(ds, teacher[1], out, EXPORT, progress=False, log=lambda s: None, on_shard_written=disk_full)
    assert "\n" not in str(info.value)
    with pytest.raises(CacheError, match="incomplete"):
        SoftLabelCache.open(out)


def test_stale_caches_are_refused(cache_dir, synth_root, three_class, tmp_path):
    from tinykd.data.synth import SynthConfig, synthesize

    cache = SoftLabelCache.open(cache_dir)
    # Other labels.
    with pytest.raises(CacheError, match="label map"):
        cache.check(load_dataset(three_class[0], DataConfig()))
    # Same labels, other recordings.
    other = tmp_path / "other"
    synthesize(other, SynthConfig(n_classes=4, clips_per_class=12, n_speakers=3, seed=1))
    with pytest.raises(CacheError, match="another data set"):
        cache.check(load_dataset(other, DataConfig()))
    # The same data plus one clip the teacher never saw.
    grown = tmp_path / "grown"
    shutil.copytree(synth_root, grown)
    extra = next(p for p in sorted(other.rglob("*.wav")))
    shutil.copy(extra, grown / extra.relative_to(other).parent / "extra_clip.wav")
    with pytest.raises(CacheError, match="not cached"):
        cache.check(load_dataset(grown, DataConfig()))
    # Another teacher.
    with pytest.raises(CacheError, match="teacher"):
        cache.check(load_dataset(synth_root, DataConfig()), teacher=teacher_identity(three_class[1]))


def test_teacher_label_map_must_match_the_data(synth_root, three_class, tmp_path):
    with pytest.raises(TinykdError, match="label map"):
        export_cache(synth_root, three_class[1], tmp_path / "c", EXPORT, DataConfig(), progress=False, log=lambda s: None)
    assert not (tmp_path / "c").exists()


def test_complete_cache_of_another_teacher_is_not_overwritten(synth_root, teacher, three_class, tmp_path):
    from dataclasses import replace

    other = tmp_path / "c3"
    export_cache(three_class[0], three_class[1], other, EXPORT, DataConfig(), progress=False, log=lambda s: None)
    with pytest.raises(CacheError, match="--overwrite"):
        export_cache(synth_root, teacher[1], other, EXPORT, DataConfig(), progress=False, log=lambda s: None)
    assert SoftLabelCache.open(other).teacher == teacher_identity(three_class[1])
    export_cache(synth_root, teacher[1], other, replace(EXPORT, overwrite=True), DataConfig(), progress=False, log=lambda s: None)
    assert SoftLabelCache.open(other).teacher == teacher_identity(teacher[1])


READ_WITHOUT_TORCH = textwrap.dedent(
    """
    import json, sys
    sys.modules["torch"] = None          # any `import torch` now raises ImportError
    sys.modules["transformers"] = None
    from tinykd.data import DataConfig, load_dataset
    from tinykd.teacher.cache import SoftLabelCache
    cache = SoftLabelCache.open(sys.argv[1])
    ds = load_dataset(sys.argv[2], DataConfig())
    cache.check(ds)
    hashes = [c.hash for c in ds.clips]
    print(json.dumps({"logits": cache.logits(hashes).tolist(), "attention": cache.attention(hashes, 20).tolist(),
                      "torch_loaded": sys.modules["torch"] is not None}))
    """
)


def test_cache_reads_back_in_a_process_without_torch(cache_dir, synth_root, ds):
    proc = subprocess.run(
        [sys.executable, "-c", READ_WITHOUT_TORCH, str(cache_dir), str(synth_root)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    assert got["torch_loaded"] is False
    cache = SoftLabelCache.open(cache_dir)
    hashes = [c.hash for c in ds.clips]
    np.testing.assert_array_equal(np.array(got["logits"], dtype=np.float32), cache.logits(hashes))
    np.testing.assert_allclose(np.array(got["attention"]), cache.attention(hashes, 20), atol=1e-7)


def test_cli_export_prints_one_line_errors(synth_root, three_class, tmp_path, capsys):
    from tinykd.cli import main

    code = main(["teacher", "export", str(synth_root), "--teacher", str(three_class[1]), "--out", str(tmp_path / "c"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "label map" in err and "Traceback" not in err


def test_evaluate_scores_the_saved_teacher(synth_root, teacher, tmp_path, capsys):
    from tinykd.cli import main
    from tinykd.teacher.evaluate import evaluate_teacher

    result, out = teacher
    scored = evaluate_teacher(synth_root, out, DataConfig(), "test", threads=1)
    assert scored["accuracy"] == pytest.approx(result.test_accuracy, abs=1e-9)
    assert set(scored["per_class_accuracy"]) <= set(json.loads((out / "labels.json").read_text()))
    assert main(["teacher", "evaluate", str(synth_root), "--teacher", str(out), "--on", "test", "--json", "--threads", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == scored["n"]
