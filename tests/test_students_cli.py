"""`tinykd models`: the preset table, --json, --dir/TINYKD_MODELS, --layers, bad input; MAC counts."""

from __future__ import annotations

import json

import pytest

from tinykd.cli import main
from tinykd.students import describe, load_student_config, preset_names

PRESETS = ["wav2small", "wav2tiny", "wav2small-paper", "wav2tiny-paper"]


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
    # three classes fewer: the classifier on the pooled map (10 freq x 40 channels) + Gram (40 x 40), plus bias
    assert rows[1]["params"] - describe("wav2small", n_classes=10)["params"] == -3 * (10 * 40 + 40 * 40 + 1)


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
        (("models", "--clip-seconds", "0.001", "wav2tiny"), "shorter than one front-end window"),
    ],
)
def test_models_bad_input_is_one_line(capsys, args, words):
    code, _, err = run(capsys, *args)
    assert code == 2 and "error:" in err and words in " ".join(err.split())
    assert "Traceback" not in err


def test_mac_counts_by_hand():
    """wav2tiny-paper on 1 s at 16 kHz: 499 frames x 26 mels; pool after block 3 -> 250 x 13; 15 channels."""
    info = describe("wav2tiny-paper", clip_seconds=1.0, n_classes=10)
    conv = 499 * 26 * 15 * 9 * 1 + 2 * (499 * 26 * 15 * 9 * 15) + 4 * (250 * 13 * 15 * 9 * 15)
    mean = 250 * 13 * 15
    dense = 13 * 15 * 10
    assert info["macs_per_second"]["body"] == conv + mean + dense
    # front end: normalisation (2 per sample), DFT (64-tap window x 66 outputs per frame), power (re^2, im^2),
    # mel bank on the 33 powers, dB scale
    front = 2 * 16000 + 499 * 64 * 66 + 499 * 66 + 499 * 33 * 26 + 499 * 26
    assert info["macs_per_second"]["frontend"] == front
    # per second of audio: a 2 s clip has twice the MACs, the same rate
    two = describe("wav2tiny-paper", clip_seconds=2.0)["macs_per_second"]["body"]
    assert abs(two - info["macs_per_second"]["body"]) / two < 0.01


def test_mac_counts_by_hand_signal_front_end():
    """wav2tiny (Signal front end) on 1 s at 16 kHz: 49 frames x 40 bins, pools after blocks 1 and 2."""
    from tinykd.frontend.signal_tables import hop_operation_counts

    info = describe("wav2tiny", clip_seconds=1.0, n_classes=10)
    t, f = 49, 40
    conv = t * f * 6 * 9 * 1  # block 1: 1 -> 6 channels at full resolution
    t, f = 25, 20
    conv += t * f * 15 * 9 * 6  # block 2: 6 -> 15
    t, f = 13, 10
    conv += 5 * (t * f * 15 * 9 * 15)  # blocks 3-7: 15 -> 15
    assert info["macs_per_second"]["body"] == conv + t * f * 15 + f * 15 * 10  # + mean over time + dense
    # the front end: the Signal graph's multiplies per hop (window, FFT, energy, filter bank), 49 hops
    assert info["macs_per_second"]["frontend"] == 49 * hop_operation_counts(load_student_config("wav2tiny").spec())["total muls"]


@pytest.mark.slow
def test_models_measure_reports_the_tflm_arena(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run(capsys, "models", "wav2tiny", "--measure", "--json")
    assert code == 0
    row = json.loads(out)[0]
    assert 0 < row["arena_bytes"] <= 28 * 1024 and 0 < row["flatbuffer_bytes"] <= 32 * 1024
    assert row["arena_bytes"] < row["frontend_arena_bytes"] + row["body_arena_bytes"]


def test_models_table_is_whole_at_80_columns(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "models")
    assert code == 0 and "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    for name in preset_names():
        info = describe(name)
        row = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert f"{info['params']:,}" in row and f"{info['flatbuffer_bytes_estimate']:,} B" in row
