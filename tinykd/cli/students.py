"""`tinykd models`, `distill`, `evaluate`, `sweep` (tinykd.students, tinykd.distill)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tinykd.cli.app import app, console, err_console
from tinykd.cli.data import ALLOW_OUTSIDE_HELP
from tinykd.errors import TinykdError


def _say(text: str) -> None:
    """Print a line that names files or labels: as it is, never read as markup."""
    console.print(text, soft_wrap=True, highlight=False, markup=False)


def _warn(text: str) -> None:
    err_console.print(text, soft_wrap=True, highlight=False, markup=False)


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
                if report.kind == "signal":
                    row["frontend_arena_bytes"], row["body_arena_bytes"] = (report.frontend_arena_bytes,
                                                                            report.body_arena_bytes)
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


def _baselines(folder: Optional[Path]):
    """The baseline cache a command uses: --baselines, else $TINYKD_BASELINES, else the user cache folder."""
    from tinykd.distill.baseline import BaselineCache

    return BaselineCache(folder)


_KD_HELP = {
    "baselines": "Folder of the cache of alpha = 1 baseline runs (reused by every run with the same student, data, split, "
    "seed and training settings). Default: $TINYKD_BASELINES, else ~/.cache/tinykd/baselines.",
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
    force: bool = typer.Option(False, "--force", help="Delete an existing run folder and start over (never a folder of another kind)."),
    allow_outside: bool = typer.Option(False, "--allow-outside", help=ALLOW_OUTSIDE_HELP),
    baselines: Optional[Path] = typer.Option(None, "--baselines", help=_KD_HELP["baselines"]),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Do not compare with the alpha = 1 baseline (no extra "
                                     "training; the report then cannot say whether the teacher helped)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Train a student from the cached teacher: alpha*CE + (1-alpha)*T^2*KL(teacher_T || student_T) [+ beta*attention KL].

    With a teacher, the run is compared with the same student trained without it (alpha = 1, same data, seed and
    settings), taken from the baseline cache or trained into it first; a teacher that scores below that baseline on
    validation is reported before training. The last line says whether the teacher helped.

    Writes a complete run folder; an existing folder is refused unless --resume or --force. --resume refuses a
    data set that changed since the run started.
    """
    from tinykd.distill.baseline import verdict_line
    from tinykd.distill.run import distill

    cfg = _distill_config(out, resume, student=student, temperature=temperature, alpha=alpha,
                          attention_weight=attention_weight, epochs=epochs, batch_size=batch_size, lr=lr,
                          warmup_epochs=warmup_epochs, schedule=schedule, weight_decay=weight_decay, patience=patience,
                          seed=seed, no_augment=no_augment)
    result = distill(data, cfg, out, cache=cache, teacher_student=teacher_student,
                     data_config=_data_config(cfg.student, split, clip_seconds), resume=resume, force=force,
                     show_progress=not quiet, allow_outside=allow_outside, log=_warn,
                     baselines=None if no_baseline else _baselines(baselines))
    m = result.metrics
    if result.already_complete:
        _say(f"{out} is already complete (use --force to train again)")
    _say(f"{m['split']} accuracy {m['accuracy']:.4f}, macro F1 {m['macro_f1']:.4f} (n = {m['n']}); "
         f"report: {result.run_dir / 'report.md'}")
    if "baseline" in m:
        _say(verdict_line(m["baseline"], m["split"]))
    elif cfg.uses_teacher:
        _say("not compared with an alpha = 1 baseline (--no-baseline): whether the teacher helped is not known")


@app.command("evaluate")
def evaluate_cmd(
    model: Path = typer.Argument(..., help="A run folder, a .keras model or a .tflite model (labels.json beside it or one folder up)."),
    data: Path = typer.Argument(..., help="Data set folder or CSV manifest (new recordings too); loaded with the run's data settings when one is found."),
    split: Optional[str] = typer.Option(None, "--split", help="Clips to score: train, val, test or all. Default: the test "
                                        "split when DATA is the run's training data set, else every clip (new recordings)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="Layout of DATA: auto, tess, fsdd, folder or csv (default: the run's)."),
    allow_outside: bool = typer.Option(False, "--allow-outside", help=ALLOW_OUTSIDE_HELP),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics as JSON (keys: accuracy, macro_f1, per_class, confusion, n, ...)."),
) -> None:
    """Score a model on any data set folder or manifest: accuracy, macro/weighted precision, recall, F1, per class.

    New recordings (not the run's data set) are scored whole and need no training split; the run's own data set is
    scored on its test split. .tflite models run in the desktop LiteRT interpreter, one clip at a time, int8
    inputs/outputs (de)quantized.
    """
    from tinykd.distill.evaluate import evaluate
    from tinykd.distill.metrics import per_class_markdown

    m = evaluate(model, data, split=split, json_out=json_out, fmt=fmt, allow_outside=allow_outside, show_progress=True)
    _say(per_class_markdown(m))
    absent = f"; classes without clips here: {', '.join(m['classes_absent'])}" if m["classes_absent"] else ""
    _say(f"{m['split']} ({m['split_reason']}): accuracy {m['accuracy']:.4f}, macro F1 {m['macro_f1']:.4f}, "
         f"weighted F1 {m['weighted_f1']:.4f} (n = {m['n']}){absent}")
    if json_out is not None:
        _say(f"metrics written to {json_out}")


@app.command("sweep")
def sweep_cmd(
    data: Path = typer.Argument(..., help=_KD_HELP["data"]),
    out: Path = typer.Option(..., "--out", "-o", help="Sweep folder: one run folder per cell, ablation.md/.csv, "
                             "ablation_heatmap.png, confusion/<cell>.png. Rerunning resumes; finished cells are skipped."),
    cache: Optional[Path] = typer.Option(None, "--cache", help=_KD_HELP["cache"]),
    teacher_student: Optional[Path] = typer.Option(None, "--teacher-student", help=_KD_HELP["teacher_student"]),
    student: str = typer.Option("wav2tiny", "--student", help=_KD_HELP["student"] + " With --folds: a comma-separated "
                                "list (the students share each fold's teacher)."),
    temperatures: str = typer.Option("1,2,3", "--temperatures", help="Comma-separated temperatures."),
    alphas: str = typer.Option("0,0.5,1", "--alphas", help="Comma-separated alphas in [0, 1]; alpha = 1 (no teacher) is "
                               "always added, and every cell is reported against it."),
    attention_weight: str = typer.Option("0", "--attention-weight", help=_KD_HELP["attention_weight"] + " A comma-separated "
                                         "list adds a grid axis (e.g. 0,1)."),
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
    force: bool = typer.Option(False, "--force", help="Delete an earlier sweep folder at --out and start over (never a folder of another kind)."),
    allow_outside: bool = typer.Option(False, "--allow-outside", help=ALLOW_OUTSIDE_HELP),
    baselines: Optional[Path] = typer.Option(None, "--baselines", help=_KD_HELP["baselines"]),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Neither reuse nor fill the baseline cache (the alpha = 1 "
                                     "cell is still trained in the sweep)."),
    folds: Optional[str] = typer.Option(None, "--folds", help="`speakers`: the leave-one-speaker-out protocol: each speaker "
                                        "held out in turn, a teacher trained and exported per fold, every cell reported as "
                                        "mean ± SE over folds (protocol.md/.json/.png). Needs no --cache."),
    speakers: Optional[str] = typer.Option(None, "--speakers", help="With --folds: the speakers to hold out (comma-separated; default all)."),
    teacher_base: str = typer.Option("tiny", "--teacher-base", help="With --folds: the teacher's base (`tiny`, a local "
                                     "directory or a hub id), fine-tuned per fold; with --pretrain-epochs each fold's own "
                                     "pretrained model instead."),
    teacher_epochs: int = typer.Option(40, "--teacher-epochs", help="With --folds: teacher fine-tuning epochs."),
    teacher_lr: float = typer.Option(1e-3, "--teacher-lr", help="With --folds: the teacher's peak AdamW learning rate."),
    teacher_sample_rate: Optional[int] = typer.Option(None, "--teacher-sample-rate", help="With --folds: the teacher's rate "
                                                      "(default: the students'); e.g. 8000 for FSDD (its native rate)."),
    teacher_aug: list[str] = typer.Option([], "--teacher-aug", help="With --folds: teacher augmentation override KEY=VALUE (as `teacher train --aug`)."),
    teacher_tiny: list[str] = typer.Option([], "--teacher-tiny", help="With --folds: tiny teacher size override KEY=VALUE (as `teacher train --tiny`)."),
    teacher_batch_size: int = typer.Option(32, "--teacher-batch-size", help="With --folds: the teacher's clips per batch."),
    teacher_masking: bool = typer.Option(True, "--teacher-masking/--no-teacher-masking", help="With --folds: Wav2Vec2's "
                                         "time and feature masking in the teacher (the tiny defaults; off for the "
                                         "filterbank=mel recipe)."),
    teacher_extra_train: list[Path] = typer.Option([], "--teacher-extra-train", help="With --folds: another labelled data "
                                                   "set the teacher also trains on in every fold (as `teacher train "
                                                   "--extra-train`; repeatable), e.g. `tinykd data synth --words digits`."),
    teachers_from: Optional[Path] = typer.Option(None, "--teachers-from", help="With --folds: take every fold's finished "
                                                 "teacher and soft labels from this other protocol folder instead of "
                                                 "training them (e.g. another --seed of the students against the same "
                                                 "teachers); its data and teacher options must be these."),
    pretrain_epochs: int = typer.Option(0, "--pretrain-epochs", help="With --folds: wav2vec 2.0 pretraining epochs per fold "
                                        "on every speaker but the held-out one (0 = none)."),
    threads: int = typer.Option(0, "--threads", help="With --folds: torch threads of the teacher units (0: torch's default)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Grid of distillation runs over temperature x alpha (x attention weight), each cell against alpha = 1, with the
    ablation table (Markdown, CSV) and heat map; with --folds speakers, the leave-one-speaker-out protocol."""
    cfg = _distill_config(student=student.split(",")[0].strip(), epochs=epochs, batch_size=batch_size,
                          lr=lr, warmup_epochs=warmup_epochs, schedule=schedule, weight_decay=weight_decay,
                          patience=patience, seed=seed, no_augment=no_augment)
    temps = _floats_option(temperatures, "--temperatures")
    alpha_list = _floats_option(alphas, "--alphas")
    betas = _floats_option(attention_weight, "--attention-weight")
    if folds is not None:
        _protocol(data, out, cfg, student, temps, alpha_list, betas, folds, speakers, teacher_base, teacher_epochs,
                  teacher_lr, teacher_sample_rate, teacher_aug, teacher_tiny, pretrain_epochs, threads, clip_seconds,
                  force, quiet, cache, teacher_student, split, None if no_baseline else _baselines(baselines),
                  teacher_batch_size=teacher_batch_size, teacher_masking=teacher_masking,
                  teacher_extra_train=teacher_extra_train, teachers_from=teachers_from)
        return
    from tinykd.distill.sweep import sweep

    if "," in student:
        raise TinykdError(f"--student {student}: one student per sweep (a list needs --folds speakers)")
    result = sweep(data, cfg, temps, alpha_list, out,
                   cache=cache, teacher_student=teacher_student, data_config=_data_config(student, split, clip_seconds),
                   show_progress=not quiet, force=force, allow_outside=allow_outside, log=_warn, attention_weights=betas,
                   baselines=None if no_baseline else _baselines(baselines))
    console.print((out / "ablation.md").read_text(encoding="utf-8"), highlight=False, markup=False)
    _say(f"trained {len(result.trained)} cell(s), skipped {len(result.skipped)} finished; outputs in {out}")


def _protocol(data, out, cfg, student, temps, alpha_list, betas, folds, speakers, teacher_base, teacher_epochs,
              teacher_lr, teacher_sample_rate, teacher_aug, teacher_tiny, pretrain_epochs, threads, clip_seconds, force,
              quiet, cache, teacher_student, split, baselines, teacher_batch_size=32, teacher_masking=True,
              teacher_extra_train=(), teachers_from=None) -> None:
    from tinykd.distill.loso import FOLD_KINDS, FoldsPlan, run_protocol
    from tinykd.teacher.config import AugmentConfig, Masking, TeacherTrainConfig, TinyTeacherSize

    if folds not in FOLD_KINDS:
        raise TinykdError(f"--folds {folds!r}: use one of {', '.join(FOLD_KINDS)}")
    if cache is not None or teacher_student is not None or split is not None:
        raise TinykdError("--folds speakers trains and exports its own teacher per fold and sets each fold's split: "
                          "drop --cache, --teacher-student and --split")
    tiny = TinyTeacherSize().with_overrides(teacher_tiny)
    masking = Masking() if teacher_masking else Masking(mask_time_prob=0.0, mask_feature_prob=0.0)
    teacher = TeacherTrainConfig(base=teacher_base, epochs=teacher_epochs, lr=teacher_lr, threads=threads,
                                 batch_size=teacher_batch_size, masking=masking,
                                 augmentation=AugmentConfig().with_overrides(teacher_aug), tiny=tiny)
    pretrain = None
    if pretrain_epochs > 0:
        from tinykd.teacher.pretrain import PretrainConfig

        if teacher_base != "tiny":
            raise TinykdError("--pretrain-epochs pretrains a tiny Wav2Vec2 per fold; it cannot be combined with --teacher-base")
        pretrain = PretrainConfig(epochs=pretrain_epochs, threads=threads, tiny=tiny)
    plan = FoldsPlan(students=[s.strip() for s in student.split(",") if s.strip()], temperatures=temps, alphas=alpha_list,
                     attention_weights=betas,
                     speakers=[s.strip() for s in speakers.split(",") if s.strip()] if speakers else None,
                     teacher=teacher, teacher_sample_rate=teacher_sample_rate, pretrain=pretrain, threads=threads,
                     teacher_extra_train=[str(p) for p in teacher_extra_train], teachers_from=teachers_from)
    result = run_protocol(data, cfg, plan, out, clip_seconds=clip_seconds, force=force, show_progress=not quiet, log=_warn,
                          baselines=baselines)
    console.print((out / "protocol.md").read_text(encoding="utf-8"), highlight=False, markup=False)
    _say(f"trained {len(result.trained)} unit(s), skipped {len(result.skipped)} finished; outputs in {out}")
