"""`tinykd data info` and `tinykd data synth` through the real CLI entry point (return code and output)."""

from __future__ import annotations

import json

import pytest

from data_helpers import make_tree
from tinykd.cli import main


def test_synth_then_info_with_json(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["data", "synth", str(out), "--kind", "tones", "--classes", "3", "--clips-per-class", "4", "--speakers", "2", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "wrote 12 clips" in printed and f"tinykd data info {out}" in printed
    summary_path = tmp_path / "info.json"
    assert main(["data", "info", str(out), "--split", "speaker:spk1", "--val-fraction", "0", "--json", str(summary_path)]) == 0
    printed = capsys.readouterr().out
    assert "per class" in printed and "per speaker" in printed and "spk1" in printed
    summary = json.loads(summary_path.read_text())
    assert summary["n_clips"] == 12 and summary["n_classes"] == 3 and summary["n_speakers"] == 2
    assert summary["per_split"] == {"train": 6, "val": 0, "test": 6}
    assert summary["per_speaker"]["spk1"] == {"train": 0, "val": 0, "test": 6, "total": 6}
    assert summary["source_rates"] == {"16000": 12}
    assert summary["duration_s"]["min"] == summary["duration_s"]["max"] == 1.0
    assert summary["config"]["split"] == "speaker:spk1" and summary["problems"] == []


def test_info_lists_every_problem_file_and_strict_stops(tmp_path, capsys):
    make_tree(tmp_path, [f"{label}/p_{i}.wav" for label in ("up", "down") for i in range(5)])
    (tmp_path / "up" / "p_bad.wav").write_text("not audio")
    (tmp_path / "down" / "p_empty.wav").write_bytes(b"")
    summary_path = tmp_path / "s.json"
    assert main(["data", "info", str(tmp_path), "--json", str(summary_path)]) == 0
    printed = capsys.readouterr().out
    assert "problem files (2, skipped)" in printed
    assert "p_bad.wav" in printed and "p_empty.wav" in printed
    summary = json.loads(summary_path.read_text())
    assert summary["n_clips"] == 10 and summary["n_problems"] == 2
    assert main(["data", "info", str(tmp_path), "--strict"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "p_empty.wav: empty file" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args,needle",
    [
        (["data", "info", "{tmp}/missing"], "no such folder"),
        (["data", "info", "{tmp}", "--format", "mp3"], "unknown data format 'mp3'"),
        (["data", "info", "{tmp}", "--split", "by-speaker"], "unreadable split"),
        (["data", "info", "{tmp}", "--split", "speaker:nobody"], "unknown speaker 'nobody'"),
        (["data", "synth", "{tmp}/s", "--kind", "tones", "--classes", "99"], "n_classes must be 1..24"),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path, capsys, args, needle):
    make_tree(tmp_path, [f"{label}/p_{i}.wav" for label in ("up", "down") for i in range(5)])
    assert main([a.replace("{tmp}", str(tmp_path)) for a in args]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_help_texts_explain_inputs_and_defaults(capsys):
    for cmd in (["data", "info", "--help"], ["data", "synth", "--help"]):
        assert main(cmd) == 0
        text = capsys.readouterr().out
        assert "--help" in text
    assert main(["data", "info", "--help"]) == 0
    text = capsys.readouterr().out
    for opt in ("--format", "--split", "--strict", "--json", "speaker:NAME"):
        assert opt in text


@pytest.mark.fsdd
def test_info_on_fsdd_reports_the_known_figures(fsdd_root, tmp_path, capsys):
    summary_path = tmp_path / "fsdd.json"
    assert main(["data", "info", str(fsdd_root), "--json", str(summary_path)]) == 0
    printed = capsys.readouterr().out
    assert "2500 in 10 classes, 5 speakers" in printed and "8 kHz x 2500" in printed
    s = json.loads(summary_path.read_text())
    assert (s["format"], s["n_clips"], s["n_classes"], s["n_speakers"]) == ("fsdd", 2500, 10, 5)
    assert s["source_rates"] == {"8000": 2500} and s["n_problems"] == 0
    assert s["per_split"]["test"] == 250 and all(row["total"] == 250 for row in s["per_class"].values())
