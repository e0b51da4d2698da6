"""The teacher base (tinykd.teacher.base): the shipped one is what its record says and heard no voice the demo
holds out; a base that did is refused; a small base built end to end fine-tunes into a teacher that records it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tinykd.errors import TinykdError  # noqa: E402
from tinykd.teacher.base import (BASE_WORDS, BaseConfig, base_summary, build_base, check_base_voices,  # noqa: E402
                                 read_base_record, shipped_base_dir)

pytestmark = pytest.mark.teacher
HAVE_ESPEAK = importlib.util.find_spec("espeakng_loader") is not None
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason="needs the speech extra (espeakng-loader)")
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
VARIANTS = ("m3", "f2", "klatt3", "Diogo", "Hugo", "f1")


def test_the_shipped_base_is_what_its_record_says():
    base = shipped_base_dir()
    record = read_base_record(base)
    assert record is not None, f"{base}: no base.json"
    assert record["words"] == list(BASE_WORDS) and not set(BASE_WORDS) & set(COMMANDS)
    assert json.loads((base / "labels.json").read_text()) == sorted(BASE_WORDS)
    hf = json.loads((base / "config.json").read_text())
    # The demo's teacher shape: a 25 ms / 10 ms first layer at 16 kHz (mel filterbank start), 2 layers, no masking.
    assert hf["conv_kernel"][0] == 400 and hf["conv_stride"][0] == 160 and hf["num_hidden_layers"] == 2
    assert hf["mask_time_prob"] == 0.0 and len(hf["id2label"]) == len(BASE_WORDS)
    meta = json.loads((base / "tinykd_teacher.json").read_text())
    assert meta["status"] == "complete" and meta["test_accuracy"] == record["test_accuracy"]
    counts = record["corpus"]["counts"]
    assert meta["dataset"]["n_train"] == counts["train"] and len(record["corpus"]["accents"]) == 8
    trained = {v["name"] for v in record["voices"] if v["split"] == "train"}
    assert counts["train"] == len(trained) * len(BASE_WORDS)


@needs_espeak
def test_the_shipped_base_heard_no_voice_family_the_demo_holds_out():
    """The base's split is the generator's for seed 0 over every voice, whatever the words: the demo's split."""
    from tinykd.data.speech import SpeechSynthConfig
    from tinykd.data.speech.engine import Espeak
    from tinykd.data.speech.voices import plan_voices

    record = read_base_record(shipped_base_dir())
    with Espeak() as engine:
        voices, _ = plan_voices(SpeechSynthConfig(seed=0), engine)  # the demo's data (commands, seed 0)
    demo = [{"name": v.name, "family": v.family, "split": v.split} for v in voices]
    assert {(v["name"], v["split"]) for v in record["voices"]} == {(v["name"], v["split"]) for v in demo}
    assert check_base_voices(shipped_base_dir(), demo, "the demo") == record
    # Another seed draws other held-out families, which the base trained on: refused, naming them.
    with Espeak() as engine:
        other, _ = plan_voices(SpeechSynthConfig(seed=1), engine)
    with pytest.raises(TinykdError, match="held out|holds out"):
        check_base_voices(shipped_base_dir(), [{"family": v.family, "split": v.split} for v in other], "seed 1")


def test_the_shipped_base_fine_tunes_to_other_classes():
    import torch
    from safetensors.torch import load_file

    from tinykd.teacher.config import TinyTeacherSize
    from tinykd.teacher.model import load_for_finetuning

    base = shipped_base_dir()
    model, fe, name = load_for_finetuning(str(base), list(COMMANDS), TinyTeacherSize(), 16000)
    assert name == str(base) and model.config.num_labels == len(COMMANDS) and fe.sampling_rate == 16000
    saved = load_file(base / "model.safetensors")
    state = model.state_dict()
    kept = [k for k in saved if not k.startswith(("classifier.", "projector."))]
    assert kept and all(torch.equal(state[k], saved[k]) for k in kept)  # encoder and transformer as shipped
    assert state["classifier.weight"].shape[0] == len(COMMANDS)


def test_a_base_that_heard_a_held_out_voice_is_refused(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    assert check_base_voices(base, [], "x") is None  # not a tinykd base: nothing to check against
    (base / "base.json").write_text(json.dumps({"voices": [{"name": "en+a", "family": "A", "split": "train"},
                                                           {"name": "en+b", "family": "B", "split": "test"}]}))
    ok = [{"family": "A", "split": "train"}, {"family": "B", "split": "test"}]
    assert check_base_voices(base, ok, "data")["voices"]
    with pytest.raises(TinykdError, match=r"base: the teacher base trained on voice families that data holds out \(A\)"):
        check_base_voices(base, [{"family": "A", "split": "val"}, {"family": "B", "split": "train"}], "data")
    (base / "base.json").write_text('{"voices": [], "corpus": 5, "train_config": [], "words": "x"}')
    assert base_summary(base)["words"] is None and base_summary(base)["n_train"] is None  # odd fields: unknown, no crash
    for bad in ("[1, 2]", '{"voices": [1]}', '{"voices": [{"name": "en+a", "split": "train"}]}'):
        (base / "base.json").write_text(bad)
        with pytest.raises(TinykdError, match="not a teacher-base record"):
            read_base_record(base)
    (base / "base.json").write_text('{"voices": [')
    with pytest.raises(TinykdError, match="not valid JSON"):
        check_base_voices(base, ok, "data")


@needs_espeak
@pytest.mark.slow
def test_a_small_base_built_end_to_end_becomes_a_teachers_start(tmp_path):
    from tinykd.data.speech import SpeechSynthConfig, synthesize_speech
    from tinykd.teacher.config import Masking, TeacherTrainConfig
    from tinykd.teacher.train import train_teacher

    cfg = BaseConfig(words=("cat", "dog", "bird"), accents=("en",), variants=VARIANTS, epochs=1, batch_size=4)
    out = tmp_path / "base"
    record = build_base(tmp_path / "corpus", out, cfg, progress=False, log=lambda s: None)
    assert sorted(p.name for p in out.iterdir()) == sorted(["base.json", "config.json", "model.safetensors",
                                                            "preprocessor_config.json", "labels.json",
                                                            "tinykd_teacher.json", "train_metrics.json",
                                                            "report.md", "training_curves.png"])
    assert not (tmp_path / "base.training").exists()
    assert record == read_base_record(out) and record["words"] == ["cat", "dog", "bird"]
    assert record["corpus"]["n_files"] == 3 * len(VARIANTS) and 0.0 <= record["test_accuracy"] <= 1.0
    # A non-empty folder is replaced only with force, and only when it is a base.
    with pytest.raises(TinykdError, match="not empty"):
        build_base(tmp_path / "corpus", out, cfg, progress=False, log=lambda s: None)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(TinykdError, match="not a teacher base"):
        build_base(tmp_path / "corpus", other, cfg, progress=False, log=lambda s: None, force=True)
    assert (other / "notes.txt").read_text() == "mine"
    # Fine-tuned on other words by the same voices (same seed and variants: same split), it records its base.
    data = tmp_path / "data"
    synthesize_speech(data, SpeechSynthConfig(words=("yes", "no"), accents=("en",), variants=VARIANTS))
    voices = json.loads((data / "speech.json").read_text())["voices"]
    assert check_base_voices(out, voices, str(data)) == record
    teacher = tmp_path / "teacher"
    train_teacher(data, teacher, TeacherTrainConfig(base=str(out), epochs=1, batch_size=4,
                                                    masking=Masking(mask_time_prob=0.0, mask_feature_prob=0.0)),
                  progress=False, log=lambda s: None)
    meta = json.loads((teacher / "tinykd_teacher.json").read_text())
    assert meta["base"] == str(out) and meta["labels"] == ["no", "yes"]
    assert meta["pretrained"]["kind"] == "teacher-base" and meta["pretrained"]["words"] == ["cat", "dog", "bird"]
    assert "Fine-tuned from the teacher base" in (teacher / "report.md").read_text()
