"""The `tinykd` command line: parses arguments, calls the library, prints results.

No logic lives here: every command is a library function a notebook can call. Commands are
registered in pipeline order, which is the order `tinykd --help` lists them in.
Errors the user can fix are `TinykdError`s and print as one line (`error: ...`, exit status 2).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
import typer.core
from rich.console import Console

from tinykd import __version__
from tinykd.errors import TinykdError

console = Console()
err_console = Console(stderr=True)

# The pipeline's order, which `tinykd --help` follows (Typer would list sub-groups after plain commands).
PIPELINE_ORDER = ["data", "teacher", "models", "distill", "sweep", "evaluate", "quantize", "export",
                  "boards", "flash", "monitor", "verify", "sim", "demo"]


class _PipelineOrderGroup(typer.core.TyperGroup):
    def list_commands(self, ctx):
        names = list(self.commands)
        rank = {name: i for i, name in enumerate(PIPELINE_ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(rank)), names.index(n)))


app = typer.Typer(
    name="tinykd",
    cls=_PipelineOrderGroup,
    help=(
        "Distil a large PyTorch audio model into a tiny Keras student and run it int8 on a "
        "microcontroller.\n\nPipeline, in order: data -> teacher -> distill/sweep/evaluate -> "
        "quantize -> export -> flash/monitor/verify (sim: a virtual board)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"tinykd {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """tinykd: teacher -> student -> int8 -> microcontroller."""


# ---------------------------------------------------------------------------------------------
# data  (tinykd.data)
# ---------------------------------------------------------------------------------------------
data_app = typer.Typer(help="Datasets: inspect a folder of audio, generate the built-in data.", no_args_is_help=True)
app.add_typer(data_app, name="data")

# [data commands]
@data_app.command("info")
def data_info(
    data_dir: Path = typer.Argument(..., help="Data set folder, or a .csv manifest (path,label[,speaker][,split])."),
    format: str = typer.Option("auto", "--format", help="Layout: auto, tess, fsdd, folder or csv. auto: a CSV manifest, else FSDD or TESS file names (90 % must match), else folder-per-class."),
    split: str = typer.Option("auto", "--split", help="auto (the data set's own split, e.g. FSDD index 0-4 = test, else stratified random), random, or speaker:NAME (that speaker is the test set)."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", help="Share of the training pool held out as validation (stratified)."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", help="Share held out as test by a random split."),
    seed: int = typer.Option(0, "--seed", help="Seed for random splits."),
    sample_rate: Optional[int] = typer.Option(None, "--sample-rate", help="Rate clips are resampled to (Hz). Default: the front end's (FrontEndSpec.sample_rate, 16000)."),
    clip_seconds: float = typer.Option(1.0, "--clip-seconds", help="Length every clip is padded or cropped to (s)."),
    pad: str = typer.Option("center", "--pad", help="Where a short clip sits in the window (center, start, end); a long one keeps that part."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad file instead of listing it and going on."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the summary as JSON to this file."),
) -> None:
    """Scan a data set and print counts per class, speaker and split, sample rates, durations and every problem file.

    Every file is decoded and checked (corrupt, truncated, empty, zero-length, NaN/inf, duplicates) and resampled and padded exactly as training will see it. Bad files are listed and skipped unless --strict.
    """
    from tinykd.configio import save_json
    from tinykd.data import DataConfig, load_dataset
    from tinykd.data.info import problem_lines, summarize, summary_tables

    rate = {} if sample_rate is None else {"sample_rate": sample_rate}
    cfg = DataConfig(format=format, split=split, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                     clip_seconds=clip_seconds, pad=pad, strict=strict, **rate)
    ds = load_dataset(data_dir, cfg, progress=True, keep_audio=False)
    summary = summarize(ds)
    for table in summary_tables(summary):
        console.print(table)
    for line in problem_lines(summary):
        console.print(line, soft_wrap=True, highlight=False, markup=False)
    if json_out is not None:
        save_json(json_out, summary)
        console.print(f"summary written to {json_out}", soft_wrap=True, highlight=False)


@data_app.command("synth")
def data_synth(
    out_dir: Path = typer.Argument(..., help="Output folder (new or empty, or an earlier synthetic set, which is replaced)."),
    classes: int = typer.Option(8, "--classes", help="Number of classes (1-24)."),
    clips_per_class: int = typer.Option(60, "--clips-per-class", help="Clips per class."),
    speakers: int = typer.Option(4, "--speakers", help="Number of synthetic speakers (base pitch and vocal-tract size)."),
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed and options give the same files bit for bit."),
    sample_rate: int = typer.Option(16000, "--sample-rate", help="Sample rate of the written WAVs (Hz)."),
    clip_seconds: float = typer.Option(1.0, "--clip-seconds", help="Length of every clip (s)."),
    variation: float = typer.Option(1.0, "--variation", help="Scale of the random variation (0: no variation; higher: harder)."),
) -> None:
    """Generate the built-in speech-like data set: OUT/<class>/<speaker>_<class>_<i>.wav, OUT/synth.json, OUT/README.md.

    Source-filter voices whose classes differ by pitch contour, syllable rate and vowel, with overlapping spreads, speaker differences and background noise (see docs/data.md). Deterministic (same seed, same files) and fast.
    """
    from tinykd.data.synth import SynthConfig, synthesize

    cfg = SynthConfig(n_classes=classes, clips_per_class=clips_per_class, n_speakers=speakers, seed=seed,
                      sample_rate=sample_rate, clip_seconds=clip_seconds, variation=variation)
    meta = synthesize(out_dir, cfg, progress=True)
    console.print(f"wrote {meta['n_files']} clips ({len(meta['classes'])} classes x {clips_per_class}, "
                  f"{len(meta['speakers'])} speakers) to {out_dir}", soft_wrap=True, highlight=False)
    console.print(f"next: tinykd data info {out_dir}", soft_wrap=True, highlight=False)


# ---------------------------------------------------------------------------------------------
# teacher  (tinykd.teacher)
# ---------------------------------------------------------------------------------------------
teacher_app = typer.Typer(
    help="Teacher (PyTorch, needs the `teacher` extra): fine-tune a Wav2Vec2 classifier, export soft labels.",
    no_args_is_help=True,
)
app.add_typer(teacher_app, name="teacher")

# [teacher commands]
def _teacher_data_config(fmt: str, split: str, sample_rate: Optional[int], clip_seconds: float, seed: int,
                         teacher: Optional[Path] = None):
    """The data config of a teacher command; no --sample-rate means the rate `teacher` was trained at."""
    from tinykd.data import DataConfig

    if sample_rate is None:
        from tinykd.teacher.model import teacher_sample_rate

        sample_rate = teacher_sample_rate(teacher)
    return DataConfig(format=fmt, split=split, sample_rate=sample_rate, clip_seconds=clip_seconds, seed=seed)


_DATA_HELP = "Data set folder (any layout tinykd.data reads: FSDD, TESS, folder-per-class, CSV)."
_FORMAT_OPT = typer.Option("auto", "--format", help="Data set layout: auto, tess, fsdd, folder or csv.")
_SPLIT_OPT = typer.Option(
    "auto", "--split", help="auto (the data set's own split, else stratified random), random, or speaker:NAME (NAME held out as test)."
)
_RATE_OPT = typer.Option(16000, "--sample-rate", help="Rate every clip is resampled to, in Hz (the teacher's input rate).")
_TEACHER_RATE_OPT = typer.Option(
    None, "--sample-rate", help="Rate every clip is resampled to, in Hz. Default: the rate the teacher was trained at."
)
_CLIP_OPT = typer.Option(1.0, "--clip-seconds", help="Clip length in seconds (short clips are padded, long ones cut).")
_DATA_SEED_OPT = typer.Option(0, "--data-seed", help="Seed of the train/val/test assignment.")


@teacher_app.command("train")
def teacher_train(
    data: Path = typer.Argument(..., help=_DATA_HELP),
    base: str = typer.Option(
        "tiny", "--base", help="Model to fine-tune: a hub id (e.g. facebook/wav2vec2-base; needs a network or the hub cache), "
        "a local save_pretrained directory (safetensors weights), or `tiny` (a small Wav2Vec2 from scratch)."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder: model (save_pretrained), labels.json, tinykd_teacher.json, train_metrics.json."),
    epochs: int = typer.Option(30, "--epochs", help="Training epochs."),
    batch_size: int = typer.Option(32, "--batch-size", help="Clips per batch."),
    grad_accum: int = typer.Option(1, "--grad-accum", help="Batches whose gradients are summed per optimizer step."),
    lr: float = typer.Option(3e-4, "--lr", help="Peak AdamW learning rate."),
    weight_decay: float = typer.Option(0.01, "--weight-decay", help="AdamW weight decay."),
    warmup: float = typer.Option(0.1, "--warmup", help="Fraction of optimizer steps of linear warm-up; then linear decay to 0."),
    freeze_feature_encoder: bool = typer.Option(
        False, "--freeze-feature-encoder/--train-feature-encoder", help="Freeze the convolutional feature encoder (usual for pretrained bases)."
    ),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Random shift, speed change and noise on training clips."),
    tiny: list[str] = typer.Option(
        [], "--tiny", help="Size override for `--base tiny`, KEY=VALUE, repeatable (e.g. --tiny hidden_size=64 --tiny conv_dim=32,32,64,64)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of initialisation, shuffling and augmentation."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, or auto (cuda when available)."),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch's default)."),
    fmt: str = _FORMAT_OPT,
    split: str = _SPLIT_OPT,
    sample_rate: int = _RATE_OPT,
    clip_seconds: float = _CLIP_OPT,
    data_seed: int = _DATA_SEED_OPT,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar per epoch."),
) -> None:
    """Fine-tune an audio classifier (Wav2Vec2) on DATA's training split; keeps the best checkpoint by val accuracy."""
    from tinykd.teacher.config import TeacherTrainConfig, TinyTeacherSize
    from tinykd.teacher.train import train_teacher

    cfg = TeacherTrainConfig(
        base=base, epochs=epochs, batch_size=batch_size, grad_accum=grad_accum, lr=lr, weight_decay=weight_decay,
        warmup_ratio=warmup, freeze_feature_encoder=freeze_feature_encoder, seed=seed, device=device, threads=threads,
        augment=augment, tiny=TinyTeacherSize().with_overrides(tiny),
    )
    data_cfg = _teacher_data_config(fmt, split, sample_rate, clip_seconds, data_seed)
    result = train_teacher(data, out, cfg, data_cfg, progress=progress, log=console.print)
    val = "n/a" if result.best_val_accuracy is None else f"{result.best_val_accuracy:.4f}"
    test = "n/a" if result.test_accuracy is None else f"{result.test_accuracy:.4f}"
    console.print(f"teacher saved to {out} (best epoch {result.best_epoch}, val accuracy {val}, test accuracy {test})")


@teacher_app.command("export")
def teacher_export(
    data: Path = typer.Argument(..., help=_DATA_HELP),
    teacher: Path = typer.Option(..., "--teacher", help="Teacher folder written by `tinykd teacher train` (or any save_pretrained audio classifier with labels.json)."),
    out: Path = typer.Option(..., "--out", help="Cache folder to write: meta.json + shard-*.safetensors. An unfinished export there is resumed."),
    batch_size: int = typer.Option(32, "--batch-size", help="Clips per teacher forward pass."),
    shard_size: int = typer.Option(512, "--shard-size", help="Clips per shard file (the unit an interrupted export resumes from)."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, or auto (cuda when available)."),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch's default)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a complete cache of another teacher or data set at --out."),
    fmt: str = _FORMAT_OPT,
    split: str = _SPLIT_OPT,
    sample_rate: Optional[int] = _TEACHER_RATE_OPT,
    clip_seconds: float = _CLIP_OPT,
    data_seed: int = _DATA_SEED_OPT,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Run the teacher over every clip of DATA and cache its logits and attention-rollout weights for distillation."""
    from tinykd.teacher.export import ExportConfig, export_cache

    if batch_size < 1 or shard_size < 1:
        raise TinykdError("--batch-size and --shard-size must be >= 1")
    cfg = ExportConfig(batch_size=batch_size, shard_size=shard_size, device=device, threads=threads, overwrite=overwrite)
    data_cfg = _teacher_data_config(fmt, split, sample_rate, clip_seconds, data_seed, teacher)
    result = export_cache(data, teacher, out, cfg, data_cfg, progress=progress, log=console.print)
    if result.already_complete:
        return
    speed = f", {result.clips_per_second:.1f} clips/s" if result.clips_per_second else ""
    console.print(
        f"cache written to {out}: {result.n_clips} clips in {result.n_shards} shard(s) "
        f"({result.shards_written} written, {result.shards_reused} kept from an earlier run{speed})"
    )


@teacher_app.command("evaluate")
def teacher_evaluate(
    data: Path = typer.Argument(..., help=_DATA_HELP),
    teacher: Path = typer.Option(..., "--teacher", help="Teacher folder written by `tinykd teacher train`."),
    on: str = typer.Option("test", "--on", help="Split to score: train, val or test."),
    batch_size: int = typer.Option(32, "--batch-size", help="Clips per forward pass."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, or auto (cuda when available)."),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch's default)."),
    fmt: str = _FORMAT_OPT,
    split: str = _SPLIT_OPT,
    sample_rate: Optional[int] = _TEACHER_RATE_OPT,
    clip_seconds: float = _CLIP_OPT,
    data_seed: int = _DATA_SEED_OPT,
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Score a teacher on one split of DATA: accuracy, loss and per-class accuracy."""
    import json as _json

    from tinykd.teacher.evaluate import evaluate_teacher

    data_cfg = _teacher_data_config(fmt, split, sample_rate, clip_seconds, data_seed, teacher)
    result = evaluate_teacher(data, teacher, data_cfg, on, batch_size=batch_size, device=device, threads=threads)
    if json_out:
        console.print_json(_json.dumps(result))
        return
    console.print(f"{teacher} on {on} ({split}, {result['n']} clips): accuracy {result['accuracy']:.4f}, loss {result['loss']:.4f}")
    console.print("per class: " + ", ".join(f"{k} {v:.2f}" for k, v in result["per_class_accuracy"].items()))


# ---------------------------------------------------------------------------------------------
# students and distillation  (tinykd.students, tinykd.distill)
# ---------------------------------------------------------------------------------------------

# [distill commands]
@app.command("models")
def models_list(
    presets: Optional[list[str]] = typer.Argument(
        None, help="Preset names or preset JSON files to show (default: every preset in the preset folder)."
    ),
    clip_seconds: float = typer.Option(1.0, "--clip-seconds", help="Clip length the figures are computed for (s)."),
    classes: int = typer.Option(10, "--classes", help="Number of classes (changes only the last Dense layer)."),
    models_dir: Optional[Path] = typer.Option(
        None, "--dir", help="Preset folder (default: $TINYKD_MODELS, else models/ of the checkout or installation)."
    ),
    layers: bool = typer.Option(False, "--layers", help="Also print every preset's layers: output shape, parameters, MACs."),
    measure: bool = typer.Option(
        False, "--measure", help="Also convert each preset to int8 TFLite and measure its arena in the TFLM interpreter (a few s each)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON (a list, one object per preset) instead of tables."),
) -> None:
    """List the student presets with parameters, MACs per second of audio, activation memory and flatbuffer size.

    Figures are counted analytically per layer (front end shown separately); see docs/students.md.
    """
    import json

    from tinykd.students.config import load_student_config, models_dir as default_models_dir, preset_names
    from tinykd.students.describe import describe, layers_table, presets_table

    folder = models_dir if models_dir is not None else default_models_dir()
    if models_dir is not None and not models_dir.is_dir():
        raise TinykdError(f"--dir {models_dir}: not a folder")
    names = list(presets) if presets else preset_names(folder)
    if not names:
        raise TinykdError(f"no presets (*.json) in {folder}")
    configs = [load_student_config(name, folder) for name in names]
    rows = [describe(config, clip_seconds, classes) for config in configs]
    if measure:
        from tinykd.students.tflm_arena import measure_preset

        with err_console.status("converting and measuring in TFLM") as status:
            for config, row in zip(configs, rows):
                status.update(f"converting {row['name']} to int8 and measuring its TFLM arena")
                report = measure_preset(config, classes, clip_seconds)
                row["arena_bytes"], row["flatbuffer_bytes"] = report.arena_bytes, report.flatbuffer_bytes
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    console.print(presets_table(rows))
    if layers:
        for row in rows:
            console.print(layers_table(row))
    console.print(f"presets from {folder}")


def _floats_option(text: str, option: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise TinykdError(f"{option} {text!r}: give comma-separated numbers, e.g. 1,2,3") from None


def _distill_config(out: Optional[Path] = None, resume: bool = False, **options):
    """Options the user gave (None = not given) -> DistillConfig; with --resume the run's saved settings fill in."""
    from tinykd.distill.run import resolve_config

    return resolve_config(options, out, resume)


def _data_config(student: str, split: Optional[str], clip_seconds: Optional[float]):
    """None (the run picks the cache's data config, else the preset's) unless the user set a data option."""
    if split is None and clip_seconds is None:
        return None
    from tinykd.data import DataConfig
    from tinykd.students.config import load_student_config

    preset = load_student_config(student)
    return DataConfig(split=split or "auto", sample_rate=preset.spec().sample_rate,
                      clip_seconds=preset.clip_seconds if clip_seconds is None else clip_seconds)


_KD_HELP = {
    "data": "Data set folder (or CSV manifest) as `tinykd data` reads it; splits come from it (see --split).",
    "cache": "Teacher soft-label cache (from `tinykd teacher export`); needed when alpha < 1 or --attention-weight > 0.",
    "teacher_student": "An already distilled run folder used as the teacher instead of the cache "
    "(teacher-assistant chain, e.g. Wav2Small teaching Wav2Tiny); its logits are computed once up front.",
    "student": "Student preset from models/ (see `tinykd models`) or a preset JSON file.",
    "attention_weight": "beta: weight of KL(teacher rollout attention || student attention); the student attention "
    "comes from a training-only 1x1 scoring layer on the `features` map, not saved in model.keras. Needs --cache.",
    "split": "auto (the data set's own split, else stratified random), random, or speaker:NAME (hold out a speaker). "
    "Default: the cache's data settings when a cache is given (its soft labels match them), else auto.",
}


@app.command("distill")
def distill_cmd(
    data: Path = typer.Argument(..., help=_KD_HELP["data"]),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder to create: model.keras, labels.json, config.json, "
                             "metrics.json, history.json, plots, report.md, checkpoints/."),
    cache: Optional[Path] = typer.Option(None, "--cache", help=_KD_HELP["cache"]),
    teacher_student: Optional[Path] = typer.Option(None, "--teacher-student", help=_KD_HELP["teacher_student"]),
    student: Optional[str] = typer.Option(None, "--student", help=_KD_HELP["student"]),
    temperature: Optional[float] = typer.Option(None, "--temperature", "-T", help="Softmax temperature T of the KD term (> 0). [default: 2]"),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="Weight of the hard-label CE in [0, 1]; the KD term gets 1 - alpha. 1 = no teacher. [default: 0.5]"),
    attention_weight: Optional[float] = typer.Option(None, "--attention-weight", help=_KD_HELP["attention_weight"] + " [default: 0]"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Maximum epochs. [default: 30]"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Clips per training step. [default: 32]"),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (Adam, or AdamW with --weight-decay). [default: 0.003]"),
    warmup_epochs: Optional[float] = typer.Option(None, "--warmup-epochs", help="Linear warm-up length in epochs. [default: 1]"),
    schedule: Optional[str] = typer.Option(None, "--schedule", help="Decay after warm-up: cosine, linear or constant. [default: cosine]"),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="Decoupled weight decay (AdamW); 0 = Adam. [default: 0]"),
    patience: Optional[int] = typer.Option(None, "--patience", help="Early stopping: epochs without better validation accuracy; 0 = off. The best epoch is kept. [default: 8]"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for initialisation, shuffling and augmentation. [default: 0]"),
    no_augment: Optional[bool] = typer.Option(None, "--no-augment", help="Turn off noise, gain, time shift and SpecAugment masks."),
    split: Optional[str] = typer.Option(None, "--split", help=_KD_HELP["split"]),
    clip_seconds: Optional[float] = typer.Option(None, "--clip-seconds", help="Clip length in seconds (default: the preset's)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an unfinished run from its last checkpoint with its saved settings (options given must match them, except --epochs, which may grow)."),
    force: bool = typer.Option(False, "--force", help="Delete an existing run folder and start over."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Train a student from the cached teacher: alpha*CE + (1-alpha)*T^2*KL(teacher_T || student_T) [+ beta*attention KL].

    Writes a complete run folder; an existing folder is refused unless --resume or --force.
    """
    from tinykd.distill.run import distill

    cfg = _distill_config(out, resume, student=student, temperature=temperature, alpha=alpha,
                          attention_weight=attention_weight, epochs=epochs, batch_size=batch_size, lr=lr,
                          warmup_epochs=warmup_epochs, schedule=schedule, weight_decay=weight_decay, patience=patience,
                          seed=seed, no_augment=no_augment)
    result = distill(data, cfg, out, cache=cache, teacher_student=teacher_student,
                     data_config=_data_config(cfg.student, split, clip_seconds), resume=resume, force=force,
                     show_progress=not quiet)
    m = result.metrics
    if result.already_complete:
        console.print(f"{out} is already complete (use --force to train again)")
    console.print(f"{m['split']} accuracy {m['accuracy']:.4f}, macro F1 {m['macro_f1']:.4f} (n = {m['n']}); "
                  f"report: {result.run_dir / 'report.md'}")


@app.command("evaluate")
def evaluate_cmd(
    model: Path = typer.Argument(..., help="A run folder, a .keras model or a .tflite model (labels.json beside it or one folder up)."),
    data: Path = typer.Argument(..., help="Data set folder or CSV manifest; loaded with the run's data config when one is found."),
    split: str = typer.Option("test", "--split", help="Split to score: train, val or test."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics as JSON (keys: accuracy, macro_f1, per_class, confusion, n, ...)."),
) -> None:
    """Score a model on a split: accuracy, macro/weighted precision, recall, F1 and the per-class table.

    .tflite models run in the desktop LiteRT interpreter, one clip at a time, int8 inputs/outputs (de)quantized.
    """
    from tinykd.distill.evaluate import evaluate
    from tinykd.distill.metrics import per_class_markdown

    m = evaluate(model, data, split=split, json_out=json_out, show_progress=True)
    console.print(per_class_markdown(m), highlight=False)
    console.print(f"{split}: accuracy {m['accuracy']:.4f}, macro F1 {m['macro_f1']:.4f}, weighted F1 {m['weighted_f1']:.4f} (n = {m['n']})")
    if json_out is not None:
        console.print(f"metrics written to {json_out}")


@app.command("sweep")
def sweep_cmd(
    data: Path = typer.Argument(..., help=_KD_HELP["data"]),
    out: Path = typer.Option(..., "--out", "-o", help="Sweep folder: one run folder per cell, ablation.md/.csv, "
                             "ablation_heatmap.png, confusion/<cell>.png. Rerunning resumes; finished cells are skipped."),
    cache: Optional[Path] = typer.Option(None, "--cache", help=_KD_HELP["cache"]),
    teacher_student: Optional[Path] = typer.Option(None, "--teacher-student", help=_KD_HELP["teacher_student"]),
    student: str = typer.Option("wav2tiny", "--student", help=_KD_HELP["student"]),
    temperatures: str = typer.Option("1,2,3", "--temperatures", help="Comma-separated temperatures."),
    alphas: str = typer.Option("0,0.5,1", "--alphas", help="Comma-separated alphas in [0, 1] (alpha = 1 is trained once: T does not matter there)."),
    attention_weight: float = typer.Option(0.0, "--attention-weight", help=_KD_HELP["attention_weight"]),
    epochs: int = typer.Option(30, "--epochs", help="Maximum epochs per cell."),
    batch_size: int = typer.Option(32, "--batch-size", help="Clips per training step."),
    lr: float = typer.Option(3e-3, "--lr", help="Peak learning rate."),
    warmup_epochs: float = typer.Option(1.0, "--warmup-epochs", help="Linear warm-up length in epochs."),
    schedule: str = typer.Option("cosine", "--schedule", help="Decay after warm-up: cosine, linear or constant."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="Decoupled weight decay (AdamW); 0 = Adam."),
    patience: int = typer.Option(8, "--patience", help="Early stopping patience per cell; 0 = off."),
    seed: int = typer.Option(0, "--seed", help="Seed (the same for every cell, so cells differ only in T and alpha)."),
    no_augment: bool = typer.Option(False, "--no-augment", help="Turn off augmentation in every cell."),
    split: Optional[str] = typer.Option(None, "--split", help=_KD_HELP["split"]),
    clip_seconds: Optional[float] = typer.Option(None, "--clip-seconds", help="Clip length in seconds (default: the preset's)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Grid of distillation runs over temperature x alpha, with the ablation table (Markdown, CSV) and heat map."""
    from tinykd.distill.sweep import sweep

    cfg = _distill_config(student=student, attention_weight=attention_weight, epochs=epochs, batch_size=batch_size,
                          lr=lr, warmup_epochs=warmup_epochs, schedule=schedule, weight_decay=weight_decay,
                          patience=patience, seed=seed, no_augment=no_augment)
    result = sweep(data, cfg, _floats_option(temperatures, "--temperatures"), _floats_option(alphas, "--alphas"), out,
                   cache=cache, teacher_student=teacher_student, data_config=_data_config(student, split, clip_seconds),
                   show_progress=not quiet)
    console.print((out / "ablation.md").read_text(encoding="utf-8"), highlight=False, markup=False)
    console.print(f"trained {len(result.trained)} cell(s), skipped {len(result.skipped)} finished; outputs in {out}")


# ---------------------------------------------------------------------------------------------
# quantize and C export  (tinykd.quantize, tinykd.emit)
# ---------------------------------------------------------------------------------------------
export_app = typer.Typer(help="Export a quantized model as source for firmware.", no_args_is_help=True)

# [quantize commands]
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
        f"test clips {acc['n_test']}: float {acc['float_accuracy']:.2f} %, int8 TFLM {acc['int8_tflm_accuracy']:.2f} % "
        f"(drop {acc['drop_points']:.2f} points); top-1 agreement float/TFLM {acc['agreement_float_tflm']:.2f} %, "
        f"LiteRT/TFLM {acc['agreement_litert_tflm']:.2f} %; TFLM invoke {rep['timing']['tflm_invoke_ms_mean']:.1f} ms here"
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

# ---------------------------------------------------------------------------------------------
# device: boards, flash, monitor, verify, sim  (tinykd.device)
# ---------------------------------------------------------------------------------------------

# [device commands]
BAUD_HELP = "Serial speed in baud; must match the firmware's (default 921600)."


@app.command("boards")
def boards_cmd() -> None:
    """List the boards `tinykd flash` supports, with their flash/RAM limits and what the firmware needs."""
    from rich.table import Table

    from tinykd.boards import BOARDS

    table = Table(title="boards: sizes in KB (1024 B), from tinykd/boards.py")
    table.add_column("board", no_wrap=True)
    for col in ("flash", "RAM", "arena max", "model max"):
        table.add_column(col, justify="right")
    table.add_column("arduino-cli fqbn", no_wrap=True)
    for b in BOARDS.values():
        table.add_row(b.name, f"{b.flash_bytes / 1024:.0f}", f"{b.ram_bytes / 1024:.0f}",
                      f"{b.arena_budget / 1024:.0f}", f"{b.model_flash_budget / 1024:.0f}", b.fqbn)
    console.print(table)
    for b in BOARDS.values():
        console.print(f"{b.name}: {b.title}, mcu {b.mcu}; PlatformIO board {b.pio_board}. {b.notes}", highlight=False)


@app.command("flash")
def flash_cmd(
    board: str = typer.Option(..., "--board", help="Board id from `tinykd boards` (esp32, esp32s3, nano33ble)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Run folder (uses RUN/int8/) or int8 folder with model_data.h/.cc and model_ops.h."),
    binary: Optional[Path] = typer.Option(None, "--binary", help="Instead of --model: write this prebuilt merged image to an ESP32 board with esptool."),
    port: Optional[str] = typer.Option(None, "--port", help="Serial port to upload to; default: the only port found."),
    tool: str = typer.Option("arduino-cli", "--tool", help="Build tool: arduino-cli or pio (PlatformIO)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Build folder to generate (default: RUN/firmware-<board>-<tool>)."),
    mode: str = typer.Option("stream", "--mode", help="Mode after boot: stream (microphone) or verify (host sends clips)."),
    hop_ms: int = typer.Option(500, "--hop-ms", help="Stream mode: milliseconds between inferences (the window is the model's input)."),
    baud: int = typer.Option(921600, "--baud", help=BAUD_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Generate the folder, print its tree and the exact commands; run nothing."),
    no_upload: bool = typer.Option(False, "--no-upload", help="Build only; do not upload."),
) -> None:
    """Generate a complete firmware project for BOARD with the run's model, check it fits, build and upload it.

    Output: the build folder (sketch or PlatformIO project + model files). The build tool's output is streamed.
    """
    from tinykd.device.flash import FlashOptions, flash, flash_binary

    def echo(text: str) -> None:
        console.print(text, soft_wrap=True, highlight=False, markup=False)

    if (model is None) == (binary is None):
        raise TinykdError("give either --model RUN (build and upload) or --binary FILE (write a prebuilt image)")
    if binary is not None:
        flash_binary(board, binary, port, baud=baud, dry_run=dry_run, echo=echo)
        return
    result = flash(FlashOptions(board=board, model=model, port=port, tool=tool, out=out, mode=mode, hop_ms=hop_ms,
                                baud=baud, dry_run=dry_run, upload=not no_upload), echo=echo)
    console.print(f"build folder: {result.out}")


@app.command("monitor")
def monitor_cmd(
    port: str = typer.Option(..., "--port", help="Serial port of the board (or the path `tinykd sim` printed)."),
    baud: int = typer.Option(921600, "--baud", help=BAUD_HELP),
    log: Optional[Path] = typer.Option(None, "--log", help="Append every line received (time, ok/bad, text) to this file."),
    duration: Optional[float] = typer.Option(None, "--duration", help="Stop after this many seconds (default: until Ctrl-C)."),
    count: Optional[int] = typer.Option(None, "--count", help="Stop after this many results."),
    reconnect_timeout: float = typer.Option(10.0, "--reconnect-timeout", help="Seconds to wait for a vanished port to come back."),
    plain: bool = typer.Option(False, "--plain", help="One printed line per result instead of the live view."),
) -> None:
    """Show a board's results live: label, confidence, timings, with counts of bad/dropped lines and resets."""
    from tinykd.device.monitor_view import run_monitor_view

    run_monitor_view(console, port, baud, log=log, duration=duration, count=count,
                     reconnect_timeout=reconnect_timeout, plain=plain)


@app.command("verify")
def verify_cmd(
    port: str = typer.Option(..., "--port", help="Serial port of the board (or the path `tinykd sim` printed)."),
    model: Path = typer.Option(..., "--model", help="Run folder (uses RUN/int8/model_int8.tflite) or the .tflite the board runs."),
    data: Path = typer.Option(..., "--data", help="Dataset folder (same layout as for distill)."),
    split: str = typer.Option("test", "--split", help="Which split to send: train, val or test."),
    baud: int = typer.Option(921600, "--baud", help=BAUD_HELP),
    min_agreement: float = typer.Option(1.0, "--min-agreement", help="Exit 1 when fewer than this fraction of clips get the host's top label."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N clips of the split."),
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds to wait for each clip's answer before resending."),
    retries: int = typer.Option(3, "--retries", help="Resends per clip (after a NAK, a lost answer or a reset)."),
    report: Optional[Path] = typer.Option(None, "--report", help="JSON report path (default: MODEL_DIR/verify.json)."),
) -> None:
    """Send the split's clips to the board as int16 PCM and compare its scores with the host TFLM interpreter.

    Prints agreement, accuracy, mismatches and latencies; writes a JSON report. Exit 0 when every clip was
    answered and agreement >= --min-agreement, 1 otherwise, 2 on errors.
    """
    from tinykd.device.verify import VerifyFailed, VerifyOptions, verify
    from tinykd.device.verify_view import print_verify_report

    opts = VerifyOptions(baud=baud, min_agreement=min_agreement, retries=retries, answer_timeout=timeout, limit=limit)
    rep = verify(port, model, data, split, opts, report, progress=True)
    print_verify_report(console, rep)
    if rep.error:
        raise TinykdError(rep.error)
    if not rep.passed:  # an exception, not typer.Exit: main() returns its exit code
        raise VerifyFailed(f"agreement {rep.agreement:.2%} with {rep.answered}/{rep.n_clips} clips answered; "
                           f"needed {rep.min_agreement:.2%} and every clip")


@app.command("sim")
def sim_cmd(
    run: Optional[Path] = typer.Option(None, "--run", help="Run folder whose int8 model the virtual board runs."),
    model: Optional[Path] = typer.Option(None, "--model", help="Or a .tflite file (labels.json beside it or one folder up)."),
    mode: str = typer.Option("stream", "--mode", help="Mode after boot: stream (plays --audio as the microphone) or verify."),
    audio: Optional[Path] = typer.Option(None, "--audio", help="WAV file or folder played as the microphone (default: generated tones)."),
    hop: Optional[int] = typer.Option(None, "--hop", help="Stream mode: samples between windows (default: half the model input)."),
    speed: float = typer.Option(1.0, "--speed", help="Play the microphone this many times faster than real time."),
    fault: list[str] = typer.Option([], "--fault", help="Misbehave: garbage[@BYTES], corrupt-line[@N], drop-line[@N], reset[@N], slow[@MS], corrupt-frame[@N], silent, skew[@N] (wrong answers). Repeatable."),
    duration: Optional[float] = typer.Option(None, "--duration", help="Stop after this many seconds (default: until Ctrl-C)."),
    sample_rate: Optional[int] = typer.Option(None, "--sample-rate", help="Model sample rate if the run does not say (default from model_data.h or config.json)."),
    emulate_baud: int = typer.Option(0, "--emulate-baud", help="Make every byte take 10 bit times at this baud rate, like a real UART (default 0: as fast as the pty goes)."),
) -> None:
    """Run a virtual board on a pseudo-terminal and print its port: the firmware's C core + the TFLM interpreter.

    Point `tinykd monitor` or `tinykd verify` at the printed path.
    """
    from tinykd.device.model import load_device_model
    from tinykd.device.sim import VirtualBoard, load_audio, parse_faults

    if (run is None) == (model is None):
        raise TinykdError("give exactly one of --run RUN or --model X.tflite")
    faults = parse_faults(fault)
    dm = load_device_model(run or model, sample_rate)
    board = VirtualBoard(dm, mode=mode, hop=hop, faults=faults, speed=speed, baud=emulate_baud,
                         audio=load_audio(audio, dm.sample_rate) if audio else None)
    board.boot()  # power-on output lands before anyone can open the port, like a board plugged in earlier
    console.print(f"virtual board on {board.port}  model {dm.hash}  {dm.sample_rate} Hz x {dm.input_samples}  "
                  f"mode {mode}  faults {','.join(f'{k}@{v}' for k, v in faults.items()) or 'none'}", highlight=False,
                  soft_wrap=True)
    sys.stdout.flush()
    try:
        stats = board.run(duration)
    except KeyboardInterrupt:
        stats = board.counters()
    finally:
        board.close()
    console.print(f"sim stopped: {stats.results} results, {stats.frames_ok} frames ok, {stats.frames_bad} bad, "
                  f"{stats.resets} resets, faults applied: {', '.join(stats.faults_applied) or 'none'}")

# ---------------------------------------------------------------------------------------------
# demo  (tinykd.demo)
# ---------------------------------------------------------------------------------------------

# [demo commands]
@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Folder for every stage's output (data, teacher, cache, runs, report)."),
    quick: bool = typer.Option(False, "--quick", help="Smaller data, fewer epochs, Wav2Tiny only: a few minutes on 2 cores."),
    force: bool = typer.Option(False, "--force", help="Delete OUT and start over (default: keep finished stages, continue the rest)."),
    teacher_epochs: Optional[int] = typer.Option(None, "--teacher-epochs", help="Teacher epochs (default 10; --quick 6)."),
    student_epochs: Optional[int] = typer.Option(None, "--student-epochs", help="Epochs per student (default 20; --quick 15)."),
    board: Optional[str] = typer.Option(None, "--board", help="Board the firmware folder is generated for (default esp32s3; see `tinykd boards`)."),
) -> None:
    """Run the whole pipeline on the built-in data: data -> tiny teacher -> cache -> students -> int8 -> C -> virtual board.

    Writes OUT/report.md (summary table and plots), OUT/summary.json and OUT/summary.png. Finished stages are
    kept, so an interrupted demo continues when run again.
    """
    from rich.table import Table

    from tinykd.demo import SUMMARY_HEADER, DemoConfig, run_demo, summary_rows

    cfg = DemoConfig.for_mode(quick, teacher_epochs=teacher_epochs, student_epochs=student_epochs, board=board)
    result = run_demo(out, cfg, force=force, log=lambda s: console.print(s, highlight=False))
    table = Table(title=f"tinykd demo ({'quick' if cfg.quick else 'full'}, {result.summary['seconds'] / 60:.1f} min)")
    for i, head in enumerate(SUMMARY_HEADER):
        table.add_column(head, justify="left" if i == 0 else "right")
    for row in summary_rows(result.summary):
        table.add_row(*row)
    console.print(table)
    console.print(f"report: {result.out / 'report.md'}", highlight=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning user errors into one line on stderr."""
    try:
        # Without standalone mode click hands back typer.Exit's code instead of exiting.
        code = app(args=argv, standalone_mode=False)
    except TinykdError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted; finished outputs are kept, partial ones were not written as complete")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except Exception as exc:
        # Usage errors (bad option, missing argument, no arguments => help). Typer may vendor its own
        # click, so recognise them by what they are rather than by one click module's class.
        if hasattr(exc, "show") and hasattr(exc, "exit_code") and type(exc).__module__.endswith("exceptions"):
            exc.show()
            return int(exc.exit_code)
        raise
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
