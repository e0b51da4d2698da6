"""`tinykd models`: the preset table, --json, --dir/TINYKD_MODELS, --layers, bad input; MAC counts."""

from __future__ import annotations

import json

import pytest

from tinykd.cli import main
from tinykd.students import describe, preset_names

PRESETS = ["wav2small", "wav2tiny", "wav2small-64k", "wav2tiny-64k"]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_table_lists_every_preset_with_its_figures(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run(capsys, "models")
    assert code == 0
    for name in preset_names():
        row = next(line for line in out.splitlines() if f" {name} " in line)
        info = describe(name)
        assert f"{info['params']:,}" in row
        assert f"{info['peak_activation_bytes']:,} B" in row
        assert f"{info['flatbuffer_bytes_estimate']:,} B" in row
    assert "MAC/s front end" in out and "run with --measure" in out


def test_models_json_and_layers(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run(capsys, "models", "wav2tiny", "wav2small", "--layers", "--classes", "7")
    assert code == 0 and "features" in out and "logits" in out and "head_scores" in out
    code, out, _ = run(capsys, "models", "wav2tiny", "wav2small", "--json", "--classes", "7")
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["wav2tiny", "wav2small"]
    assert all(r["n_classes"] == 7 for r in rows)
    assert rows[1]["params"] == describe("wav2small", n_classes=7)["params"]
    assert rows[1]["params"] - describe("wav2small", n_classes=10)["params"] == -3 * (13 * 32 + 32 * 32 + 1)


def test_models_reads_another_preset_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    (tmp_path / "mini.json").write_text(json.dumps({"name": "mini", "depth": 3, "channels": [4, 6, 8], "head": "mean"}))
    code, out, _ = run(capsys, "models", "--dir", str(tmp_path))
    assert code == 0 and " mini " in out and "wav2small" not in out
    monkeypatch.setenv("TINYKD_MODELS", str(tmp_path))
    assert preset_names() == ["mini"]


@pytest.mark.parametrize(
    "args, words",
    [
        (("models", "wav2huge"), "unknown student preset 'wav2huge'"),
        (("models", "--dir", "/nonexistent/presets"), "not a folder"),
        (("models", "--clip-seconds", "0.001", "wav2tiny-64k"), "shorter than one front-end window"),
    ],
)
def test_models_bad_input_is_one_line(capsys, args, words):
    code, _, err = run(capsys, *args)
    assert code == 2 and "error:" in err and words in " ".join(err.split())
    assert "Traceback" not in err


def test_mac_counts_by_hand():
    """wav2tiny on 1 s at 16 kHz: 499 frames x 26 mels; pool after block 3 -> 250 x 13; 15 channels."""
    info = describe("wav2tiny", clip_seconds=1.0, n_classes=10)
    conv = 499 * 26 * 15 * 9 * 1 + 2 * (499 * 26 * 15 * 9 * 15) + 4 * (250 * 13 * 15 * 9 * 15)
    mean = 250 * 13 * 15
    dense = 13 * 15 * 10
    assert info["macs_per_second"]["body"] == conv + mean + dense
    # front end: normalisation (2 per sample), DFT (64-tap window x 66 outputs per frame), power (re^2, im^2),
    # mel bank on the 33 powers, dB scale
    front = 2 * 16000 + 499 * 64 * 66 + 499 * 66 + 499 * 33 * 26 + 499 * 26
    assert info["macs_per_second"]["frontend"] == front
    # per second of audio: a 2 s clip has twice the MACs, the same rate
    two = describe("wav2tiny", clip_seconds=2.0)["macs_per_second"]["body"]
    assert abs(two - info["macs_per_second"]["body"]) / two < 0.01


@pytest.mark.slow
def test_models_measure_reports_the_tflm_arena(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run(capsys, "models", "wav2tiny-64k", "--measure", "--json")
    assert code == 0
    row = json.loads(out)[0]
    assert 0 < row["arena_bytes"] <= 65_536 and row["flatbuffer_bytes"] > 0
