"""Fine-tuning a teacher on a data set's training split (`tinykd teacher train`).

One run: AdamW with linear warm-up then linear decay to zero, optional gradient accumulation, evaluation on
the validation split after every epoch, and the best checkpoint (highest validation accuracy, earliest on a
tie) kept in the output folder. Each file in the folder is replaced atomically, so an interrupted run leaves
the last best checkpoint loadable; `tinykd_teacher.json` says whether the run finished.

The output folder: `config.json` + `model.safetensors` (save_pretrained), `preprocessor_config.json` (the
feature extractor: per-utterance normalisation), `labels.json` (class names, index = class id),
`tinykd_teacher.json` (train config, data config, input rate and normalisation, base, best epoch, test accuracy,
status),
`train_metrics.json` (per-epoch train loss/accuracy, val loss/accuracy, learning rate, seconds).

An existing teacher folder is never overwritten silently: `force=True` (`--force`) replaces a tinykd teacher
folder (tinykd.artifacts.prepare_output), and any other folder is refused. The data set must pass the one
training rule, `Dataset.check_trainable` (two classes or more, each in the training split), as for distill.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from tinykd.artifacts import TeacherDir, check_output, prepare_output
from tinykd.configio import FILE_MODE, save_json, to_dict
from tinykd.teacher.augment import augment_batch, mix_batch
from tinykd.teacher.base import base_summary
from tinykd.teacher.config import TeacherTrainConfig
from tinykd.teacher.progress import ProgressBar
from tinykd.teacher.model import load_for_finetuning, model_inputs, resolve_device



@dataclass
class TeacherTrainResult:
    out_dir: Path
    best_epoch: int
    best_val_accuracy: float | None
    test_accuracy: float | None
    history: list[dict[str, Any]] = field(default_factory=list)


def train_teacher(
    data_root: str | Path,
    out_dir: str | Path,
    cfg: TeacherTrainConfig,
    data_config: Any = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    force: bool = False,
    extra_train: Sequence[str | Path] = (),
) -> TeacherTrainResult:
    """Load the data set at `data_root` (tinykd.data) and fine-tune `cfg.base` on it.

    `extra_train` (`--extra-train DIR`, repeatable): more labelled data sets whose training splits the teacher also
    learns from, as a real teacher has heard more speech than its students' data set. Validation, test and the
    checkpoint choice stay `data_root`'s. An extra set's classes must be among `data_root`'s (matched by name), and
    none of its training clips may be, or be spoken by, a clip or speaker of `data_root`'s val or test split: the
    held-out score would not be held out (`extra_training_split`)."""
    from tinykd.data import DataConfig, load_dataset

    check_output(TeacherDir(out_dir), force=force, resumable=False, inputs=[data_root, *extra_train])  # refuse before the work
    data_config = data_config if data_config is not None else DataConfig()
    ds = load_dataset(data_root, data_config)
    ds.check_trainable()
    if ds.problem_summary():
        log(f"warning: {ds.problem_summary()}")
    train = ds.load_split("train")
    val = ds.load_split("val")
    test = ds.load_split("test")
    held_out = data_config.split_mode()[0] == "speaker" and len(test.y) > 0
    parts = [extra_training_split(path, ds, val, test, data_config, log) for path in extra_train]
    extras = [record for _, _, record in parts]
    x_train = np.concatenate([train.x, *(x for x, _, _ in parts)]) if parts else train.x
    y_train = np.concatenate([train.y, *(y for _, y, _ in parts)]) if parts else train.y
    if extras:
        log(f"teacher training clips: {len(train.y)} of {data_root} + "
            + " + ".join(f"{r['n_train']} of {r['root']}" for r in extras))
    return fit_teacher(
        (x_train, y_train),
        (val.x, val.y) if len(val.y) else None,
        (test.x, test.y) if len(test.y) else None,
        labels=list(ds.labels),
        sample_rate=int(data_config.sample_rate),
        cfg=cfg,
        out_dir=out_dir,
        extra_meta={"data_root": str(data_root), "data_config": to_dict(data_config), "dataset_fingerprint": ds.fingerprint(),
                    "dataset": ds.record(), "extra_train": extras},
        progress=progress,
        log=log,
        force=force,
        inputs=[data_root, *extra_train],
        monitor_test=held_out,
    )


def extra_training_split(path: str | Path, ds, val, test, data_config, log: Callable[[str], None] = print):
    """(x, y, record) of the training split of the extra set at `path`, its labels mapped onto `ds`'s.

    Read with `data_config`'s rate, clip length, format rules and seed, but its own split (`auto`: a
    `speaker:NAME` split names a speaker of the main set). Refused, with the file and the fix, when a class is not
    one of `ds`'s, when it has no training clip, or when a training clip or speaker of it is in `ds`'s val or
    test split (`val`, `test`: `SplitArrays`)."""
    from dataclasses import replace as _replace

    from tinykd.data import load_dataset
    from tinykd.errors import DatasetError

    if Path(path).resolve() == Path(ds.root).resolve():
        raise DatasetError(f"{path}: an extra training set is the data set itself; give another folder")
    extra = load_dataset(path, _replace(data_config, split="auto"), require_splits=("train",))
    if extra.problem_summary():
        log(f"warning: {extra.problem_summary()}")
    unknown = [label for label in extra.labels if label not in ds.labels]
    if unknown:
        raise DatasetError(f"{path}: extra training set has class(es) {', '.join(unknown[:8])} that {ds.root} does not "
                           f"have (its classes: {', '.join(ds.labels)}); the teacher's labels are the data set's")
    part = extra.load_split("train")
    if not len(part.y):
        raise DatasetError(f"{path}: extra training set has no training clips")
    held = {s for s in (*val.speakers, *test.speakers) if s and s != "unknown"}
    voices = sorted(held & set(part.speakers))
    if voices:
        raise DatasetError(f"{path}: extra training clips are spoken by {', '.join(voices[:5])}"
                           f"{' and others' if len(voices) > 5 else ''}, held out in {ds.root}'s val/test split; "
                           "the held-out score would not be held out: leave those speakers out of the extra set")
    same = set(part.hashes) & set((*val.hashes, *test.hashes))
    if same:
        raise DatasetError(f"{path}: {len(same)} extra training clip(s) are clips of {ds.root}'s val/test split "
                           "(same audio); leave them out of the extra set")
    remap = np.array([ds.labels.index(label) for label in extra.labels], dtype=np.int64)
    return part.x, remap[part.y], {**extra.record(), "speakers": len(set(part.speakers))}


def fit_teacher(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray] | None,
    test: tuple[np.ndarray, np.ndarray] | None,
    labels: list[str],
    sample_rate: int,
    cfg: TeacherTrainConfig,
    out_dir: str | Path,
    extra_meta: dict[str, Any] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    force: bool = False,
    inputs: list = (),
    monitor_test: bool = False,
) -> TeacherTrainResult:
    """Fine-tune on arrays (x float32 [n, samples], y int64 [n]); see the module docstring for outputs.

    `monitor_test` (on for a held-out-speaker split): also score the test split after every epoch and record it as
    `heldout_accuracy` in the history. A diagnostic only (how generalisation to the unseen voice evolves while the
    seen speakers are learnt); it never chooses the checkpoint, which stays the best on validation."""
    out_dir = Path(out_dir)
    check_output(TeacherDir(out_dir), force=force, resumable=False, inputs=inputs)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = resolve_device(cfg.device)

    pretrained = None
    if cfg.base != "tiny":
        from tinykd.teacher.pretrain import pretrained_record

        pretrained = pretrained_record(cfg.base)  # a `teacher pretrain` folder: refused when unfinished
        pretrained = pretrained or base_summary(cfg.base)  # the shipped base (tinykd.teacher.base): what it heard
    model, fe, base_name = load_for_finetuning(cfg.base, labels, cfg.tiny, sample_rate, cfg.masking)
    # Only once the model loaded: a bad --base leaves nothing behind, and --force deletes the old teacher last.
    _, replaced = prepare_output(TeacherDir(out_dir), force=force, resumable=False, inputs=inputs)
    if replaced:
        log(replaced)
    if cfg.freeze_feature_encoder:
        model.freeze_feature_encoder()
    model.to(device)

    x_train, y_train = train
    n_batches = math.ceil(len(y_train) / cfg.batch_size)
    steps_per_epoch = math.ceil(n_batches / cfg.grad_accum)
    total_steps = steps_per_epoch * cfg.epochs
    warmup = int(cfg.warmup_ratio * total_steps)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, warmup, total_steps))

    meta: dict[str, Any] = {
        "status": "training",
        "base": base_name,
        "labels": labels,
        "sample_rate": sample_rate,
        "input_normalisation": "per utterance: (x - mean) / sqrt(var + 1e-7), Wav2Vec2 feature extractor",
        "train_config": to_dict(cfg),
        "n_params": int(sum(p.numel() for p in model.parameters())),
        "pretrained": pretrained,
        **(extra_meta or {}),
    }
    save_json(out_dir / TeacherDir.LABELS, labels)
    save_json(out_dir / TeacherDir.META, meta)
    log(f"teacher: {base_name}, {meta['n_params']:,} parameters, {len(y_train)} training clips, device {device}")

    history: list[dict[str, Any]] = []
    best_acc: float | None = None
    best_epoch = 0
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = rng.permutation(len(y_train))
        loss_sum, correct, seen = 0.0, 0, 0
        with ProgressBar(progress, f"epoch {epoch}/{cfg.epochs}", n_batches) as advance:
            for b in range(n_batches):
                idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                xb = x_train[idx]
                partner, lam = np.arange(len(idx)), np.ones(len(idx))
                if cfg.augment:
                    xb = augment_batch(xb, rng, cfg.augmentation, sample_rate)
                    xb, partner, lam = mix_batch(xb, rng, cfg.augmentation)
                yb = torch.as_tensor(y_train[idx], dtype=torch.long, device=device)
                out = model(**model_inputs(fe, xb, sample_rate, device))
                loss = mixed_cross_entropy(out.logits, yb, torch.as_tensor(partner, device=device),
                                           torch.as_tensor(lam, dtype=out.logits.dtype, device=device))
                (loss / cfg.grad_accum).backward()
                if (b + 1) % cfg.grad_accum == 0 or b + 1 == n_batches:
                    torch.nn.utils.clip_grad_norm_(params, 1.0)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                loss_sum += loss.item() * len(idx)
                correct += int((out.logits.argmax(-1) == yb).sum())
                seen += len(idx)
                advance(1, f"loss {loss_sum / seen:.3f} acc {correct / seen:.3f}")
        row: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen,
            "lr": scheduler.get_last_lr()[0],
        }
        if val is not None:
            row["val_loss"], row["val_accuracy"], _ = evaluate(model, fe, val[0], val[1], sample_rate, device, cfg.batch_size)
        row["seconds"] = round(time.perf_counter() - t0, 2)
        if monitor_test and test is not None:
            row["heldout_accuracy"] = evaluate(model, fe, test[0], test[1], sample_rate, device, cfg.batch_size)[1]
        history.append(row)
        score = row.get("val_accuracy", row["train_accuracy"])
        if best_acc is None or score > best_acc:
            best_acc, best_epoch = score, epoch
            _save_checkpoint(model, fe, out_dir)
            model.to(device)
        save_json(out_dir / TeacherDir.METRICS, {"best_epoch": best_epoch, "epochs": history})
        log(
            f"epoch {epoch}: train loss {row['train_loss']:.3f} acc {row['train_accuracy']:.3f}"
            + (f", val loss {row['val_loss']:.3f} acc {row['val_accuracy']:.3f}" if val is not None else "")
            + (f", held-out {row['heldout_accuracy']:.3f} (not used for selection)" if "heldout_accuracy" in row else "")
            + f" ({row['seconds']:.0f} s){' *best' if best_epoch == epoch else ''}"
        )

    test_acc = None
    if test is not None:
        from tinykd.teacher.model import load_teacher

        best, best_fe = load_teacher(out_dir, attentions=False)
        best.to(device)
        _, test_acc, _ = evaluate(best, best_fe, test[0], test[1], sample_rate, device, cfg.batch_size)
        log(f"best checkpoint (epoch {best_epoch}): test accuracy {test_acc:.4f} on {len(test[1])} clips")
    metrics = {"best_epoch": best_epoch, "best_val_accuracy": best_acc if val is not None else None, "test_accuracy": test_acc, "epochs": history}
    save_json(out_dir / TeacherDir.METRICS, metrics)
    meta.update(status="complete", best_epoch=best_epoch, best_val_accuracy=metrics["best_val_accuracy"], test_accuracy=test_acc)
    save_json(out_dir / TeacherDir.META, meta)
    from tinykd.teacher.report import write_teacher_report

    write_teacher_report(out_dir)
    return TeacherTrainResult(out_dir, best_epoch, metrics["best_val_accuracy"], test_acc, history)


def evaluate(model, fe, x: np.ndarray, y: np.ndarray, sample_rate: int, device: torch.device, batch_size: int = 32):
    """(mean cross-entropy, accuracy, logits [n, C]) of `model` on arrays, eval mode, no gradients."""
    was_training = model.training
    model.eval()
    logits = []
    with torch.inference_mode():
        for start in range(0, len(y), batch_size):
            out = model(**model_inputs(fe, x[start : start + batch_size], sample_rate, device))
            logits.append(out.logits.float().cpu())
    model.train(was_training)
    all_logits = torch.cat(logits) if logits else torch.zeros((0, model.config.num_labels))
    target = torch.as_tensor(y, dtype=torch.long)
    loss = float(torch.nn.functional.cross_entropy(all_logits, target)) if len(y) else float("nan")
    acc = float((all_logits.argmax(-1) == target).float().mean()) if len(y) else float("nan")
    return loss, acc, all_logits.numpy()


def mixed_cross_entropy(logits, y, partner, lam):
    """Mean over the batch of lam * CE(y) + (1 - lam) * CE(y[partner]) (mixup's target; lam 1 is plain CE)."""
    per_clip = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    other = torch.nn.functional.cross_entropy(logits, y[partner], reduction="none")
    return (lam * per_clip + (1 - lam) * other).mean()


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def _save_checkpoint(model, fe, out_dir: Path) -> None:
    """save_pretrained into a scratch folder beside the output, then move each file in with os.replace."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its "Writing model shards" bar would interleave with the epoch lines
    tmp = Path(tempfile.mkdtemp(prefix=".checkpoint-", dir=out_dir))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        fe.save_pretrained(tmp)
        for item in sorted(tmp.iterdir()):
            item.chmod(FILE_MODE)  # the writers' temp files are private (0600); a model is shared like any file
            os.replace(item, out_dir / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
