"""int8 quantization of the students on FSDD: agreement with float, accuracy drop, flatbuffer size, arena,
and the emitted C array next to `xxd -i`.

    .venv/bin/python bench/bench_quantize.py [--run PRESET=RUN_DIR ...] [--presets wav2tiny,wav2small,...]
        [--fsdd ../shared/data/fsdd] [--epochs 3] [--train-clips 0] [--work DIR] [--json OUT]

Each preset is quantized by `tinykd.quantize.quantize_run` (the same code as `tinykd quantize`) on FSDD's own
split (index 0-4 of each speaker/digit = test). A preset given with `--run` uses that distilled run folder;
any other preset is trained here, briefly, with plain cross-entropy (`--epochs`, optionally on a random subset
of `--train-clips` training clips): enough to measure quantization fidelity, not the students' best accuracy.
The deployable presets (wav2tiny, wav2small: Signal-op front end, the body int8 on int8 features) and the
research presets (wav2tiny-paper, wav2small-paper: float log-mel front end inside the model, the "waveform"
path) are measured side by side: float and int8 accuracy, agreement, deployment bytes (front end + body),
the shared arena, MACs, TFLM time on this host, and which boards (tinykd.boards) each fits.
Targets (issues 5, 11): TFLM top-1 agreement with float >= 99 %, accuracy drop <= 0.5 points; flatbuffer
Wav2Tiny <= 32 KB, Wav2Small <= 128 KB.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(var, "2")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from tinykd.configio import save_json, to_dict  # noqa: E402

TARGET_FLATBUFFER = {"wav2tiny": 32 * 1024, "wav2small": 128 * 1024}


def train_run(preset: str, fsdd: Path, work: Path, epochs: int, train_clips: int, seed: int) -> Path:
    """A run folder with `preset` trained briefly (plain CE) on FSDD's training split."""
    import keras

    from tinykd.data import DataConfig, load_dataset
    from tinykd.students import build_student, load_student_config

    keras.utils.set_random_seed(seed)
    student = load_student_config(preset)
    cfg = DataConfig(format="fsdd", sample_rate=student.spec().sample_rate, clip_seconds=student.clip_seconds)
    ds = load_dataset(fsdd, cfg)
    train = ds.load_split("train")
    x, y = train.x, train.y
    if train_clips and len(y) > train_clips:
        keep = np.random.default_rng(seed).choice(len(y), train_clips, replace=False)
        x, y = x[keep], y[keep]
    model = build_student(student, len(ds.labels), cfg.clip_samples)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=2, shuffle=True)
    print(f"[{preset}] trained {epochs} epoch(s) on {len(y)} clips in {time.perf_counter() - t0:.0f} s", flush=True)
    run = work / f"run_{preset}"
    run.mkdir(parents=True, exist_ok=True)
    model.save(run / "model.keras")
    save_json(run / "labels.json", list(ds.labels))
    save_json(run / "config.json", {"student": student.to_dict(), "data": to_dict(cfg),
                                    "note": f"bench_quantize: {epochs} epochs plain CE"})
    return run


def xxd_side_by_side(int8_dir: Path) -> dict:
    """tinykd's emitted array declaration vs `xxd -i` of the same .tflite: const, alignment, size, bytes."""
    from tinykd.emit import parse_model_array

    tflite = int8_dir / "model_int8.tflite"
    blob = tflite.read_bytes()
    ours = (int8_dir / "model_data.cc").read_text()
    result = {"tflite_bytes": len(blob), "tinykd_decl": next(ln for ln in ours.splitlines() if "tinykd_model_data[]" in ln),
              "tinykd_bytes_equal": parse_model_array(ours) == blob,
              "tinykd_source_bytes": len(ours.encode())}
    xxd = shutil.which("xxd")
    if xxd is None:
        result["xxd"] = "xxd not installed"
        return result
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(tflite, Path(tmp) / "model_int8.tflite")
        text = subprocess.run([xxd, "-i", "model_int8.tflite"], cwd=tmp, capture_output=True, text=True, check=True).stdout
    decl = next(ln for ln in text.splitlines() if "[]" in ln)
    values = re.findall(r"0x([0-9a-f]{2})", text.split("{", 1)[1].split("}", 1)[0])
    result.update({
        "xxd_decl": decl,
        "xxd_len_decl": next(ln for ln in text.splitlines() if "_len" in ln).strip(),
        "xxd_bytes_equal": bytes(int(v, 16) for v in values) == blob,
        "xxd_source_bytes": len(text.encode()),
        "xxd_const": decl.lstrip().startswith("const") or " const " in decl,
        "xxd_aligned": "alignas" in decl or "aligned" in decl,
        "tinykd_const": " const " in f" {result['tinykd_decl']} ",
        "tinykd_aligned": "alignas(16)" in result["tinykd_decl"],
    })
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fsdd", type=Path, default=Path(os.environ.get("TINYKD_FSDD", REPO.parent / "shared" / "data" / "fsdd")))
    ap.add_argument("--presets", default="wav2tiny,wav2small,wav2tiny-paper,wav2small-paper",
                    help="comma-separated presets; PRESET+float-head also quantizes with --float-head")
    ap.add_argument("--run", action="append", default=[], help="PRESET=RUN_DIR: use a distilled run for that preset")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--train-clips", type=int, default=0, help="train on a random subset (0 = all)")
    ap.add_argument("--representative-size", type=int, default=200)
    ap.add_argument("--max-test-clips", type=int, default=0)
    ap.add_argument("--work", type=Path, default=None, help="where trained runs and int8 folders go (default: a temp dir)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    if not (args.fsdd / "recordings").is_dir():
        print(f"FSDD not found at {args.fsdd}; nothing to measure", file=sys.stderr)
        return 1
    from tinykd.quantize import QuantizeConfig, quantize_run

    runs = dict(item.split("=", 1) for item in args.run)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_quantize_"))
    work.mkdir(parents=True, exist_ok=True)
    rows, side = [], None
    trained: dict[str, Path] = {}
    for entry in [p.strip() for p in args.presets.split(",") if p.strip()]:
        # "PRESET+float-head" quantizes the same run with the pooling head and classifier kept float.
        preset, _, variant = entry.partition("+")
        if variant not in ("", "float-head"):
            print(f"unknown variant {variant!r} in {entry!r} (known: float-head)", file=sys.stderr)
            return 2
        t0 = time.perf_counter()
        if preset in runs:
            run = Path(runs[preset])
        else:
            run = trained.get(preset) or train_run(preset, args.fsdd, work, args.epochs, args.train_clips, args.seed)
            trained[preset] = run
        cfg = QuantizeConfig(representative_size=args.representative_size, max_test_clips=args.max_test_clips,
                             seed=args.seed, float_head=variant == "float-head")
        result = quantize_run(run, args.fsdd, work / f"int8_{entry}", cfg)
        rep = result.report
        acc = rep["accuracy"]
        fe = rep["frontend"]
        row = {
            "preset": entry,
            "run": str(run),
            "trained_here": preset not in runs,
            "kind": rep["kind"],
            "params": rep["model"]["params"],
            "flatbuffer_bytes": rep["deployment"]["flatbuffer_bytes"],
            "frontend_bytes": fe.get("bytes", 0),
            "flatbuffer_target": TARGET_FLATBUFFER.get(preset.split("-")[0]),
            "arena_measured_bytes": rep["arena"]["measured_bytes"],
            "arena_emitted_bytes": rep["arena"]["bytes"],
            "macs": rep["macs"]["total"],
            "float_macs_share": fe.get("float_macs_share", 0.0),
            "float_ops": fe.get("float_ops", []),
            "n_test": acc["n_test"],
            "float_acc": 100 * acc["float_accuracy"],
            "int8_acc": 100 * acc["int8_tflm_accuracy"],
            "drop_points": 100 * acc["drop"],
            "agreement": 100 * acc["agreement_float_tflm"],
            "litert_tflm_agreement": 100 * acc["agreement_litert_tflm"],
            "tflm_ms": rep["timing"]["tflm_invoke_ms_mean"] + rep["timing"].get("frontend_ms_per_window", 0.0),
            "fits": [b for b, v in rep["boards"].items() if v["fits"] and v.get("builds", True)],
            "seconds": round(time.perf_counter() - t0, 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        if side is None:
            side = xxd_side_by_side(result.out_dir)

    print()
    head = f"{'preset':<16} {'kind':<8} {'params':>7} {'deploy B':>9} {'target':>6} {'arena B':>8} {'MACs':>10} " \
           f"{'float %':>8} {'int8 %':>7} {'drop':>6} {'agree %':>8} {'TFLM ms':>8}  boards"
    print(head)
    print("-" * len(head))
    for r in rows:
        target = "" if r["flatbuffer_target"] is None else ("ok" if r["flatbuffer_bytes"] <= r["flatbuffer_target"] else "OVER")
        print(f"{r['preset']:<16} {r['kind']:<8} {r['params']:>7} {r['flatbuffer_bytes']:>9} {target:>6} "
              f"{r['arena_measured_bytes']:>8} {r['macs']:>10,} {r['float_acc']:>8.2f} {r['int8_acc']:>7.2f} "
              f"{r['drop_points']:>6.2f} {r['agreement']:>8.2f} {r['tflm_ms']:>8.1f}  {','.join(r['fits']) or '-'}")
    print("\nTargets: agreement >= 99 %, drop <= 0.5 points; deployment (front end + body flatbuffers) wav2tiny <= 32768 B, "
          "wav2small <= 131072 B. 'trained here' runs: plain CE, few epochs (see --run for distilled runs). TFLM ms: "
          "one window on this host (front end over the window's frames + body), reference kernels.")
    if side:
        print("\nC array, same .tflite:")
        print(f"  tinykd : {side['tinykd_decl'].strip()}  (const={side.get('tinykd_const')}, "
              f"aligned={side.get('tinykd_aligned')}, bytes equal={side['tinykd_bytes_equal']}, source {side['tinykd_source_bytes']} B)")
        if "xxd_decl" in side:
            print(f"  xxd -i : {side['xxd_decl'].strip()}  {side['xxd_len_decl']}  (const={side['xxd_const']}, "
                  f"aligned={side['xxd_aligned']}, bytes equal={side['xxd_bytes_equal']}, source {side['xxd_source_bytes']} B)")
        print(f"  flatbuffer {side['tflite_bytes']} B in both")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "c_array": side}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
