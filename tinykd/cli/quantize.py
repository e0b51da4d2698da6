"""`tinykd quantize` and `tinykd export c` (tinykd.quantize, tinykd.emit)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tinykd.cli.app import app, console, err_console
from tinykd.errors import TinykdError

export_app = typer.Typer(help="Export a quantized model as source for firmware.", no_args_is_help=True)

@app.command("quantize")
def quantize_cmd(
    run: Path = typer.Argument(..., help="Run folder from `tinykd distill` (model.keras, labels.json, config.json)."),
    data: Optional[Path] = typer.Option(None, "--data", help="The run's data set folder: calibration clips come from "
                                        "its training split, the proof runs its test split. Default: the folder "
                                        "RUN/config.json records."),
    int8: bool = typer.Option(True, "--int8/--no-int8", help="Full-integer int8 (the only mode; kept for clarity)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default RUN/int8): model_int8.tflite, "
                                       "quantize.json, report.md, model_data.h, model_data.cc, model_ops.h."),
    representative_size: int = typer.Option(200, "--representative-size", help="Training clips used to calibrate "
                                            "activation ranges (silent clips are skipped). Default 200."),
    frontend: str = typer.Option("auto", "--frontend", help="auto (the student preset's frontend_int8 hint), float "
                                 "(log-mel front end float32, float32 waveform in and scores out) or int8 (all int8 "
                                 "but MAXIMUM and LOG, int8 waveform in and int8 scores out)."),
    frontend_weights: str = typer.Option("auto", "--frontend-weights", help="int8: the float front end's DFT kernel "
                                         "and mel bank (and a --float-head classifier) are stored int8 and expanded to "
                                         "float32 at invoke by DEQUANTIZE (4x less flash for them; activations stay "
                                         "float; the expanded matrix needs arena). float: stored float32. auto: int8 "
                                         "unless it grows the TFLM arena by more than 5 % (or 4 KiB)."),
    float_head: bool = typer.Option(False, "--float-head/--int8-head", help="Keep the pooling head (attention pool, "
                                    "Gram matrix or mean) and the classifier float, their matrices stored int8: "
                                    "int8 softmax weights over many frames cost Wav2Small 1-2 points; costs arena."),
    arena_margin: float = typer.Option(0.10, "--arena-margin", help="Fraction added to the TFLM-measured arena for "
                                       "TINYKD_ARENA_BYTES (rounded up to 1 KiB). Default 0.10."),
    max_test_clips: int = typer.Option(0, "--max-test-clips", help="Run only this many test clips through the "
                                       "interpreters (0 = all)."),
    seed: int = typer.Option(0, "--seed", help="Seed for choosing calibration (and limited test) clips."),
    name: str = typer.Option("tinykd", "--name", help="Prefix of the emitted C identifiers (sanitised; firmware/ "
                             "expects the default)."),
    board: Optional[str] = typer.Option(None, "--board", help="Refuse (write nothing) when model + arena + firmware "
                                        "do not fit this board; without it, a misfit is only a warning."),
) -> None:
    """Quantize a distilled student to int8 for TFLite Micro, prove it in TFLM and LiteRT, and emit C sources.

    Prints the key figures; the full report is OUT/report.md and OUT/quantize.json.
    """
    from tinykd.quantize import QuantizeConfig, quantize_run

    if not int8:
        raise TinykdError("only --int8 quantization is supported")
    cfg = QuantizeConfig(representative_size=representative_size, frontend=frontend, frontend_weights=frontend_weights,
                         float_head=float_head, arena_margin=arena_margin,
                         max_test_clips=max_test_clips, seed=seed, name=name, board=board or "")
    result = quantize_run(run, data, out, cfg)
    rep = result.report
    acc = rep["accuracy"]
    console.print(f"wrote {result.out_dir}/ (model_int8.tflite, quantize.json, report.md, model_data.h/.cc, model_ops.h)")
    console.print(
        f"flatbuffer {rep['model']['bytes']} B; TFLM arena {rep['arena']['measured_bytes']} B measured, "
        f"{rep['arena']['bytes']} B to allocate; {rep['macs']['total']:,} MACs "
        f"({rep['frontend']['float_macs_share'] * 100:.1f} % float: {', '.join(rep['frontend']['float_ops'])})"
    )
    console.print(
        f"test clips {acc['n_test']}: float {acc['float_accuracy']:.2%}, int8 TFLM {acc['int8_tflm_accuracy']:.2%} "
        f"(drop {100 * acc['drop']:.2f} points); top-1 agreement float/TFLM {acc['agreement_float_tflm']:.2%}, "
        f"LiteRT/TFLM {acc['agreement_litert_tflm']:.2%}; TFLM invoke {rep['timing']['tflm_invoke_ms_mean']:.1f} ms here"
    )
    fitting = [name for name, entry in rep["boards"].items() if entry["fits"]]
    console.print(f"boards it fits (tinykd/boards.py, arena {rep['arena']['bytes']} B): {', '.join(fitting) or 'none'}")
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


@export_app.command("c")
def export_c_cmd(
    run: Path = typer.Argument(..., help="Run folder (uses RUN/int8/) or a quantize output folder holding "
                               "model_int8.tflite and quantize.json."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for model_data.h, model_data.cc and "
                                       "model_ops.h (default: beside model_int8.tflite)."),
    name: str = typer.Option("tinykd", "--name", help="Prefix of the C identifiers (sanitised to a valid identifier; "
                             "firmware/ expects the default)."),
) -> None:
    """Write the quantized model as C++ source: aligned const array, labels, shapes, scales, arena size, op resolver."""
    from tinykd.emit import export_c

    for path in export_c(run, out, name):
        console.print(f"wrote {path}")


app.add_typer(export_app, name="export")
