"""`tinykd models`, `distill`, `evaluate`, `sweep` (tinykd.students, tinykd.distill)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tinykd.cli.app import app, console, err_console
from tinykd.errors import TinykdError


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

    from tinykd.students.config import load_student_config, preset_names
    from tinykd.students.config import models_dir as default_models_dir
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
