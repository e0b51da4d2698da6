"""`tinykd teacher pretrain` (issue 14): wav2vec 2.0 pretraining of the tiny teacher on unlabeled audio without the
excluded speaker, fine-tuned after with `teacher train --base DIR` (its encoder and transformer carried over); the
contrastive task's negatives and masks; an 8 kHz teacher exported for 16 kHz data (`--resample`) gives exactly the
logits of the teacher run on the resampled clips. Nothing is downloaded."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch  # noqa: E402

from tinykd.cli import main  # noqa: E402
from tinykd.data import DataConfig, load_dataset  # noqa: E402
from tinykd.errors import TinykdError  # noqa: E402
from tinykd.teacher.pretrain import PretrainConfig, sample_negatives, time_mask  # noqa: E402

pytestmark = pytest.mark.teacher

SIZE = ["--tiny", "hidden_size=32", "--tiny", "num_hidden_layers=2", "--tiny", "num_attention_heads=2",
        "--tiny", "intermediate_size=64", "--tiny", "conv_dim=16,16,32,32", "--tiny", "num_conv_pos_embeddings=8",
        "--tiny", "num_conv_pos_embedding_groups=4"]


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from tinykd.data.synth import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("pretrain") / "data"
    synthesize(root, SynthConfig(n_classes=3, clips_per_class=8, n_speakers=2, seed=4))
    return root


@pytest.fixture(scope="module")
def pretrained(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("pre") / "base"
    args = ["teacher", "pretrain", str(data), "--out", str(out), "--epochs", "4", "--batch-size", "8", "--lr", "2e-3",
            "--mask-time-ms", "60", "--exclude-speaker", "spk1", "--threads", "1", "--device", "cpu", "--no-progress",
            "--sample-rate", "8000", *SIZE]
    assert main(args) == 0
    return out


def test_pretraining_skips_the_excluded_speaker_and_learns(pretrained, data):
    meta = json.loads((pretrained / "tinykd_pretrain.json").read_text())
    ds = load_dataset(data, DataConfig(sample_rate=8000), require_splits=())
    assert meta["status"] == "complete" and meta["data"]["excluded_speakers"] == ["spk1"]
    assert meta["data"]["speakers"] == ["spk0"] and meta["data"]["n_clips"] == sum(c.speaker == "spk0" for c in ds.clips)
    assert json.loads((pretrained / "tinykd.json").read_text())["kind"] == "pretrained"
    history = meta["history"]
    assert len(history) == 4 and history[-1]["contrastive_loss"] < history[0]["contrastive_loss"]
    config = json.loads((pretrained / "config.json").read_text())
    # Saved with the fine-tuning masking defaults (the hub's wav2vec2-base does the same), not the pretraining 0.65.
    assert config["mask_time_prob"] == 0.05 and config["apply_spec_augment"] is True
    assert meta["pretrain_config"]["mask_time_prob"] == 0.65 and meta["mask_time_length"] == 2  # 60 ms at 40 ms frames


def test_fine_tuning_starts_from_the_pretrained_encoder(pretrained, data, tmp_path, capsys):
    from safetensors.numpy import load_file

    from tinykd.teacher.config import TinyTeacherSize
    from tinykd.teacher.model import load_for_finetuning

    saved = load_file(str(pretrained / "model.safetensors"))
    model, _, _ = load_for_finetuning(str(pretrained), ["a", "b", "c"], TinyTeacherSize(), 8000)
    state = model.state_dict()
    carried = [k for k in saved if k.startswith("wav2vec2.")]
    assert carried and all(np.array_equal(state[k].numpy(), saved[k]) for k in carried)
    assert not any(k.startswith("quantizer") for k in state)
    out = tmp_path / "teacher"
    assert main(["teacher", "train", str(data), "--base", str(pretrained), "--out", str(out), "--epochs", "1",
                 "--batch-size", "8", "--threads", "1", "--device", "cpu", "--no-progress", "--sample-rate", "8000",
                 "--split", "speaker:spk1"]) == 0
    assert "UNEXPECTED" not in capsys.readouterr().out
    meta = json.loads((out / "tinykd_teacher.json").read_text())
    assert meta["status"] == "complete" and meta["pretrained"]["dir"] == str(pretrained.resolve())
    assert meta["pretrained"]["data"]["excluded_speakers"] == ["spk1"]


def test_a_pretrained_folder_is_not_a_teacher(pretrained, data, tmp_path, capsys):
    assert main(["teacher", "export", str(data), "--teacher", str(pretrained), "--out", str(tmp_path / "c"),
                 "--no-progress"]) == 2
    assert "a pretrained base" in _err(capsys)
    meta_path = pretrained / "tinykd_pretrain.json"
    meta = json.loads(meta_path.read_text())
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    for f in pretrained.iterdir():
        (unfinished / f.name).write_bytes(f.read_bytes())
    (unfinished / "tinykd_pretrain.json").write_text(json.dumps({**meta, "status": "training"}))
    assert main(["teacher", "train", str(data), "--base", str(unfinished), "--out", str(tmp_path / "t"),
                 "--epochs", "1", "--no-progress", "--sample-rate", "8000"]) == 2
    assert "did not finish" in _err(capsys)
    assert main(["teacher", "pretrain", str(data), "--out", str(tmp_path / "p"), "--exclude-speaker", "nobody",
                 "--no-progress"]) == 2
    assert "no such speaker" in _err(capsys)
    assert main(["teacher", "pretrain", str(data), "--out", str(pretrained), "--no-progress"]) == 2
    assert "use --force to replace it" in _err(capsys)


def test_negatives_are_other_masked_frames_of_the_same_clip():
    rng = np.random.default_rng(0)
    mask = time_mask(rng, 6, 25, 0.65, 5)
    assert mask.shape == (6, 25) and np.all(mask.sum(axis=1) >= 5)
    neg = sample_negatives(rng, mask, 16)
    assert neg.shape == (6, 25, 16)
    for b in range(6):
        for t in np.flatnonzero(mask[b]):
            picked = neg[b, t]
            assert np.all(picked // 25 == b) and np.all(picked % 25 != t) and np.all(mask[b, picked % 25])
    with pytest.raises(TinykdError, match="codevector_dim"):
        PretrainConfig(codevector_dim=63, codevector_groups=2)


def test_too_few_clips_is_one_line(data, tmp_path):
    from tinykd.teacher.pretrain import pretrain_arrays

    with pytest.raises(TinykdError, match="at least 2"):
        pretrain_arrays(np.zeros((1, 8000), np.float32), 8000, tmp_path / "x", PretrainConfig(epochs=1))


def test_an_8k_teacher_exports_for_16k_data_through_resampling(data, tmp_path, capsys):
    from tinykd.data.audio import fit_length, resample
    from tinykd.teacher.cache import SoftLabelCache
    from tinykd.teacher.model import load_teacher, model_inputs

    teacher = tmp_path / "t8k"
    assert main(["teacher", "train", str(data), "--out", str(teacher), "--epochs", "1", "--batch-size", "8",
                 "--threads", "1", "--device", "cpu", "--no-progress", "--no-augment", "--sample-rate", "8000", *SIZE]) == 0
    capsys.readouterr()
    args = ["teacher", "export", str(data), "--teacher", str(teacher), "--sample-rate", "16000", "--threads", "1",
            "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "refused")]) == 2
    assert "--resample" in _err(capsys)
    assert main(args + ["--out", str(tmp_path / "c16"), "--resample"]) == 0
    cache = SoftLabelCache.open(tmp_path / "c16")
    ds = load_dataset(data, DataConfig(sample_rate=16000))
    assert cache.meta["sample_rate"] == 16000 and cache.meta["teacher_sample_rate"] == 8000
    cache.check(ds)  # a 16 kHz student reads it
    arrays = ds.load_split("all")
    x8 = np.stack([fit_length(resample(c, 16000, 8000), 8000) for c in arrays.x])
    model, fe = load_teacher(teacher, attentions=False)
    with torch.inference_mode():
        direct = model(**model_inputs(fe, x8, 8000, torch.device("cpu"))).logits.numpy()
    assert np.allclose(cache.logits(arrays.hashes), direct, atol=1e-4)
