"""`tinykd teacher`: train, export soft labels, evaluate (tinykd.teacher)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tinykd.cli.app import app, console
from tinykd.cli.data import ALLOW_OUTSIDE_HELP
from tinykd.errors import TinykdError
from tinykd.frontend.spec import DEFAULT_SPEC

teacher_app = typer.Typer(
    help="Teacher (PyTorch, needs the `teacher` extra): fine-tune a Wav2Vec2 classifier, export soft labels.",
    no_args_is_help=True,
)
app.add_typer(teacher_app, name="teacher")

def _teacher_data_config(fmt: str, split: str, sample_rate: Optional[int], clip_seconds: float, seed: int,
                         teacher: Optional[Path] = None, allow_outside: bool = False):
    """The data config of a teacher command; no --sample-rate means the rate `teacher` was trained at."""
    from tinykd.data import DataConfig

    if sample_rate is None:
        from tinykd.teacher.model import teacher_sample_rate

        sample_rate = teacher_sample_rate(teacher)
    return DataConfig(format=fmt, split=split, sample_rate=sample_rate, clip_seconds=clip_seconds, seed=seed,
                      allow_outside=allow_outside)


_DATA_HELP = "Data set folder (any layout tinykd.data reads: FSDD, TESS, folder-per-class, CSV)."
_FORMAT_OPT = typer.Option("auto", "--format", help="Data set layout: auto, tess, fsdd, folder or csv.")
_SPLIT_OPT = typer.Option(
    "auto", "--split", help="auto (the data set's own split, else stratified random), random, or speaker:NAME (NAME held out as test)."
)
_RATE_OPT = typer.Option(DEFAULT_SPEC.sample_rate, "--sample-rate", help="Rate every clip is resampled to, in Hz (the teacher's input rate).")
_TEACHER_RATE_OPT = typer.Option(
    None, "--sample-rate", help="Rate every clip is resampled to, in Hz. Default: the rate the teacher was trained at."
)
_CLIP_OPT = typer.Option(1.0, "--clip-seconds", help="Clip length in seconds (short clips are padded, long ones cut).")
_DATA_SEED_OPT = typer.Option(0, "--data-seed", help="Seed of the train/val/test assignment.")
_OUTSIDE_OPT = typer.Option(False, "--allow-outside", help=ALLOW_OUTSIDE_HELP)


def _say(text: str) -> None:
    """Print a line that names files or labels: as it is, never read as markup."""
    console.print(text, soft_wrap=True, highlight=False, markup=False)


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
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Speed and pitch perturbation, shift, noise and mixup on training clips (see --aug)."),
    tiny: list[str] = typer.Option(
        [], "--tiny", help="Size override for `--base tiny`, KEY=VALUE, repeatable (e.g. --tiny hidden_size=64 --tiny conv_dim=32,32,64,64; --tiny filterbank=mel starts a 25 ms first layer as a mel filterbank, the demo's recipe: docs/teacher.md)."
    ),
    aug: list[str] = typer.Option(
        [], "--aug", help="Augmentation override, KEY=VALUE, repeatable: speed, pitch_semitones, pitch_prob, shift_seconds, "
        "noise_prob, snr_db (low,high), mixup_alpha (0 = no mixup), mixup_prob. Defaults in docs/teacher.md."
    ),
    mask_time_prob: Optional[float] = typer.Option(None, "--mask-time-prob", help="Wav2Vec2 time masking: the config's "
                                                   "mask_time_prob (default: the base's own; tiny 0.05)."),
    mask_time_length: Optional[int] = typer.Option(None, "--mask-time-length", help="Frames per time mask (tiny: 2)."),
    mask_feature_prob: Optional[float] = typer.Option(None, "--mask-feature-prob", help="Wav2Vec2 feature (channel) "
                                                      "masking: mask_feature_prob (default: the base's own; tiny 0.05)."),
    mask_feature_length: Optional[int] = typer.Option(None, "--mask-feature-length", help="Channels per feature mask (tiny: 8)."),
    seed: int = typer.Option(0, "--seed", help="Seed of initialisation, shuffling and augmentation."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, or auto (cuda when available)."),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch's default)."),
    extra_train: list[Path] = typer.Option(
        [], "--extra-train", help="Another labelled data set whose training split the teacher also learns from "
        "(repeatable; validation and test stay DATA's). Its classes must be DATA's; none of its training clips or "
        "speakers may be in DATA's val/test split. The demo's teacher hears its training voices in more accents this way."
    ),
    fmt: str = _FORMAT_OPT,
    split: str = _SPLIT_OPT,
    sample_rate: int = _RATE_OPT,
    clip_seconds: float = _CLIP_OPT,
    data_seed: int = _DATA_SEED_OPT,
    allow_outside: bool = _OUTSIDE_OPT,
    force: bool = typer.Option(False, "--force", help="Replace an existing teacher folder at --out (never a folder of another kind)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar per epoch."),
) -> None:
    """Fine-tune an audio classifier (Wav2Vec2) on DATA's training split; keeps the best checkpoint by val accuracy.

    An existing teacher at --out is refused unless --force.
    """
    from tinykd.teacher.config import AugmentConfig, Masking, TeacherTrainConfig, TinyTeacherSize
    from tinykd.teacher.train import train_teacher

    cfg = TeacherTrainConfig(
        base=base, epochs=epochs, batch_size=batch_size, grad_accum=grad_accum, lr=lr, weight_decay=weight_decay,
        warmup_ratio=warmup, freeze_feature_encoder=freeze_feature_encoder, seed=seed, device=device, threads=threads,
        augment=augment, augmentation=AugmentConfig().with_overrides(aug), tiny=TinyTeacherSize().with_overrides(tiny),
        masking=Masking(mask_time_prob, mask_time_length, mask_feature_prob, mask_feature_length),
    )
    data_cfg = _teacher_data_config(fmt, split, sample_rate, clip_seconds, data_seed, allow_outside=allow_outside)
    result = train_teacher(data, out, cfg, data_cfg, progress=progress, log=_say, force=force, extra_train=extra_train)
    val = "n/a" if result.best_val_accuracy is None else f"{result.best_val_accuracy:.4f}"
    test = "n/a" if result.test_accuracy is None else f"{result.test_accuracy:.4f}"
    _say(f"teacher saved to {out} (best epoch {result.best_epoch}, val accuracy {val}, test accuracy {test})")


@teacher_app.command("pretrain")
def teacher_pretrain(
    data: Path = typer.Argument(..., help="Unlabeled audio: a data set folder (its labels are ignored) or any folder of "
                                "audio files (.wav/.flac, one clip per file)."),
    out: Path = typer.Option(..., "--out", help="Output folder: a save_pretrained model to fine-tune with "
                             "`tinykd teacher train --base OUT`, plus tinykd_pretrain.json."),
    epochs: int = typer.Option(40, "--epochs", help="Pretraining epochs over the clips."),
    batch_size: int = typer.Option(32, "--batch-size", help="Clips per batch."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak AdamW learning rate (10 % warm-up, then linear decay)."),
    mask_time_prob: float = typer.Option(0.65, "--mask-time-prob", help="Share of frames that start a masked span (wav2vec 2.0: 0.65)."),
    mask_time_ms: float = typer.Option(200.0, "--mask-time-ms", help="Length of a masked span in ms (wav2vec 2.0: 10 frames = 200 ms)."),
    num_negatives: int = typer.Option(16, "--num-negatives", help="Distractors per masked frame, drawn from the clip's masked frames."),
    exclude_speaker: list[str] = typer.Option([], "--exclude-speaker", help="Leave this speaker's clips out (repeatable): "
                                              "the held-out speaker of an evaluation must not be heard, even unlabeled."),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Speed/pitch perturbation, shift and noise on the clips."),
    tiny: list[str] = typer.Option([], "--tiny", help="Size override, KEY=VALUE, repeatable (as `teacher train --tiny`)."),
    seed: int = typer.Option(0, "--seed", help="Seed of initialisation, masks, negatives and augmentation."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, or auto (cuda when available)."),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch's default)."),
    fmt: str = _FORMAT_OPT,
    sample_rate: int = _RATE_OPT,
    clip_seconds: float = _CLIP_OPT,
    allow_outside: bool = _OUTSIDE_OPT,
    force: bool = typer.Option(False, "--force", help="Replace an existing pretrained folder at --out (never a folder of another kind)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar per epoch."),
) -> None:
    """Self-supervised pretraining of the tiny Wav2Vec2 on unlabeled audio (the wav2vec 2.0 contrastive objective).

    Fine-tune the result with `tinykd teacher train DATA --base OUT`. Nothing is downloaded.
    """
    from tinykd.data import DataConfig
    from tinykd.teacher.config import TinyTeacherSize
    from tinykd.teacher.pretrain import PretrainConfig, pretrain

    cfg = PretrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, mask_time_prob=mask_time_prob,
                         mask_time_ms=mask_time_ms, num_negatives=num_negatives, augment=augment, seed=seed,
                         device=device, threads=threads, tiny=TinyTeacherSize().with_overrides(tiny))
    data_cfg = DataConfig(format=fmt, sample_rate=sample_rate, clip_seconds=clip_seconds, allow_outside=allow_outside)
    result = pretrain(data, out, cfg, data_cfg, exclude_speakers=tuple(exclude_speaker), progress=progress, log=_say,
                      force=force)
    last = result.history[-1]
    _say(f"pretrained model saved to {out} ({result.n_clips} clips, contrastive loss {last['contrastive_loss']:.3f}); "
         f"fine-tune it with `tinykd teacher train DATA --base {out}`")


@teacher_app.command("export")
def teacher_export(
    data: Path = typer.Argument(..., help=_DATA_HELP),
    teacher: Path = typer.Option(..., "--teacher", help="Teacher folder written by `tinykd teacher train` (or any save_pretrained audio classifier with labels.json)."),
    out: Path = typer.Option(..., "--out", help="Cache folder to write: meta.json + shard-*.safetensors. An unfinished export there is resumed."),
    batch_size: int = typer.Option(32, "--batch-size", help="Clips per teacher forward pass."),
    shard_size: int = typer.Option(512, "--shard-size", help="Clips per shard file (the unit an interrupted export resumes from)."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, or auto (cuda when available)."),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch's default)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the cache at --out and export anew (only a tinykd cache folder is ever replaced)."),
    resample: bool = typer.Option(False, "--resample", help="The teacher was trained at another rate than --sample-rate: "
                                  "feed it every clip resampled to its rate (e.g. an 8 kHz teacher for 16 kHz students); "
                                  "the cache keeps the data's settings."),
    fmt: str = _FORMAT_OPT,
    split: str = _SPLIT_OPT,
    sample_rate: Optional[int] = _TEACHER_RATE_OPT,
    clip_seconds: float = _CLIP_OPT,
    data_seed: int = _DATA_SEED_OPT,
    allow_outside: bool = _OUTSIDE_OPT,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Run the teacher over every clip of DATA and cache its logits and attention-rollout weights for distillation."""
    from tinykd.teacher.export import ExportConfig, export_cache

    if batch_size < 1 or shard_size < 1:
        raise TinykdError("--batch-size and --shard-size must be >= 1")
    cfg = ExportConfig(batch_size=batch_size, shard_size=shard_size, device=device, threads=threads, overwrite=overwrite,
                       resample=resample)
    data_cfg = _teacher_data_config(fmt, split, sample_rate, clip_seconds, data_seed, teacher, allow_outside)
    result = export_cache(data, teacher, out, cfg, data_cfg, progress=progress, log=_say)
    if result.already_complete:
        return
    speed = f", {result.clips_per_second:.1f} clips/s" if result.clips_per_second else ""
    _say(f"cache written to {out}: {result.n_clips} clips in {result.n_shards} shard(s) "
         f"({result.shards_written} written, {result.shards_reused} kept from an earlier run{speed})")


@teacher_app.command("evaluate")
def teacher_evaluate(
    data: Path = typer.Argument(..., help=_DATA_HELP),
    teacher: Path = typer.Option(..., "--teacher", help="Teacher folder written by `tinykd teacher train`."),
    on: Optional[str] = typer.Option(None, "--on", help="Clips to score: train, val, test or all. Default: the test split "
                                     "when DATA is the teacher's training data set, else every clip (new recordings)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Clips per forward pass."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, or auto (cuda when available)."),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch's default)."),
    fmt: str = _FORMAT_OPT,
    split: str = _SPLIT_OPT,
    sample_rate: Optional[int] = _TEACHER_RATE_OPT,
    clip_seconds: float = _CLIP_OPT,
    data_seed: int = _DATA_SEED_OPT,
    allow_outside: bool = _OUTSIDE_OPT,
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Score a teacher on DATA (any folder or manifest): accuracy, loss and per-class accuracy.

    New recordings are scored whole (they need no training split); the teacher's own data set on its test split.
    """
    import json as _json

    from tinykd.teacher.evaluate import evaluate_teacher

    data_cfg = _teacher_data_config(fmt, split, sample_rate, clip_seconds, data_seed, teacher, allow_outside)
    result = evaluate_teacher(data, teacher, data_cfg, on, batch_size=batch_size, device=device, threads=threads)
    if json_out:
        print(_json.dumps(result, indent=2))
        return
    _say(f"{teacher} on {result['split']} ({result['split_reason']}; {result['n']} clips): "
         f"accuracy {result['accuracy']:.4f}, loss {result['loss']:.4f}")
    _say("per class: " + ", ".join(f"{k} {v:.2f}" for k, v in result["per_class_accuracy"].items()))
