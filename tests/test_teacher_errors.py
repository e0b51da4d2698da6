"""Bad teacher inputs give one-line TinykdErrors, never a traceback or a network wait."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tinykd.errors import TinykdError  # noqa: E402
from tinykd.teacher.config import TeacherTrainConfig, TinyTeacherSize  # noqa: E402
from tinykd.teacher.model import load_for_finetuning, load_teacher  # noqa: E402

pytestmark = pytest.mark.teacher
LABELS = ["a", "b"]


def test_unknown_hub_id_offline_says_what_to_pass(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty hub cache
    with pytest.raises(TinykdError, match="local model directory or `tiny`") as info:
        load_for_finetuning("nobody-here/no-such-wav2vec2", LABELS, TinyTeacherSize(), 16000)
    assert "\n" not in str(info.value)


def test_cli_train_with_unknown_hub_id_offline(monkeypatch, tmp_path, synth_root, capsys):
    from tinykd.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    code = main(["teacher", "train", str(synth_root), "--base", "nobody-here/no-such-wav2vec2", "--out", str(tmp_path / "t"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "tiny" in err and "Traceback" not in err
    assert not (tmp_path / "t").exists()


def test_directory_without_weights(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "wav2vec2"}))
    with pytest.raises(TinykdError, match="no model weights"):
        load_for_finetuning(str(tmp_path), LABELS, TinyTeacherSize(), 16000)
    with pytest.raises(TinykdError, match="no model weights"):
        load_teacher(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(TinykdError, match="pickle files are not loaded"):
        load_teacher(tmp_path)


def test_directory_that_is_not_a_model(tmp_path):
    with pytest.raises(TinykdError, match="no config.json"):
        load_teacher(tmp_path)
    with pytest.raises(TinykdError, match="teacher directory not found"):
        load_teacher(tmp_path / "missing")


def test_bad_configs():
    with pytest.raises(TinykdError, match="device"):
        TeacherTrainConfig(device="tpu")
    with pytest.raises(TinykdError, match="divisible"):
        TinyTeacherSize(hidden_size=30, num_attention_heads=4)
    with pytest.raises(TinykdError, match="KEY=VALUE"):
        TinyTeacherSize().with_overrides(["width=3"])
    assert TinyTeacherSize().with_overrides(["conv_dim=8,8,16,16", "dropout=0"]).conv_dim == (8, 8, 16, 16)
