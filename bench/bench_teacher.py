"""Teacher benchmark: what running the teacher online at every distillation step costs against reading its
soft labels from the cache, measured for a wav2vec2-base-sized teacher (the research setting) and for tinykd's
tiny one, side by side in one run; plus each teacher's export throughput and the process's peak memory.

    OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \
    .venv/bin/python bench/bench_teacher.py [--data ../shared/data/fsdd] [--teachers base,tiny] [--threads 1]

Teachers are built from their configurations with random weights; nothing is downloaded. `base` is
transformers' `Wav2Vec2Config()` defaults, the architecture of facebook/wav2vec2-base (7 conv layers of 512
channels, 12 transformer layers of 768, about 95 M parameters) with a classification head; `tiny` is tinykd's
`--base tiny`. A forward pass costs the same whatever the weights are, so an untrained teacher times what a
trained one would. `--teacher DIR` adds a trained teacher folder (repeatable).

Without --data a built-in synthetic set is generated (8 classes x --clips-per-class clips, 1 s at 16 kHz).
For each teacher: its soft labels are exported for every clip (logits + attention rollout, as `tinykd teacher
export` does), then one distillation epoch over the train split (or --max-batches batches) is run with the
teacher's logits read from that cache and one with the teacher run online at every step (as the reference
research code does). Both run the same Keras step of `build_student(--student)` with the KD loss of
`tinykd.distill.loss` (alpha 0.5, T 2) over the same batches; only the source of the teacher logits differs.
The modes are alternated --repeats times (a busy shared machine slows both alike) and each mode's fastest epoch
is reported. Peak memory is the process's resident set (VmHWM, reset before each phase through
/proc/self/clear_refs), so it includes TensorFlow, torch and the student; the RSS at the phase's start is
printed beside it. Prints a table; every figure is measured in this run.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

BUILT_IN = ("base", "tiny")


def _status_kib(key: str) -> int | None:
    """A VmRSS/VmHWM line of /proc/self/status in KiB (None where there is no such file: not Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakRss:
    """Peak resident memory of this process during a phase: VmHWM reset to the current RSS at the start.

    Entered once per repeat of a phase: start_mb is the RSS when it was first entered, peak_mb the highest peak.
    """

    def __init__(self) -> None:
        self.start_mb: float | None = None
        self.peak_mb: float | None = None

    def __enter__(self) -> Self:
        gc.collect()
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                fh.write("5")  # Linux >= 4.0: resets the peak RSS (VmHWM) to the current RSS
            self._reset = True
        except OSError:
            self._reset = False
        rss = _status_kib("VmRSS")
        if self.start_mb is None and rss is not None:
            self.start_mb = rss / 1024
        return self

    def __exit__(self, *exc) -> None:
        hwm = _status_kib("VmHWM")
        if self._reset and hwm is not None:
            self.peak_mb = max(self.peak_mb or 0.0, hwm / 1024)


@dataclass
class TeacherRun:
    name: str
    path: Path
    n_params: int = 0
    frames: int | None = None
    export_clips: int = 0
    export_s: float = 0.0
    export_cps: float | None = None
    export_mem: PeakRss = field(default_factory=PeakRss)
    cached: list[tuple[float, float]] = field(default_factory=list)  # (epoch s, teacher-lookup s)
    online: list[tuple[float, float]] = field(default_factory=list)  # (epoch s, teacher-forward s)
    cached_mem: PeakRss = field(default_factory=PeakRss)
    online_mem: PeakRss = field(default_factory=PeakRss)


def build_teacher(kind: str, labels: list[str], sample_rate: int, out: Path) -> Path:
    """Save a randomly initialised teacher of `kind` (base | tiny) as a teacher folder; nothing is downloaded."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2ForSequenceClassification

    from tinykd.teacher.config import TinyTeacherSize
    from tinykd.teacher.model import (
        default_feature_extractor,
        label_kwargs,
        tiny_config,
    )

    torch.manual_seed(0)
    config = Wav2Vec2Config(**label_kwargs(labels)) if kind == "base" else tiny_config(TinyTeacherSize(), labels)
    model = Wav2Vec2ForSequenceClassification(config)
    model.save_pretrained(out)  # safetensors
    default_feature_extractor(sample_rate).save_pretrained(out)
    del model
    gc.collect()
    return out


def _rise(mem: PeakRss) -> str:
    """'start -> peak MB' of a phase."""
    if mem.start_mb is None or mem.peak_mb is None:
        return "n/a"
    return f"{mem.start_mb:,.0f} -> {mem.peak_mb:,.0f} MB"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=None, help="data set folder (default: generated synthetic set)")
    ap.add_argument("--clips-per-class", type=int, default=40, help="synthetic set size per class (default 40; 8 classes)")
    ap.add_argument("--teachers", default="base,tiny", help="built-in teachers, comma-separated: base, tiny (default base,tiny; '' for none)")
    ap.add_argument("--teacher", type=Path, action="append", default=[], help="also a trained teacher folder (repeatable)")
    ap.add_argument("--student", default="wav2tiny", help="student preset (default wav2tiny)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-batches", type=int, default=0, help="cap the distillation epoch at this many batches (0: whole train split)")
    ap.add_argument("--repeats", type=int, default=2, help="epochs per mode and teacher, alternated; the fastest is reported (default 2)")
    ap.add_argument("--threads", type=int, default=1, help="torch and TF threads (default 1: the machine is shared)")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder, kept (default: a temporary folder, removed)")
    args = ap.parse_args(argv)

    kinds = [k.strip() for k in args.teachers.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in BUILT_IN]
    if unknown:
        ap.error(f"--teachers: unknown {', '.join(unknown)}; use {', '.join(BUILT_IN)}")
    if not kinds and not args.teacher:
        ap.error("no teacher: give --teachers and/or --teacher DIR")
    if args.batch_size < 1 or args.repeats < 1 or args.clips_per_class < 1:
        ap.error("--batch-size, --repeats and --clips-per-class must be >= 1")

    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(args.threads))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(args.threads))
    import tinykd  # noqa: F401  (before keras imports TensorFlow: it silences TensorFlow's start-up notices)
    from tinykd.errors import TinykdError

    try:
        if args.work is not None:
            args.work.mkdir(parents=True, exist_ok=True)
            return run(args, kinds, args.work)
        with tempfile.TemporaryDirectory(prefix="bench_teacher_") as tmp:
            return run(args, kinds, Path(tmp))
    except TinykdError as exc:  # a --data or --teacher folder that does not fit: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, kinds: list[str], work: Path) -> int:
    import keras
    import numpy as np
    import tensorflow as tf
    import torch
    from rich.console import Console
    from rich.table import Table
    from transformers.utils import logging as hf_logging

    from tinykd.data import DataConfig, load_dataset
    from tinykd.distill.loss import distillation_loss
    from tinykd.students import build_student
    from tinykd.teacher.cache import SoftLabelCache
    from tinykd.teacher.export import ExportConfig, export_dataset
    from tinykd.teacher.model import load_teacher, model_inputs

    hf_logging.disable_progress_bar()  # save_pretrained's shard bar would break the table's log
    torch.set_num_threads(args.threads)
    console = Console()
    data_root = args.data
    if data_root is None:
        from tinykd.data.synth import SynthConfig, synthesize

        data_root = work / "synth"
        synthesize(data_root, SynthConfig(n_classes=8, clips_per_class=args.clips_per_class, n_speakers=4, seed=0))
    ds = load_dataset(data_root, DataConfig())
    train = ds.load_split("train")
    n_batches = -(-len(train.y) // args.batch_size)
    if args.max_batches:
        n_batches = min(n_batches, args.max_batches)
    batches = [np.arange(b * args.batch_size, min(len(train.y), (b + 1) * args.batch_size)) for b in range(n_batches)]
    n_clips = sum(len(b) for b in batches)

    runs = [TeacherRun(kind, build_teacher(kind, list(ds.labels), ds.sample_rate, work / f"teacher-{kind}")) for kind in kinds]
    runs += [TeacherRun(str(path), path) for path in args.teacher]

    # 1. Export: every clip once through each teacher (logits + rollout), into its own cache.
    caches = {}
    for tr in runs:
        with tr.export_mem:
            res = export_dataset(ds, tr.path, work / f"cache-{len(caches)}",
                                 ExportConfig(batch_size=args.batch_size, threads=args.threads, device="cpu", overwrite=True),
                                 progress=False, log=lambda s: None)
        cache = SoftLabelCache.open(res.cache_dir)
        cache.check(ds)
        caches[tr.name] = cache
        tr.export_clips, tr.export_s, tr.export_cps, tr.frames = res.n_clips, res.seconds, res.clips_per_second, cache.teacher_frames

    # 2. Distillation epochs, cached vs online, per teacher.
    student = build_student(args.student, len(ds.labels), ds.clip_samples)
    optimizer = keras.optimizers.Adam(1e-3)

    @tf.function
    def step(x, y, teacher_logits):
        with tf.GradientTape() as tape:
            logits = student(x, training=True)
            loss = distillation_loss(y, logits, teacher_logits, alpha=0.5, temperature=2.0).total
        grads = tape.gradient(loss, student.trainable_variables)
        optimizer.apply_gradients(zip(grads, student.trainable_variables))
        return loss

    first = batches[0]
    step(train.x[first], train.y[first], caches[runs[0].name].logits([train.hashes[i] for i in first]))  # trace once, untimed
    device = torch.device("cpu")

    def epoch(teacher_logits) -> tuple[float, float]:
        teacher_s = 0.0
        t0 = time.perf_counter()
        for idx in batches:
            xb, yb = train.x[idx], train.y[idx]
            t1 = time.perf_counter()
            tl = teacher_logits(idx, xb)
            teacher_s += time.perf_counter() - t1
            step(xb, yb, tl)
        return time.perf_counter() - t0, teacher_s

    # Alternate cached and online for every teacher, repeat after repeat. The teacher is loaded only for its
    # online epoch (load time not counted), so a cached epoch's memory is the student's alone.
    for _ in range(args.repeats):
        for tr in runs:
            with tr.cached_mem:
                tr.cached.append(epoch(lambda idx, xb, cache=caches[tr.name]: cache.logits([train.hashes[i] for i in idx])))
            with tr.online_mem:
                teacher, fe = load_teacher(tr.path, attentions=False)
                tr.n_params = sum(p.numel() for p in teacher.parameters())

                def online(idx, xb, teacher=teacher, fe=fe):
                    with torch.inference_mode():
                        return teacher(**model_inputs(fe, xb, ds.sample_rate, device)).logits.float().numpy()

                tr.online.append(epoch(online))
                del teacher, fe, online

    table = Table(title=f"teacher cost, cached vs online ({len(ds.clips)} clips, epoch of {n_clips}, {args.threads} thread(s))")
    table.add_column("measure")
    for tr in runs:
        table.add_column(tr.name if tr.name in BUILT_IN else Path(tr.name).name, justify="right")

    def row(label: str, cell) -> None:
        table.add_row(label, *[cell(tr) for tr in runs])

    def ratio(tr: TeacherRun) -> float:
        return min(tr.online)[0] / min(tr.cached)[0]

    row("parameters", lambda tr: f"{tr.n_params / 1e6:.2f} M")
    row("frames per clip", lambda tr: str(tr.frames))
    row("export, clips/s", lambda tr: f"{tr.export_cps:.1f}" if tr.export_cps else "n/a")
    row("export, s (all clips)", lambda tr: f"{tr.export_s:.1f} ({tr.export_clips})")
    row("export, RSS start -> peak", lambda tr: _rise(tr.export_mem))
    row("distill epoch, cached, s", lambda tr: f"{min(tr.cached)[0]:.2f}")
    row("distill epoch, online, s", lambda tr: f"{min(tr.online)[0]:.2f}")
    row("online / cached", lambda tr: f"{ratio(tr):.2f}x")
    row("teacher forward per epoch, s", lambda tr: f"{min(t for _, t in tr.online):.2f}")
    row("teacher forward, ms/clip", lambda tr: f"{min(t for _, t in tr.online) / n_clips * 1000:.1f}")
    row("cache lookups per epoch, s", lambda tr: f"{min(t for _, t in tr.cached):.3f}")
    row("distill, cached, RSS", lambda tr: _rise(tr.cached_mem))
    row("distill, online, RSS", lambda tr: _rise(tr.online_mem))

    def pays(tr: TeacherRun) -> str:
        saved = min(t for _, t in tr.online) - min(t for _, t in tr.cached)
        return f"{tr.export_s / saved:.1f} epochs" if saved > 0 else "never"

    row("export pays for itself after", pays)
    console.print(f"data: {data_root}; student {args.student} ({student.count_params():,} params); batch {args.batch_size}; "
                  f"fastest of {args.repeats} alternated epoch(s) per mode; RSS: this process's resident memory at "
                  "the phase's start -> its peak in the phase (TensorFlow, torch and the student included)")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
