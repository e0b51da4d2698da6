"""`tinykd quantize --int8`: run folder + data -> proven int8 model, report and C sources in RUN/int8/.

Steps, each in its own module: read the run (source.py); pick calibration and test clips (sets.py); convert
(tinykd.tflite.convert, compress); run the test split through the float Keras model, TFLM and LiteRT
(proof.py) and compare (metrics.py); check the boards; build quantize.json and report.md (report.py); write
everything into a temporary folder that replaces the output folder only when all of it succeeded.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from tinykd.artifacts import Int8Dir, write_marker
from tinykd.boards import BOARDS, check_fit, get_board
from tinykd.configio import atomic_write_bytes, atomic_write_text, save_json
from tinykd.emit.project import (FIRMWARE_MAX_LABELS, check_labels_fit_firmware, firmware_buffer_bytes, op_support,
                                 what_would_fit)
from tinykd.emit.write import model_source_from_report, report_op_names, write_c_sources
from tinykd.errors import TinykdError
from tinykd.quantize.config import QuantizeConfig
from tinykd.quantize.report import build_report, render_report_md

# Quantization is expected to keep the float model's decisions: below these, quantize warns.
MIN_AGREEMENT = 0.99  # top-1 agreement, float Keras vs int8 TFLM
MAX_DROP = 0.005  # accuracy lost (half a point)


@dataclass(frozen=True)
class QuantizeResult:
    out_dir: Path
    report: dict
    warnings: tuple[str, ...]


def arena_with_margin(measured: int, margin: float) -> int:
    return int(math.ceil(measured * (1.0 + margin) / 1024.0) * 1024)


def quality_warnings(metrics: dict, kind: str, float_head: bool) -> list[str]:
    if metrics["agreement_float_tflm"] >= MIN_AGREEMENT and metrics["drop"] <= MAX_DROP:
        return []
    hint = "" if float_head else "; --float-head keeps the pooling head and classifier float (larger arena)"
    return [f"int8 model (TFLM) agrees with the float model on {100 * metrics['agreement_float_tflm']:.1f} % of "
            f"{metrics['n_test']} test clips and loses {100 * metrics['drop']:.2f} accuracy points "
            f"(targets >= {100 * MIN_AGREEMENT:g} %, <= {100 * MAX_DROP:g}){hint}"]


def board_fits(model_bytes: int, arena_bytes: int, buffer_bytes: int, board: str) -> tuple[dict, list[str]]:
    """Every board's verdict, and a warning naming what would fit when the model fits no real board; a refusal
    when it misses `board`."""
    fits = {name: check_fit(name, model_bytes, arena_bytes, buffer_bytes) for name in BOARDS}
    warnings = []
    if not any(fit.fits for name, fit in fits.items() if not BOARDS[name].emulated):
        warnings.append(f"model ({model_bytes} B) + arena ({arena_bytes} B) fits no board: "
                        + "; ".join(f"{name}: {fit.problems[0]}" for name, fit in fits.items())
                        + f"; {what_would_fit(model_bytes, arena_bytes, buffer_bytes)}")
    if board and not fits[board].fits:
        raise TinykdError(f"model does not fit --board {board}: {'; '.join(fits[board].problems)}; "
                          f"{what_would_fit(model_bytes, arena_bytes, buffer_bytes)}")
    return fits, warnings


def board_op_warnings(support: dict, fits: dict, board: str) -> list[str]:
    """A warning for every real board the model fits but whose TFLM lacks one of its ops (or needs a newer one);
    a refusal when that board is `board`."""
    if board and not support[board].builds:
        raise TinykdError(f"model cannot build for --board {board}: {support[board].line()}")
    return [support[name].line() for name in support
            if support[name].line() and fits[name].fits and not BOARDS[name].emulated]


def quantize_run(run: str | os.PathLike, data: str | os.PathLike | None = None, out: str | os.PathLike | None = None,
                 config: QuantizeConfig | None = None, show_progress: bool = True) -> QuantizeResult:
    """Quantize the student in `run` to int8, prove it in TFLM and LiteRT, and write RUN/int8/ (or `out`).

    `data` defaults to the data set the run was trained on (`dataset.root` in RUN/config.json)."""
    from tinykd.emit.op_resolver import resolver_methods
    from tinykd.frontend.signal_graph import signal_op_names
    from tinykd.quantize.metrics import compare
    from tinykd.quantize.proof import prove
    from tinykd.quantize.sets import load_sets
    from tinykd.quantize.source import load_source
    from tinykd.tflite.convert import convert_student
    from tinykd.tflite.graph import read_graph

    config = config or QuantizeConfig()
    config.validate()
    if config.board:
        get_board(config.board)  # unknown board: fail before any work
    source = load_source(run, out)
    data_root = data if data is not None else source.data_root()
    if data_root is None:
        raise TinykdError(f"{source.run.path}: config.json does not say which data set the run used; give --data")
    data = Path(data_root)
    data_config = source.data_config()

    with _progress(show_progress) as bar:
        task = bar.add_task("loading data", total=None) if bar else None

        def step(text: str, total: int | None = None):
            if bar:
                bar.update(task, description=text, total=total, completed=0)

        sets = load_sets(data, data_config, source.labels, config.representative_size, config.max_test_clips,
                         config.seed)
        step(f"converting ({source.kind}, {len(sets.representative)} calibration clips)")
        conversion = convert_student(source.model, sets.representative, float_head=config.float_head,
                                     frontend_weights=config.frontend_weights)
        graph = read_graph(conversion.named)  # the report names tensors from the named model ...
        proof = prove(conversion, graph, source.model, sets.x_test, step,
                      (lambda d, n: bar.update(task, completed=d)) if bar else None)
        ops = graph.op_names() + (signal_op_names(source.spec) if conversion.frontend else [])
        resolver_methods(ops)  # every op must have a MicroMutableOpResolver registration

    metrics = compare(source.labels, sets.y_test, proof.float_scores, proof.tflm_scores, proof.litert_scores)
    warnings = [f"{sets.silent_skipped} silent training clip(s) left out of the representative set"] if sets.silent_skipped else []
    warnings += quality_warnings(metrics, conversion.kind, config.float_head)
    if proof.feature_mismatches:
        warnings.append(f"{proof.feature_mismatches} front-end feature(s) in TFLM differ from the Keras twin's; the "
                        "float accuracy is not the device's")
    if not proof.tflm.exact_arena_ok:
        warnings.append("a fresh TFLM interpreter with exactly the measured arena failed; keep the margin "
                        "(--arena-margin) or more")
    arena = arena_with_margin(proof.tflm.arena_bytes, config.arena_margin)
    emit_c = len(source.labels) <= FIRMWARE_MAX_LABELS
    if not emit_c:
        if config.board:
            check_labels_fit_firmware(source.labels, str(source.run.path))
        warnings.append(f"C sources not written: {len(source.labels)} classes, but the firmware holds at most "
                        f"{FIRMWARE_MAX_LABELS} labels (TKD_MAX_LABELS in tkd_board.h)")
    report = build_report(source=source, data=data, data_config=data_config, config=config, conversion=conversion,
                          graph=graph, proof=proof, metrics=metrics, arena_bytes=arena, sets=sets, warnings=warnings)
    buffers = firmware_buffer_bytes(report)
    fits, fit_warnings = board_fits(report["deployment"]["flatbuffer_bytes"], arena, buffers, config.board)
    report["warnings"] += fit_warnings
    report["firmware_buffer_bytes"] = buffers
    support = {name: op_support(BOARDS[name], report_op_names(report)) for name in BOARDS}
    report["warnings"] += board_op_warnings(support, fits, config.board)
    report["boards"] = {name: {"fits": fit.fits, "problems": list(fit.problems), "summary": fit.summary(),
                               "builds": support[name].builds, "tflm": list(support[name].libraries),
                               "ops_missing": list(support[name].missing),
                               "ops_need_newer": list(support[name].needs_newer)}
                        for name, fit in fits.items()}
    write_int8_dir(source.out, conversion, report, proof.tflm, config.name if emit_c else None)
    return QuantizeResult(source.out.path, report, tuple(report["warnings"]))


def write_int8_dir(out: Int8Dir, conversion, report: dict, tflm, name: str | None) -> None:
    """Write the whole folder beside `out`, then swap it in: a reader never sees half of it. An earlier
    verify.json (a board's record of this folder's model) is carried over."""
    out_dir = out.path
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        write_marker(tmp, Int8Dir.kind)
        atomic_write_bytes(tmp / Int8Dir.TFLITE, conversion.model)
        if conversion.frontend is not None:
            atomic_write_bytes(tmp / Int8Dir.FRONTEND_TFLITE, conversion.frontend)
        save_json(tmp / Int8Dir.REPORT_JSON, report)
        save_json(tmp / Int8Dir.LABELS, report["labels"])
        atomic_write_text(tmp / Int8Dir.REPORT, render_report_md(report, tflm.allocations))
        if name is not None:  # None: no C sources (more labels than the firmware holds)
            write_c_sources(model_source_from_report(report, conversion.model, prefix=name,
                                                     frontend=conversion.frontend), report_op_names(report), tmp)
        _carry_verify(out_dir, tmp, report)
        _swap_in(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _carry_verify(old: Path, new: Path, report: dict) -> None:
    """Keep an earlier verify.json: as is when the model is unchanged, else as verify-<old hash>.json (it
    describes the model that was there, which is gone)."""
    verify = old / Int8Dir.VERIFY
    if not verify.is_file():
        return
    try:
        old_hash = Int8Dir(old).report().get("model", {}).get("hash16")
    except TinykdError:
        old_hash = None
    if old_hash == report["model"]["hash16"]:
        shutil.copy2(verify, new / Int8Dir.VERIFY)
    else:
        shutil.copy2(verify, new / f"verify-{old_hash or 'unknown'}.json")


def _swap_in(tmp: Path, out: Path) -> None:
    """Replace `out` by the finished `tmp` folder (old contents removed only after the new are in place)."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _progress(show: bool):
    if not show:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=Console(stderr=True), transient=True)
