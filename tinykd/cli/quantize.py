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
    frontend_weights: str = typer.Option("auto", "--frontend-weights", help="Logmel (research) students only. int8: the float front end's DFT kernel "
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

    A deployable student (Signal front end) becomes two flatbuffers: frontend.tflite (TFLM Signal ops, one hop
    per invoke) and model_int8.tflite (the all-int8 body); the proof runs them hop by hop as the firmware does.
    A logmel research preset becomes one waveform model with its front end float (the report says why).

    Prints the key figures; the full report is OUT/report.md and OUT/quantize.json.
    """
    from tinykd.quantize import QuantizeConfig, quantize_run

    if not int8:
        raise TinykdError("only --int8 quantization is supported")
    cfg = QuantizeConfig(representative_size=representative_size, frontend_weights=frontend_weights,
                         float_head=float_head, arena_margin=arena_margin,
                         max_test_clips=max_test_clips, seed=seed, name=name, board=board or "")
    result = quantize_run(run, data, out, cfg)
    rep = result.report
    acc = rep["accuracy"]
    files = "frontend.tflite, model_int8.tflite" if rep["kind"] == "signal" else "model_int8.tflite"
    console.print(f"wrote {result.out_dir}/ ({files}, quantize.json, report.md, model_data.h/.cc, model_ops.h)")
    console.print(rep["path"], highlight=False, soft_wrap=True)
    if rep["kind"] == "signal":
        fe = rep["frontend"]
        console.print(
            f"flatbuffers {rep['deployment']['flatbuffer_bytes']} B (front end {fe['bytes']} B + body "
            f"{rep['model']['bytes']} B); TFLM arena {rep['arena']['measured_bytes']} B measured for both (front end "
            f"{rep['arena']['frontend_measured_bytes']} B, body {rep['arena']['body_measured_bytes']} B alone), "
            f"{rep['arena']['bytes']} B to allocate; body {rep['macs']['total']:,} MACs per window, front end "
            f"{fe['per_hop']['operations']['total muls']:,} multiplies per hop"
        )
    else:
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
    fitting = [name for name, entry in rep["boards"].items() if entry["fits"] and entry.get("builds", True)]
    console.print(f"boards it fits and builds for (tinykd/boards.py, arena {rep['arena']['bytes']} B): "
                  f"{', '.join(fitting) or 'none'}", highlight=False, soft_wrap=True)
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


@export_app.command("arduino")
def export_arduino_cmd(
    run: Path = typer.Argument(..., help="Run folder (uses RUN/int8/) or a quantize output folder holding "
                               "model_int8.tflite and quantize.json."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="The .zip to write (default RUN/<name>.zip)."),
    name: Optional[str] = typer.Option(None, "--name", help="Library and example name (default tinykd_<run "
                                       "folder>; sanitised to letters, digits and _)."),
) -> None:
    """Write an Arduino library zip: the model, its op resolver, the tinykd core and TFLM glue, and the firmware
    as its example sketch. Install it with `arduino-cli lib install --zip-path FILE.zip`."""
    from tinykd.emit.arduino_lib import export_arduino

    path = export_arduino(run, out, name=name)
    console.print(f"wrote {path}", highlight=False, soft_wrap=True)
    console.print(f"install: arduino-cli lib install --zip-path {path} (README.md inside says which TFLM each board "
                  "uses)", highlight=False, soft_wrap=True)


app.add_typer(export_app, name="export")
