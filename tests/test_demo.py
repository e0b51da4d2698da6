"""`tinykd demo --quick`: the whole pipeline on the built-in data, run for real, and its summary checked."""

from __future__ import annotations

import json

import pytest

from tinykd.cli import main

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
    assert cfg["quick"] is True and cfg["students"] == ["wav2tiny-64k"]
    n_classes = cfg["n_classes"]
    teacher = summary["teacher"]
    assert teacher["params"] > 100_000 and 0.0 <= teacher["accuracy"] <= 1.0
    (student,) = summary["students"]
    assert student["name"] == "wav2tiny-64k"
    assert 5_000 < student["params"] < 20_000
    # Learned something: above chance on the held-out test split, float and int8.
    assert student["accuracy"] > 1.0 / n_classes
    assert student["int8_accuracy"] > 1.0 / n_classes
    # The virtual board (firmware C core + TFLM) answered every clip as the host did.
    assert student["board_clips"] == cfg["verify_clips"] and student["board_agreement"] == 1.0
    # Figures in the summary are the artifacts' own.
    run = demo_out / "runs" / "wav2tiny-64k"
    tflite = run / "int8" / "model_int8.tflite"
    assert student["flatbuffer_bytes"] == tflite.stat().st_size
    header = (run / "int8" / "model_data.h").read_text()
    assert f"#define TINYKD_ARENA_BYTES {student['arena_bytes']}" in header
    assert (run / f"firmware-{cfg['board']}-arduino-cli").is_dir()
    names = [s["name"] for s in summary["stages"]]
    assert names[:3] == ["built-in data", "teacher (tiny Wav2Vec2)", "soft-label cache"] and len(names) == 7
    report = (demo_out / "report.md").read_text()
    assert "| wav2tiny-64k |" in report and "summary.png" in report
    assert (demo_out / "summary.png").stat().st_size > 1000


def test_demo_rerun_keeps_finished_stages_and_refuses_other_settings(demo_out, capsys):
    assert main(["demo", "--quick", "--out", str(demo_out)]) == 0
    summary = json.loads((demo_out / "summary.json").read_text())
    assert all(stage["skipped"] for stage in summary["stages"])
    capsys.readouterr()
    assert main(["demo", "--quick", "--student-epochs", "3", "--out", str(demo_out)]) == 2
    err = capsys.readouterr().err
    assert "other settings" in err and "--force" in err
