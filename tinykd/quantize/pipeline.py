"""`tinykd quantize --int8`: run folder + data -> proven int8 model, report and C sources in RUN/int8/.

Steps: load the run's Keras model and labels; calibrate on training clips; quantize (front end kept where
TFLM can run it, see convert.py); run the test split through the float Keras model, LiteRT and TFLM; measure
the TFLM arena; check the boards; write model_int8.tflite, quantize.json, report.md and the C sources into
a temporary folder that replaces the output folder only when everything succeeded.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinykd.boards import BOARDS, check_fit, get_board
from tinykd.configio import atomic_write_bytes, atomic_write_text, load_json, save_json, to_dict
from tinykd.emit.c_model import model_hash
from tinykd.emit.write import REPORT_JSON, TFLITE, model_source_from_report, write_c_sources
from tinykd.errors import TinykdError
from tinykd.quantize.config import QuantizeConfig
from tinykd.quantize.evaluate import PCM_SCALE, as_pcm16, compare, run_litert, to_float_scores, to_input_dtype
from tinykd.quantize.graph import Graph, read_graph
from tinykd.quantize.report import render_report_md

# Quantization is expected to keep the float model's decisions: below these, quantize warns.
MIN_AGREEMENT = 99.0  # percent top-1 agreement, float Keras vs int8 TFLM
MAX_DROP_POINTS = 0.5  # accuracy points lost
SILENT_PEAK = 1e-4  # a clip whose peak is below -80 dBFS carries no calibration information
REPORT_MD = "report.md"


@dataclass(frozen=True)
class QuantizeResult:
    out_dir: Path
    report: dict
    warnings: tuple[str, ...]


def _run_hints(run_dir: Path) -> tuple[dict | None, bool | None, str, str | None]:
    """(data config dict, frontend_int8 hint, student name, data root) from RUN/config.json when it has them."""
    path = run_dir / "config.json"
    if not path.is_file():
        return None, None, "", None
    cfg = load_json(path)
    if not isinstance(cfg, dict):
        return None, None, "", None
    data = cfg.get("data") if isinstance(cfg.get("data"), dict) else None
    dataset = cfg.get("dataset") if isinstance(cfg.get("dataset"), dict) else {}
    root = dataset.get("root") if isinstance(dataset.get("root"), str) else None
    student = cfg.get("student")
    hint, name = None, ""
    if isinstance(student, dict):
        hint, name = student.get("frontend_int8"), str(student.get("name", ""))
    elif isinstance(student, str):
        name = student
        try:
            from tinykd.students.config import load_student_config

            hint = load_student_config(student).frontend_int8
        except Exception:  # a preset renamed or removed since the run: fall back to the default
            hint = None
    if isinstance(cfg.get("frontend_int8"), bool):
        hint = cfg["frontend_int8"]
    return data, hint, name, root


def _data_config(data_hint: dict | None, spec, clip_samples: int):
    from tinykd.data import DataConfig

    known = set(DataConfig.__dataclass_fields__)
    kwargs = {k: v for k, v in (data_hint or {}).items() if k in known}
    kwargs["sample_rate"] = spec.sample_rate
    kwargs["clip_seconds"] = clip_samples / spec.sample_rate
    return DataConfig(**kwargs)


def _representative(x: np.ndarray, size: int, seed: int, data: Path) -> tuple[np.ndarray, int]:
    if len(x) == 0:
        raise TinykdError(f"{data}: the training split is empty; the representative set needs training clips")
    loud = np.max(np.abs(x), axis=1) >= SILENT_PEAK
    if not loud.any():
        raise TinykdError(f"{data}: every training clip is silent (peak < {SILENT_PEAK:g}); calibration needs real audio")
    pool = np.flatnonzero(loud)
    rng = np.random.default_rng(seed)
    pick = rng.choice(pool, size=min(size, len(pool)), replace=False)
    return as_pcm16(x[np.sort(pick)]), int((~loud).sum())


def arena_with_margin(measured: int, margin: float) -> int:
    return int(math.ceil(measured * (1.0 + margin) / 1024.0) * 1024)


def _op_table(graph: Graph) -> list[dict]:
    rows = []
    for op in graph.ops:
        ins = [graph.tensors[i] for i in op.inputs if i >= 0]
        out = graph.tensors[op.outputs[0]]
        rows.append({
            "index": op.index,
            "op": op.name,
            "kind": graph.op_kind(op),
            "input_dtypes": [t.dtype for t in ins if not t.constant],
            "weight_dtypes": [t.dtype for t in ins if t.constant],
            "output_dtype": out.dtype,
            "output_shape": list(out.shape),
            "macs": graph.macs(op),
            "activation_bytes": graph.activation_bytes(op),
            "name": out.name,
        })
    return rows


def _tensor_info(t, pcm: bool) -> dict:
    info = {"dtype": t.dtype, "shape": list(t.shape), "scale": t.scale[0] if t.scale else 0.0,
            "zero_point": t.zero_point[0] if t.zero_point else 0}
    if pcm:
        info["pcm_scale"] = PCM_SCALE
    return info


def _check_out_dir(out: Path, run_dir: Path) -> None:
    """The output folder is replaced whole at the end: refuse one that holds anything but an earlier output."""
    if out.resolve() in (run_dir.resolve(), *run_dir.resolve().parents):
        raise TinykdError(f"--out {out} would replace the run folder itself; give a folder of its own (default RUN/int8)")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / REPORT_JSON).is_file())):
        raise TinykdError(f"--out {out} exists and is not a tinykd quantize output (no {REPORT_JSON}); choose another folder")


def _swap_in(tmp: Path, out: Path) -> None:
    """Replace `out` by the finished `tmp` folder (old contents removed only after the new are in place)."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def quantize_run(run: str | os.PathLike, data: str | os.PathLike | None = None, out: str | os.PathLike | None = None,
                 config: QuantizeConfig | None = None, show_progress: bool = True) -> QuantizeResult:
    """Quantize the student in `run` to int8, prove it in TFLM and LiteRT, and write RUN/int8/ (or `out`).

    `data` defaults to the data set the run was trained on (`dataset.root` in RUN/config.json)."""
    from tinykd.data import load_dataset
    from tinykd.distill.runfolder import load_run_model
    from tinykd.quantize.compress import store_float_weights
    from tinykd.quantize.convert import quantize_int8, strip_names
    from tinykd.quantize.tflm import run_tflm
    from tinykd.emit.op_resolver import resolver_methods

    config = config or QuantizeConfig()
    config.validate()
    run_dir = Path(run)
    if config.board:
        get_board(config.board)  # unknown board: fail before any work
    model, labels = load_run_model(run_dir)
    run_dir = run_dir if run_dir.is_dir() else run_dir.parent
    out_dir = Path(out) if out is not None else run_dir / "int8"
    _check_out_dir(out_dir, run_dir)
    data_hint, frontend_hint, student_name, data_root = _run_hints(run_dir)
    if data is None and data_root is None:
        raise TinykdError(f"{run_dir}: config.json does not say which data set the run used; give --data")
    data = Path(data if data is not None else data_root)
    frontend = config.frontend if config.frontend != "auto" else ("int8" if frontend_hint else "float")

    from tinykd.frontend.keras_layer import LogMelFrontEnd

    fe_layers = [layer for layer in model.layers if isinstance(layer, LogMelFrontEnd)]
    if len(fe_layers) != 1:
        raise TinykdError(f"{run_dir}: the model needs exactly one LogMelFrontEnd layer (waveform in), found {len(fe_layers)}")
    spec = fe_layers[0].spec
    clip_samples = int(model.inputs[0].shape[-1])
    n_out = int(model.outputs[0].shape[-1])
    if n_out != len(labels):
        raise TinykdError(f"{run_dir}: model has {n_out} outputs but labels.json lists {len(labels)} classes")

    warnings: list[str] = []
    progress = _progress(show_progress)
    with progress as bar:
        task = bar.add_task("loading data", total=None) if bar else None

        def step(text: str, total: int | None = None):
            if bar:
                bar.update(task, description=text, total=total, completed=0)

        ds = load_dataset(data, _data_config(data_hint, spec, clip_samples))
        if list(ds.labels) != list(labels):
            raise TinykdError(f"{data}: classes {ds.labels} differ from the run's labels.json {labels}; use the run's data")
        train = ds.load_split("train")
        rep, n_silent = _representative(train.x, config.representative_size, config.seed, data)
        if n_silent:
            warnings.append(f"{n_silent} silent training clip(s) left out of the representative set")
        test = ds.load_split("test")
        if len(test) == 0:
            raise TinykdError(f"{data}: no test clips; quantize proves the int8 model on the test split")
        x_test, y_test = test.x, test.y
        if config.max_test_clips and len(y_test) > config.max_test_clips:
            keep = np.sort(np.random.default_rng(config.seed).choice(len(y_test), config.max_test_clips, replace=False))
            x_test, y_test = x_test[keep], y_test[keep]
        x_test = as_pcm16(x_test)

        step(f"quantizing ({frontend} front end, {len(rep)} calibration clips)")
        named = quantize_int8(model, rep, frontend=frontend, float_head=config.float_head)
        named, compressed, weights_note = store_float_weights(named, config.frontend_weights)
        graph = read_graph(named)  # the report names tensors from the named model ...
        flatbuffer = strip_names(named)  # ... and the device gets it without the strings
        t_in, t_out = graph.io(graph.inputs[0]), graph.io(graph.outputs[0])

        step("float Keras model on the test split")
        float_scores = np.asarray(model.predict(x_test, batch_size=32, verbose=0), dtype=np.float32)
        inputs = to_input_dtype(x_test, t_in)

        step("TFLite Micro on the test split", total=len(inputs))
        tflm = run_tflm(flatbuffer, inputs, graph, progress=(lambda d, n: bar.update(task, completed=d)) if bar else None)
        resolver_methods(graph.op_names())  # every op must have a MicroMutableOpResolver registration

        step("LiteRT on the test split")
        litert = run_litert(flatbuffer, inputs)

    tflm_scores = to_float_scores(tflm.outputs, t_out)
    metrics = compare(list(labels), y_test, float_scores, tflm_scores, to_float_scores(litert, t_out))
    if metrics["agreement_float_tflm"] < MIN_AGREEMENT or metrics["drop_points"] > MAX_DROP_POINTS:
        if frontend == "int8":
            hint = ("; the int8 front end feeds the network an 8-bit waveform: --frontend float keeps it float "
                    "(larger arena)")
        elif not config.float_head:
            hint = "; --float-head keeps the pooling head and classifier float (larger arena)"
        else:
            hint = ""
        warnings.append(
            f"int8 model (TFLM) agrees with the float model on {metrics['agreement_float_tflm']:.1f} % of "
            f"{metrics['n_test']} test clips and loses {metrics['drop_points']:.2f} accuracy points "
            f"(targets >= {MIN_AGREEMENT:g} %, <= {MAX_DROP_POINTS:g}){hint}"
        )
    if not tflm.exact_arena_ok:
        warnings.append(f"a fresh TFLM interpreter with exactly the measured {tflm.arena_bytes} B arena failed; "
                        f"keep the margin (--arena-margin) or more")
    ops = _op_table(graph)
    total_macs = sum(r["macs"] for r in ops)
    float_rows = [r for r in ops if r["kind"] == "float"]
    float_macs = sum(r["macs"] for r in float_rows)
    arena_bytes = arena_with_margin(tflm.arena_bytes, config.arena_margin)
    fits = {name: check_fit(name, len(flatbuffer), arena_bytes) for name in BOARDS}
    fitting = [name for name, fit in fits.items() if fit.fits]
    if not fitting:
        warnings.append(
            f"model ({len(flatbuffer)} B) + arena ({arena_bytes} B) fits no board in tinykd/boards.py ("
            + "; ".join(f"{name}: {fit.problems[0]}" for name, fit in fits.items()) + ")"
        )
    if config.board and not fits[config.board].fits:
        raise TinykdError(f"model does not fit --board {config.board}: {'; '.join(fits[config.board].problems)}")
    times_ms = np.asarray(tflm.invoke_seconds) * 1000.0
    report = {
        "version": 1,
        "run": str(run_dir),
        "student": student_name or model.name,
        "data": str(data),
        "config": to_dict(config),
        "frontend": {
            "mode": frontend,
            "spec": spec.to_dict(),
            "float_ops": sorted({r["op"] for r in float_rows}),
            "float_op_count": len(float_rows),
            "float_macs": float_macs,
            "float_macs_share": float_macs / total_macs if total_macs else 0.0,
            # float matrices stored int8 and expanded by DEQUANTIZE at invoke (tinykd.quantize.compress)
            "weights": config.frontend_weights,
            "weights_decision": weights_note,
            "float_head": bool(config.float_head),
            "int8_stored_matrices": compressed,
        },
        "model": {"file": TFLITE, "bytes": len(flatbuffer), "hash16": model_hash(flatbuffer),
                  "keras_params": int(model.count_params()), "weight_bytes": graph.weight_bytes()},
        "labels": list(labels),
        "sample_rate": spec.sample_rate,
        "input": _tensor_info(t_in, pcm=True),
        "output": _tensor_info(t_out, pcm=False),
        "macs": {"total": total_macs, "float": float_macs, "quantized": total_macs - float_macs},
        "arena": {"measured_bytes": tflm.arena_bytes, "margin": config.arena_margin, "bytes": arena_bytes,
                  "exact_measured_arena_runs": tflm.exact_arena_ok,
                  "peak_activation_bytes": max(r["activation_bytes"] for r in ops)},
        "ops": ops,
        "accuracy": metrics,
        "representative": {"clips": len(rep), "silent_skipped": n_silent, "split": "train", "seed": config.seed},
        "timing": {"tflm_invoke_ms_mean": float(times_ms.mean()), "tflm_invoke_ms_median": float(np.median(times_ms)),
                   "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                   "note": "TFLM reference kernels on the host, not a microcontroller"},
        "boards": {name: {"fits": fit.fits, "problems": list(fit.problems), "summary": fit.summary()} for name, fit in fits.items()},
        "warnings": warnings,
    }
    _write_outputs(out_dir, flatbuffer, report, tflm.allocations, config.name)
    return QuantizeResult(out_dir, report, tuple(warnings))


def _write_outputs(out_dir: Path, flatbuffer: bytes, report: dict, allocations: str, name: str) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        atomic_write_bytes(tmp / TFLITE, flatbuffer)
        save_json(tmp / REPORT_JSON, report)
        atomic_write_text(tmp / REPORT_MD, render_report_md(report, allocations))
        write_c_sources(model_source_from_report(report, flatbuffer, prefix=name), [r["op"] for r in report["ops"]], tmp)
        _swap_in(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _progress(show: bool):
    if not show:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=Console(stderr=True), transient=True)
