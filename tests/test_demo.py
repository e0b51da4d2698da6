"""`tinykd demo --quick`: the whole pipeline on the built-in data, run for real, and its summary checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinykd.cli import main
from tinykd.teacher.base import BASE_WORDS, shipped_base_dir

pytestmark = [pytest.mark.slow, pytest.mark.teacher]


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    out = tmp_path_factory.mktemp("demo") / "out"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    return out


def test_quick_demo_summary(demo_out):
    summary = json.loads((demo_out / "summary.json").read_text())
    cfg = summary["config"]
    assert cfg["quick"] is True and cfg["students"] == ["wav2tiny"]
    data = summary["data"]
    n_classes = len(data["classes"])
    assert data["kind"] == "speech" and n_classes == 10 and data["test_voices"]
    manifest = (demo_out / "data" / "manifest.csv").read_text().splitlines()
    assert len(manifest) - 1 == data["n_files"] == sum(data["counts"].values())
    teacher = summary["teacher"]
    assert teacher["params"] > 100_000 and 0.0 <= teacher["accuracy"] <= 1.0
    # The demo's teacher: fine-tuned from the shipped base (a 25 ms / 10 ms first layer, no dropout or masking),
    # which learned other words from the training voice families only.
    recorded = json.loads((demo_out / "teacher" / "tinykd_teacher.json").read_text())
    shipped = shipped_base_dir()
    assert cfg["teacher_base"] == "shipped" and recorded["base"] == recorded["train_config"]["base"] == str(shipped)
    assert recorded["pretrained"]["kind"] == "teacher-base" and recorded["pretrained"]["dir"] == str(shipped.resolve())
    assert teacher["base_words"] == len(BASE_WORDS) and not teacher["base_shared_words"]
    assert recorded["train_config"]["masking"]["mask_time_prob"] == 0.0
    assert recorded["train_config"]["batch_size"] == cfg["teacher_batch_size"]
    hf = json.loads((demo_out / "teacher" / "config.json").read_text())
    assert hf["conv_kernel"][0] == 400 and hf["conv_stride"][0] == 160 and hf["conv_dim"][0] == 160
    assert hf["hidden_dropout"] == 0.0 and len(hf["id2label"]) == n_classes
    # The teacher also heard teacher-data/ (the training voices in more accents): its training split only, and not
    # one voice family the students' test or val split holds out.
    meta = json.loads((demo_out / "teacher" / "tinykd_teacher.json").read_text())
    (extra,) = meta["extra_train"]
    assert extra["root"] == str((demo_out / "teacher-data").resolve()) and teacher["extra_train"] == extra["n_train"] > 0
    assert teacher["n_train"] == data["counts"]["train"] == meta["dataset"]["n_train"]
    voices = {name: json.loads((demo_out / name / "speech.json").read_text())["voices"] for name in ("data", "teacher-data")}
    held_out = {v["family"] for v in voices["data"] if v["split"] != "train"}
    rows = [line.split(",") for line in (demo_out / "teacher-data" / "manifest.csv").read_text().splitlines()[1:]]
    family_of = {v["name"]: v["family"] for v in voices["teacher-data"]}
    train_rows = [r for r in rows if r[3] == "train"]
    assert len(train_rows) == extra["n_train"] and not {family_of[r[2]] for r in train_rows} & held_out
    assert {v["accent"] for v in voices["teacher-data"]} == set(cfg["teacher_accents"])
    assert set(cfg["teacher_accents"]).isdisjoint(cfg["accents"])
    (student,) = summary["students"]
    assert student["name"] == "wav2tiny"
    assert 5_000 < student["params"] < 20_000
    # Learned something: above chance on the held-out voices, float and int8.
    assert student["accuracy"] > 1.0 / n_classes
    assert student["int8_accuracy"] > 1.0 / n_classes
    # The alpha = 1 baseline: the same student alone, compared on the same test clips, with its binomial SE.
    base = student["baseline"]
    assert base["n"] == student["n_test"] == data["counts"]["test"]
    assert abs(base["difference"] - (student["accuracy"] - base["accuracy"])) < 1e-9 and base["se"] > 0
    base_metrics = json.loads((Path(base["run"]) / "metrics.json").read_text())
    assert base_metrics["accuracy"] == base["accuracy"] and base_metrics["training"]["alpha"] == 1.0
    # The virtual board (firmware C core + TFLM) answered every clip as the host did; the model fits the ESP32.
    assert student["board_clips"] == cfg["verify_clips"] and student["board_agreement"] == 1.0
    assert student["board_fits"] and "esp32" in student["fits_boards"]
    # Figures in the summary are the artifacts' own.
    run = demo_out / "runs" / "wav2tiny"
    tflite = run / "int8" / "model_int8.tflite"
    assert student["flatbuffer_bytes"] == tflite.stat().st_size
    header = (run / "int8" / "model_data.h").read_text()
    assert f"#define TINYKD_ARENA_BYTES {student['arena_bytes']}" in header
    q = json.loads((run / "int8" / "quantize.json").read_text())
    assert student["agreement_float_int8"] == q["accuracy"]["agreement_float_tflm"]
    assert student["params"] == q["model"]["params"]
    assert (run / f"firmware-{cfg['board']}-arduino-cli").is_dir()
    names = [s["name"] for s in summary["stages"]]
    assert names[0].startswith("built-in speech") and names[1].startswith("the teacher's extra speech")
    assert names[2:4] == ["teacher (tiny Wav2Vec2)", "soft-label cache"]
    assert len(names) == 8
    # report.md opens with the targets, met or missed, each as measured.
    report = (demo_out / "report.md").read_text()
    targets = summary["targets"]
    assert report.index("## Targets") < report.index("## Results")
    for t in targets:
        assert t["target"] in report
    teacher_target = next(t for t in targets if t["target"].startswith("the teacher beats"))
    assert teacher_target["met"] == (teacher["accuracy"] > base["accuracy"])
    assert "Did the teacher help?" in report and "binomial SE" in report
    assert f"It trained on {teacher['n_train'] + teacher['extra_train']} clips" in report
    assert f"fine-tuned from a base that had learned {len(BASE_WORDS)} words (none of these)" in report
    assert "| wav2tiny distilled (alpha=0.5) |" in report and "| wav2tiny alone (alpha=1) |" in report
    assert (demo_out / "summary.png").stat().st_size > 1000


def test_demo_rerun_keeps_finished_stages_and_refuses_other_settings(demo_out, capsys):
    assert main(["demo", "--quick", "--out", str(demo_out)]) == 0
    summary = json.loads((demo_out / "summary.json").read_text())
    assert all(stage["skipped"] for stage in summary["stages"])
    capsys.readouterr()
    assert main(["demo", "--quick", "--student-epochs", "3", "--out", str(demo_out)]) == 2
    err = capsys.readouterr().err
    assert "other settings" in err and "--force" in err


def test_teacher_accents_must_be_other_accents(tmp_path):
    from tinykd.demo import DemoConfig, run_demo
    from tinykd.errors import TinykdError

    with pytest.raises(TinykdError, match="teacher_accents and accents share en-us"):
        run_demo(tmp_path / "out", DemoConfig(accents=("en-us",), teacher_accents=("en-us", "en")), log=lambda s: None)
    assert not (tmp_path / "out").exists()


def test_a_missing_teacher_base_is_refused_before_anything_is_written(tmp_path):
    from tinykd.demo import DemoConfig, run_demo
    from tinykd.errors import TinykdError

    with pytest.raises(TinykdError, match="teacher base not found"):
        run_demo(tmp_path / "out", DemoConfig(teacher_base=str(tmp_path / "nowhere")), log=lambda s: None)
    assert not (tmp_path / "out").exists()
