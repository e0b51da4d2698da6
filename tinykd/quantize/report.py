"""report.md: the quantize.json figures as tables a person reads."""

from __future__ import annotations


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f} %"


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
        f"Run `{report['run']}`, data `{report['data']}`; front end kept **{fe['mode']}** "
        f"(float ops: {', '.join(fe['float_ops']) or 'none'}).",
        *_stored_int8_lines(fe),
        "",
        "| figure | value |",
        "|---|---|",
        f"| flatbuffer | {model['bytes']} B ({_kb(model['bytes'])}), sha256 {model['hash16']} |",
        f"| Keras parameters | {model['keras_params']} |",
        f"| constant bytes by dtype | {', '.join(f'{k}: {v}' for k, v in model['weight_bytes'].items())} |",
        f"| TFLM arena (measured) | {arena['measured_bytes']} B ({_kb(arena['measured_bytes'])}); "
        f"a fresh interpreter with exactly this arena {'runs' if arena['exact_measured_arena_runs'] else 'FAILS'} |",
        f"| arena to allocate | {arena['bytes']} B (measured + {arena['margin'] * 100:.0f} %, rounded up to 1 KiB) |",
        f"| MACs per inference | {macs['total']:,} ({macs['float']:,} float = {fe['float_macs_share'] * 100:.1f} %) |",
        f"| input | {inp['dtype']} {inp['shape']}, scale {inp['scale']:g}, zero point {inp['zero_point']}; "
        f"waveform = int16 PCM x {inp['pcm_scale']:g} |",
        f"| output | {out['dtype']} {out['shape']} class scores (logits), scale {out['scale']:g}, zero point {out['zero_point']} |",
        f"| test clips | {acc['n_test']} |",
        f"| float (Keras) accuracy | {_pct(acc['float_accuracy'])} |",
        f"| int8 TFLM accuracy | {_pct(acc['int8_tflm_accuracy'])} (drop {acc['drop_points']:.2f} points) |",
        f"| int8 LiteRT accuracy | {_pct(acc['int8_litert_accuracy'])} |",
        f"| top-1 agreement Keras float vs TFLM int8 | {_pct(acc['agreement_float_tflm'])} |",
        f"| top-1 agreement LiteRT vs TFLM | {_pct(acc['agreement_litert_tflm'])} (max score diff {acc['max_abs_diff_litert_tflm']:.4g}) |",
        f"| TFLM invoke on this machine | {report['timing']['tflm_invoke_ms_mean']:.2f} ms mean, "
        f"{report['timing']['tflm_invoke_ms_median']:.2f} ms median ({report['timing']['machine']}; {report['timing']['note']}) |",
        "",
        "## Boards",
        "",
        "| board | fits | details |",
        "|---|---|---|",
    ]
    for name, b in report["boards"].items():
        lines.append(f"| {name} | {'yes' if b['fits'] else 'no'} | {'; '.join(b['problems']) or b['summary']} |")
    lines += ["", "## Per class", "", "| class | clips | float | int8 (TFLM) | delta (points) |", "|---|---|---|---|---|"]
    for row in acc["per_class"]:
        delta = "n/a" if row["delta_points"] is None else f"{row['delta_points']:+.2f}"
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


def _stored_int8_lines(fe: dict) -> list[str]:
    """One sentence on the float matrices stored int8 (tinykd.quantize.compress), if any."""
    stored = fe.get("int8_stored_matrices") or []
    if not stored:
        return ["", f"Float matrices: {fe['weights_decision']}."] if fe.get("weights_decision") else []
    parts = ", ".join(f"{m['op']} {'x'.join(str(d) for d in m['shape'])} ({m['float_bytes']} -> {m['int8_bytes']} B)"
                      for m in stored)
    return ["", f"Float matrices stored int8 and expanded by DEQUANTIZE at invoke ({fe.get('weights_decision', 'int8')}): {parts}."]

