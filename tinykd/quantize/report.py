"""quantize.json (the record of an int8 model: what every later stage reads) and report.md (its figures as
tables a person reads)."""

from __future__ import annotations

import platform

import numpy as np

from tinykd.artifacts import Int8Dir, deployment_hash, model_hash
from tinykd.configio import to_dict
from tinykd.students.build import trainable_params
from tinykd.tflite.graph import Graph
from tinykd.tflite.io import PCM_SCALE

REPORT_VERSION = 2  # 2: accuracies as fractions, data_config recorded


def op_table(graph: Graph) -> list[dict]:
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


def tensor_info(t, pcm: bool) -> dict:
    info = {"dtype": t.dtype, "shape": list(t.shape), "scale": t.scale[0] if t.scale else 0.0,
            "zero_point": t.zero_point[0] if t.zero_point else 0}
    if pcm:
        info["pcm_scale"] = float(PCM_SCALE)
    return info


def build_report(*, source, data, data_config, config, conversion, graph: Graph, proof, metrics: dict,
                 arena_bytes: int, sets, warnings: list[str]) -> dict:
    """The quantize.json document (one schema for both kinds; a signal model adds its front end and stream)."""
    ops = op_table(graph)
    total_macs = sum(r["macs"] for r in ops)
    float_rows = [r for r in ops if r["kind"] == "float"]
    float_macs = sum(r["macs"] for r in float_rows)
    tflm = proof.tflm
    times_ms = np.asarray(tflm.invoke_seconds) * 1000.0
    t_in, t_out = graph.io(graph.inputs[0]), graph.io(graph.outputs[0])
    signal = conversion.kind == "signal"
    report = {
        "version": REPORT_VERSION,
        "kind": conversion.kind,
        "path": source.path_note(),
        "run": str(source.run.path),
        "student": source.student_name,
        "data": str(data),
        "data_config": to_dict(data_config),
        "config": to_dict(config),
        "frontend": {
            "kind": "signal" if signal else "logmel",
            "spec": source.spec.to_dict(),
            "float_ops": sorted({r["op"] for r in float_rows}),
            "float_op_count": len(float_rows),
            "float_macs": float_macs,
            "float_macs_share": float_macs / total_macs if total_macs else 0.0,
            # a logmel front end's float matrices stored int8 and expanded by DEQUANTIZE (tinykd.tflite.compress)
            "weights": config.frontend_weights,
            "weights_decision": conversion.weights_note,
            "float_head": bool(conversion.float_head),
            "int8_stored_matrices": conversion.compressed,
        },
        "model": {"file": Int8Dir.TFLITE, "bytes": len(conversion.model), "hash16": model_hash(conversion.model),
                  "params": trainable_params(source.model), "params_total": int(source.model.count_params()),
                  "weight_bytes": graph.weight_bytes()},
        "deployment": {"hash16": deployment_hash(conversion.frontend, conversion.model),
                       "flatbuffer_bytes": len(conversion.model) + len(conversion.frontend or b"")},
        "labels": list(source.labels),
        "sample_rate": source.spec.sample_rate,
        "clip_samples": int(source.clip_samples),
        "input": tensor_info(t_in, pcm=not signal),
        "output": tensor_info(t_out, pcm=False),
        "macs": {"total": total_macs, "float": float_macs, "quantized": total_macs - float_macs},
        "arena": {"measured_bytes": tflm.arena_bytes, "margin": config.arena_margin, "bytes": arena_bytes,
                  "exact_measured_arena_runs": tflm.exact_arena_ok,
                  "peak_activation_bytes": max(r["activation_bytes"] for r in ops)},
        "ops": ops,
        "accuracy": metrics,
        "representative": {"clips": len(sets.representative), "silent_skipped": sets.silent_skipped,
                           "split": "train", "seed": config.seed},
        "timing": {"tflm_invoke_ms_mean": float(times_ms.mean()), "tflm_invoke_ms_median": float(np.median(times_ms)),
                   "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                   "note": "TFLM reference kernels on the host, not a microcontroller"},
        "boards": {},  # filled by the pipeline (tinykd.boards.check_fit with the model's app buffers)
        "warnings": list(warnings),
    }
    if signal:
        _add_signal(report, source.spec, conversion.frontend, tflm, proof.feature_mismatches)
    return report


def _add_signal(report: dict, spec, frontend: bytes, tflm, mismatches: int | None) -> None:
    """A signal model's front end (per hop), its stream framing and the shared arena, beside the body's figures."""
    from tinykd.frontend.signal_graph import signal_op_names
    from tinykd.frontend.signal_tables import hop_operation_counts
    from tinykd.tflite.arena import head_tail_bytes

    hop_us = np.asarray(tflm.hop_seconds) * 1e6
    fe_head, fe_tail = head_tail_bytes(tflm.frontend_allocations)
    body_head, body_tail = head_tail_bytes(tflm.allocations)
    frames = spec.n_frames(report["clip_samples"])
    report["frontend"].update({
        "file": Int8Dir.FRONTEND_TFLITE, "bytes": len(frontend), "hash16": model_hash(frontend),
        "ops": signal_op_names(spec), "arena_measured_bytes": tflm.frontend_arena_bytes,
        "arena_head_tail_bytes": [fe_head, fe_tail],
        "per_hop": {"operations": hop_operation_counts(spec), "tflm_us_mean": float(hop_us.mean()),
                    "tflm_us_median": float(np.median(hop_us))},
        "input": {"dtype": "int16", "shape": [spec.win_length], "scale": 0.0, "zero_point": 0},
        "output": {"dtype": "int8", "shape": [spec.n_mels], "scale": 1.0, "zero_point": 0},
        "features_equal_keras_twin": mismatches == 0, "feature_mismatches": mismatches,
    })
    report["stream"] = {"window_samples": spec.win_length, "hop_samples": spec.hop_length, "frames": frames,
                        "bins": spec.n_mels, "clip_samples": report["clip_samples"]}
    report["arena"].update({
        "frontend_measured_bytes": tflm.frontend_arena_bytes, "body_measured_bytes": tflm.body_arena_bytes,
        "body_head_tail_bytes": [body_head, body_tail],
        "shared_note": "front end and body in one TFLM arena (multi-tenant allocator): max(heads) + sum(tails)",
    })
    report["timing"].update({"per": "body invoke per window; front end per hop in frontend.per_hop",
                             "frontend_ms_per_window": float(hop_us.mean()) * frames / 1000.0})


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100.0 * x:.2f} %"


def render_report_md(report: dict, allocations: str = "") -> str:
    acc = report["accuracy"]
    fe = report["frontend"]
    model = report["model"]
    arena = report["arena"]
    macs = report["macs"]
    inp, out = report["input"], report["output"]
    lines = [
        f"# int8 quantization of `{report['student']}`",
        "",
        f"Run `{report['run']}`, data `{report['data']}`.",
        "",
        f"Conversion: {report.get('path', '')}. Float ops: {', '.join(fe['float_ops']) or 'none'}.",
        *_stored_int8_lines(fe),
        *_signal_lines(report),
        "",
        "| figure | value |",
        "|---|---|",
        f"| {'body ' if report.get('kind') == 'signal' else ''}flatbuffer | {model['bytes']} B ({_kb(model['bytes'])}), "
        f"sha256 {model['hash16']} |",
        f"| parameters (learned; with BatchNorm statistics) | {model['params']:,} ({model['params_total']:,}) |",
        f"| constant bytes by dtype | {', '.join(f'{k}: {v}' for k, v in model['weight_bytes'].items())} |",
        f"| TFLM arena (measured{', front end + body' if report.get('kind') == 'signal' else ''}) | "
        f"{arena['measured_bytes']} B ({_kb(arena['measured_bytes'])}); "
        f"a fresh interpreter with exactly this arena {'runs' if arena['exact_measured_arena_runs'] else 'FAILS'} |",
        f"| arena to allocate | {arena['bytes']} B (measured + {arena['margin'] * 100:.0f} %, rounded up to 1 KiB) |",
        f"| MACs per inference{' (body)' if report.get('kind') == 'signal' else ''} | {macs['total']:,} ({macs['float']:,} float = {fe['float_macs_share'] * 100:.1f} %) |",
        f"| input | {inp['dtype']} {inp['shape']}, scale {inp['scale']:g}, zero point {inp['zero_point']}; "
        + (f"waveform = int16 PCM x {inp['pcm_scale']:g} |" if "pcm_scale" in inp else
           "the front end's int8 feature codes as they are |"),
        f"| output | {out['dtype']} {out['shape']} class scores (logits), scale {out['scale']:g}, zero point {out['zero_point']} |",
        f"| test clips | {acc['n_test']} |",
        f"| float (Keras) accuracy | {_pct(acc['float_accuracy'])} |",
        f"| int8 TFLM accuracy | {_pct(acc['int8_tflm_accuracy'])} (drop {100.0 * acc['drop']:.2f} points) |",
        f"| int8 LiteRT accuracy | {_pct(acc['int8_litert_accuracy'])} |",
        f"| top-1 agreement Keras float vs TFLM int8 | {_pct(acc['agreement_float_tflm'])} |",
        f"| top-1 agreement LiteRT vs TFLM | {_pct(acc['agreement_litert_tflm'])} (max score diff {acc['max_abs_diff_litert_tflm']:.4g}) |",
        f"| TFLM invoke on this machine | {report['timing']['tflm_invoke_ms_mean']:.2f} ms mean, "
        f"{report['timing']['tflm_invoke_ms_median']:.2f} ms median ({report['timing']['machine']}; {report['timing']['note']}) |",
        "",
        "## Boards",
        "",
        "| board | fits (memory) | builds (its TFLM has every op) | details |",
        "|---|---|---|---|",
    ]
    for name, b in report["boards"].items():
        ops = ("yes" if not b.get("ops_need_newer") else f"with {b['tflm'][-1]} (older lacks "
               f"{', '.join(b['ops_need_newer'])})") if b.get("builds", True) else f"no: lacks {', '.join(b['ops_missing'])}"
        lines.append(f"| {name} | {'yes' if b['fits'] else 'no'} | {ops} | {'; '.join(b['problems']) or b['summary']} |")
    lines += ["", "## Per class", "", "| class | clips | float | int8 (TFLM) | delta (points) |", "|---|---|---|---|---|"]
    for row in acc["per_class"]:
        delta = "n/a" if row["delta"] is None else f"{100.0 * row['delta']:+.2f}"
        lines.append(f"| {row['label']} | {row['n']} | {_pct(row['float_accuracy'])} | {_pct(row['int8_accuracy'])} | {delta} |")
    lines += [
        "", "## Ops", "",
        "| # | op | kind | inputs | weights | output | shape | MACs | activation bytes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["ops"]:
        lines.append(
            f"| {r['index']} | {r['op']} | {r['kind']} | {'/'.join(r['input_dtypes'])} | {'/'.join(r['weight_dtypes'])} | "
            f"{r['output_dtype']} | {'x'.join(map(str, r['output_shape']))} | {r['macs']:,} | {r['activation_bytes']:,} |"
        )
    if report.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report["warnings"]]
    if allocations:
        lines += ["", "## TFLM allocation report", "", "```", allocations.strip(), "```"]
    return "\n".join(lines) + "\n"


def _signal_lines(report: dict) -> list[str]:
    """The front end (per hop), the stream framing and the shared arena of a signal model."""
    if report.get("kind") != "signal":
        return []
    fe, st, arena = report["frontend"], report["stream"], report["arena"]
    hop = fe["per_hop"]
    return [
        "",
        "## Front end (TFLM Signal ops, one hop per invoke)",
        "",
        "| figure | value |",
        "|---|---|",
        f"| flatbuffer | {fe['bytes']} B (`{fe['file']}`), sha256 {fe['hash16']} |",
        f"| ops | {', '.join(fe['ops'])} |",
        f"| framing | window {st['window_samples']} samples, hop {st['hop_samples']}, {st['frames']} frames x "
        f"{st['bins']} int8 features per {st['clip_samples']}-sample clip |",
        f"| integer multiplies per hop | {hop['operations']['total muls']:,} "
        f"({hop['operations']['FFT butterflies']} FFT butterflies) |",
        f"| TFLM arena | {fe['arena_measured_bytes']} B alone; body {arena['body_measured_bytes']} B alone; "
        f"**{arena['measured_bytes']} B** for both in one arena (max of heads + sum of tails) |",
        f"| TFLM time here | {hop['tflm_us_mean']:.1f} us per hop, "
        f"{report['timing']['frontend_ms_per_window']:.2f} ms per {st['frames']}-frame window |",
        f"| features vs the Keras twin | {'identical' if fe['features_equal_keras_twin'] else str(fe['feature_mismatches']) + ' differ'} "
        f"on every test clip |",
    ]


def _stored_int8_lines(fe: dict) -> list[str]:
    """One sentence on the float matrices stored int8 (tinykd.tflite.compress), if any."""
    stored = fe.get("int8_stored_matrices") or []
    if not stored:
        return ["", f"Float matrices: {fe['weights_decision']}."] if fe.get("weights_decision") else []
    parts = ", ".join(f"{m['op']} {'x'.join(str(d) for d in m['shape'])} ({m['float_bytes']} -> {m['int8_bytes']} B)"
                      for m in stored)
    return ["", f"Float matrices stored int8 and expanded by DEQUANTIZE at invoke ({fe.get('weights_decision', 'int8')}): {parts}."]

