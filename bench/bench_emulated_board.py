"""The deployable students on the emulated Cortex-M4F (QEMU mps2-an386, real TFLM, Nano 33 BLE budget).

    .venv/bin/python bench/bench_emulated_board.py [--run RUN ...] [--presets wav2tiny,wav2small]
        [--data ../shared/data/fsdd] [--clips 0] [--stream-seconds 4] [--skip-reference] [--json OUT]

Each model is an int8 signal deployment (tinykd's Signal-op front end + the int8 body) as `tinykd quantize`
writes it: `--run RUN` takes quantized runs (RUN/int8/, e.g. students distilled on FSDD); without one, the
`--presets` are built untrained and quantized on tinykd's synthetic data (sizes, instructions and board/host
parity do not depend on the weights; accuracy then means nothing and is not printed). For each model and
kernel set (CMSIS-NN, and TFLM's reference kernels unless --skip-reference):
- the linked ELF's flash and RAM by part (arm-none-eabi size/nm and the link map);
- the arena the board reports (both models sharing one arena, and each alone);
- `tinykd verify` against the board (the same library call): clips of the run's test split (FSDD, or the
  synthetic set), agreement and score parity with the host's TFLM, board accuracy against the labels;
- instructions per front-end hop and per body window (QEMU -icount shift=0: the board's timer counts
  virtual nanoseconds = instructions), and the ms they imply at the Nano 33 BLE's 64 MHz taking one
  instruction per cycle (a lower bound: loads, multiply-accumulates and taken branches take more);
- stream mode: audio in AUDIO frames, the share of a 64 MHz CPU it keeps busy, and how fast QEMU ran it
  against the audio's duration on this machine.
Needs the vendored TFLM trees (../shared/vendor), arm-none-eabi-gcc and qemu-system-arm. The first run
compiles TFLM (minutes); later ones reuse TINYKD_CACHE.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(var, "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from tinykd.device.model import load_device_model  # noqa: E402
from tinykd.device.qemu import EmulatedBoard, stream_audio  # noqa: E402
from tinykd.device.qemu.launch import build_for  # noqa: E402
from tinykd.device.verify import VerifyOptions, load_clips, verify_clips  # noqa: E402

MHZ = 64.0
FSDD = Path(os.environ.get("TINYKD_FSDD", REPO.parent / "shared" / "data" / "fsdd"))


def untrained_run(preset: str, work: Path) -> tuple[Path, Path]:
    """(run folder, data folder): `preset` untrained, quantized by tinykd.quantize on synthetic 16 kHz data."""
    import keras

    from tinykd.configio import save_json, to_dict
    from tinykd.data import DataConfig
    from tinykd.data.synth import SynthConfig, synthesize
    from tinykd.quantize import QuantizeConfig, quantize_run
    from tinykd.students import build_student, load_student_config

    data = work / "synth16k"
    if not data.is_dir():
        synthesize(data, SynthConfig(n_classes=8, clips_per_class=12, n_speakers=3, sample_rate=16000))
    student = load_student_config(preset)
    cfg = DataConfig(sample_rate=16000, clip_seconds=student.clip_seconds)
    labels = sorted(p.name for p in data.iterdir() if p.is_dir())
    keras.utils.set_random_seed(0)
    run = work / f"run_{preset}"
    run.mkdir(parents=True, exist_ok=True)
    build_student(student, len(labels), cfg.clip_samples).save(run / "model.keras")
    save_json(run / "labels.json", labels)
    save_json(run / "config.json", {"student": student.to_dict(), "data": to_dict(cfg),
                                    "note": "bench_emulated_board: untrained (sizes and parity only)"})
    quantize_run(run, data, None, QuantizeConfig(representative_size=32), show_progress=False)
    return run, data


def measure(name: str, run: Path, data: Path, kernels: str, n_clips: int, stream_seconds: float,
            trained: bool) -> dict:
    t0 = time.monotonic()
    build = build_for(run, "qemu-nano33ble", kernels=kernels, mode="verify")
    model = load_device_model(run)
    clips = load_clips(model, data, "test", n_clips or None)
    row = {"model": name, "kernels": kernels, "trained": trained, "flash_bytes": build.sizes.flash_bytes,
           "ram_bytes": build.sizes.ram_bytes, "flash_by_part": build.sizes.flash_by_part,
           "ram_by_part": build.sizes.ram_by_part, "kind": build.kind, "build_s": round(time.monotonic() - t0, 1)}
    with EmulatedBoard(build) as board:
        h = board.hello
        row.update(arena_bytes=h.arena_bytes, arena_used=h.extra_int("arena_used"), arena_fe=h.extra_int("arena_fe"),
                   arena_body=h.extra_int("arena_body"),
                   instruction_check=h.extra_int("cal_ticks") * h.extra_int("ns_per_tick") / h.extra_int("cal_ins"))
        t0 = time.monotonic()
        report = verify_clips(board.port, model, clips, VerifyOptions(answer_timeout=60))
        row.update(verify_s=round(time.monotonic() - t0, 1), n_clips=report.answered, agreement=report.agreement,
                   score_parity=report.score_parity, board_accuracy=report.board_accuracy if trained else None,
                   host_accuracy=report.host_accuracy if trained else None, verify_passed=report.passed,
                   verify_error=report.error, verify_failures=report.failures[:5],
                   fe_ins_per_hop=report.latency.get("fe_ins_per_hop", {}).get("mean"),
                   body_ins=report.latency.get("inf_ins", {}).get("mean"))
        # Stream: the clips end to end (repeated to stream_seconds), through AUDIO frames.
        need = int(stream_seconds * h.sample_rate)
        pcm = np.resize(clips.pcm.reshape(-1), need).astype(np.int16)
        t0 = time.monotonic()
        run_ = stream_audio(board.port, pcm, answer_timeout=60)
        wall = time.monotonic() - t0
    audio_s = len(pcm) / h.sample_rate
    ins = sum(r.extra.get("fe_ins", 0) + r.extra["inf_ins"] for r in run_.results)
    fe = row["fe_ins_per_hop"] or 0.0
    body = row["body_ins"] or 0.0
    every = max(1, h.extra_int("every", 1))
    budget = MHZ * 1e6 * h.hop / h.sample_rate  # instructions a 64 MHz CPU has per hop, at one per cycle
    row.update(stream_results=len(run_.results), stream_complete=run_.complete, stream_audio_s=audio_s,
               stream_wall_s=round(wall, 1), stream_cpu_share_64mhz=ins / (MHZ * 1e6) / audio_s,
               steady_share_64mhz=(fe + body / every) / budget, qemu_speed_vs_audio=audio_s / wall,
               every=every, hop=h.hop)
    return row


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f} %"


def table(rows: list[dict]) -> str:
    out = ["| model | kernels | flash B | RAM B | arena used (fe / body alone) | verify: clips, agreement, parity | "
           "board accuracy | front end / hop | body / window | 64 MHz steady state (real time if < 100 %) | "
           "stream run: 64 MHz CPU busy | QEMU vs real time |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fe = (f"{r['fe_ins_per_hop'] / 1e3:,.0f} K ins = {r['fe_ins_per_hop'] / (MHZ * 1e3):.2f} ms"
              if r["fe_ins_per_hop"] else "-")
        body = (f"{r['body_ins'] / 1e6:,.2f} M ins = {r['body_ins'] / (MHZ * 1e3):.1f} ms" if r["body_ins"] else "-")
        out.append(f"| {r['model']} | {r['kernels']} | {r['flash_bytes']:,} | {r['ram_bytes']:,} | "
                   f"{r['arena_used']:,} ({r['arena_fe']:,} / {r['arena_body']:,}) | "
                   f"{r['n_clips']}, {_pct(r['agreement'])}, {_pct(r['score_parity'])} | "
                   f"{_pct(r['board_accuracy'])} (host {_pct(r['host_accuracy'])}) | {fe} | {body} | "
                   f"{100 * r['steady_share_64mhz']:.0f} % | "
                   f"{100 * r['stream_cpu_share_64mhz']:.1f} % ({r['stream_results']} windows, hop {r['hop']}, "
                   f"body every {r['every']}) | {r['qemu_speed_vs_audio']:.2f}x |")
    return "\n".join(out)


def parts_table(rows: list[dict]) -> str:
    head = " | ".join(f"{r['model']} {r['kernels']}" for r in rows)
    out = [f"| flash by part | {head} |", "|---|" + "---|" * len(rows)]
    for p in sorted({p for r in rows for p in r["flash_by_part"]}):
        out.append(f"| {p} | " + " | ".join(f"{r['flash_by_part'].get(p, 0):,}" for r in rows) + " |")
    out += ["", f"| RAM by part | {head} |", "|---|" + "---|" * len(rows)]
    for p in sorted({p for r in rows for p in r["ram_by_part"]}):
        out.append(f"| {p} | " + " | ".join(f"{r['ram_by_part'].get(p, 0):,}" for r in rows) + " |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="append", type=Path, default=[],
                    help="a quantized run (RUN/int8/); repeatable. Default: the --presets, untrained")
    ap.add_argument("--presets", default="wav2tiny,wav2small", help="deployable presets measured untrained (no --run)")
    ap.add_argument("--data", type=Path, default=None,
                    help="data the --run clips come from (default: the run's own; FSDD at ../shared/data/fsdd)")
    ap.add_argument("--clips", type=int, default=0, help="verify clips per model (0: the whole test split)")
    ap.add_argument("--stream-seconds", type=float, default=4.0)
    ap.add_argument("--skip-reference", action="store_true", help="CMSIS-NN only (no reference-kernel build)")
    ap.add_argument("--kernels", default="cmsis-nn,reference", help="kernel sets to build, comma-separated")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    kernels = [k for k in args.kernels.split(",") if k and not (args.skip_reference and k == "reference")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="tinykd-bench-") as tmp:
        models: list[tuple[str, Path, Path, bool]] = []
        for run in args.run:
            data = args.data or FSDD
            models.append((run.name, run, data, True))
        if not args.run:
            for preset in [p for p in args.presets.split(",") if p]:
                run, data = untrained_run(preset, Path(tmp))
                models.append((f"{preset} (untrained)", run, data, False))
        for name, run, data, trained in models:
            for k in kernels:
                row = measure(name, run, data, k, args.clips, args.stream_seconds, trained)
                rows.append(row)
                print(json.dumps({k_: v for k_, v in row.items() if not k_.endswith("_by_part")}), flush=True)
    print("\nEmulated board qemu-nano33ble (QEMU mps2-an386 Cortex-M4F, -icount shift=0; budget 1 MB flash / 256 KB RAM)")
    print(f"instructions -> ms at {MHZ:.0f} MHz assume 1 instruction per cycle (a lower bound)\n")
    print(table(rows))
    print()
    print(parts_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if all(r["verify_passed"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
