"""Exporting a teacher's soft labels to a cache (`tinykd teacher export`).

The teacher runs once, in eval mode under `torch.inference_mode`, batched, over every clip of every split
(clips with identical content are run once). Per clip it stores the logits and the attention-rollout
temporal weights (`tinykd.teacher.rollout`); the format is described in `tinykd.teacher.cache`.

Resuming: the clips are cut into shards in a fixed order. `meta.json` is written first with `complete: false`
and the plan's hash; a re-run with the same teacher and data keeps every shard file already written whose
clip hashes match the plan and computes only the rest; `complete: true` is written last. A full disk ends
the export with one line and leaves the cache marked incomplete.

`on_shard_written(index, path)` is called after each shard file is committed: a hook for progress reporting
and for tests, which interrupt an export for real from it (an exception, or killing the process).
"""

from __future__ import annotations

import errno
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tinykd.artifacts import MARKER, CacheDir, TeacherDir, check_output, prepare_output
from tinykd.configio import load_json, to_dict
from tinykd.errors import CacheError, OutputError, TinykdError
from tinykd.teacher import cache as fmt
from tinykd.teacher.model import load_teacher, model_inputs, resolve_device, teacher_identity, teacher_sample_rate
from tinykd.teacher.progress import ProgressBar
from tinykd.teacher.rollout import temporal_weights


@dataclass(frozen=True)
class ExportConfig:
    batch_size: int = 32
    shard_size: int = 512  # clips per shard file: the unit of resuming
    device: str = "auto"
    threads: int = 0  # torch CPU threads; 0 = torch's default
    overwrite: bool = False  # replace the cache folder at `out` (only a tinykd cache folder is ever replaced)
    # A teacher trained at another rate than the data is loaded at: resample each clip to the teacher's rate
    # (band-limited, tinykd.data.audio.resample) instead of refusing. The cache keeps the data's own settings, so
    # students at the data's rate read it; e.g. an 8 kHz teacher (FSDD's native rate, half the compute) for 16 kHz
    # students.
    resample: bool = False


@dataclass
class ExportResult:
    cache_dir: Path
    n_clips: int
    n_shards: int
    shards_written: int
    shards_reused: int
    seconds: float  # time spent running the teacher and writing shards
    clips_per_second: float | None
    already_complete: bool = False


def export_cache(
    data_root: str | Path,
    teacher_dir: str | Path,
    out: str | Path,
    cfg: ExportConfig = ExportConfig(),
    data_config: Any = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_shard_written: Callable[[int, Path], None] | None = None,
) -> ExportResult:
    """Load the data set at `data_root` (tinykd.data) and export `teacher_dir`'s soft labels to `out`."""
    from tinykd.data import DataConfig, load_dataset

    ds = load_dataset(data_root, data_config if data_config is not None else DataConfig())
    return export_dataset(ds, teacher_dir, out, cfg, progress=progress, log=log, on_shard_written=on_shard_written)


def teacher_labels(teacher_dir: Path) -> list[str]:
    """The label map a teacher was trained with: labels.json, else the model config's id2label."""
    from tinykd.teacher.pretrain import PretrainDir

    teacher_dir = Path(teacher_dir)
    if (teacher_dir / PretrainDir.META).is_file() and not (teacher_dir / TeacherDir.LABELS).is_file():
        raise TinykdError(f"{teacher_dir}: a pretrained base (`tinykd teacher pretrain`), not a classifier; fine-tune it "
                          f"first with `tinykd teacher train DATA --base {teacher_dir}`")
    if (teacher_dir / TeacherDir.LABELS).is_file():
        return TeacherDir(teacher_dir).labels()
    path = teacher_dir / TeacherDir.HF_CONFIG
    config = load_json(path)
    id2label = config.get("id2label") if isinstance(config, dict) else None
    try:
        labels = [str(id2label[k]) for k in sorted(id2label, key=int)] if isinstance(id2label, dict) else []
    except (ValueError, TypeError):
        labels = []
    if not labels:
        raise TinykdError(f"{teacher_dir}: no labels.json and no usable id2label in {path}; the label map lives with the teacher")
    return labels


def export_dataset(
    ds: Any,
    teacher_dir: str | Path,
    out: str | Path,
    cfg: ExportConfig = ExportConfig(),
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_shard_written: Callable[[int, Path], None] | None = None,
) -> ExportResult:
    teacher_dir, out = Path(teacher_dir), Path(out)
    labels = teacher_labels(teacher_dir)  # the cheap checks first: a wrong teacher is refused before it loads
    if labels != list(ds.labels):
        raise TinykdError(
            f"{teacher_dir}: teacher label map {labels} does not match the data's {list(ds.labels)}; train a teacher on this data"
        )
    rate = teacher_sample_rate(teacher_dir)
    if rate != ds.sample_rate and not cfg.resample:
        raise TinykdError(f"{teacher_dir}: teacher takes {rate} Hz audio but the data is loaded at {ds.sample_rate} Hz; "
                          f"set --sample-rate {rate}, or pass --resample to feed it each clip resampled to {rate} Hz")
    check_output(CacheDir(out), resume=True)
    model, fe = load_teacher(teacher_dir, attentions=True)
    identity = teacher_identity(teacher_dir)

    # One row per distinct clip content, in a fixed order (the clips' order in the data set).
    order: list[int] = []
    seen: set[str] = set()
    for i, clip in enumerate(ds.clips):
        if clip.hash not in seen:
            seen.add(clip.hash)
            order.append(i)
    hashes = [ds.clips[i].hash for i in order]
    shards = [order[s : s + cfg.shard_size] for s in range(0, len(order), cfg.shard_size)]
    plan_hash = hashlib.sha256(
        json.dumps({"teacher": identity, "labels": labels, "data": ds.fingerprint(), "shard_size": cfg.shard_size, "hashes": hashes,
                    **({"teacher_rate": rate} if rate != ds.sample_rate else {})}).encode()
    ).hexdigest()[:16]
    meta: dict[str, Any] = {
        "complete": False,
        "labels": labels,
        "teacher": identity,
        "teacher_dir": str(teacher_dir.resolve()),
        "dataset_fingerprint": ds.fingerprint(),
        "data_config": to_dict(ds.config),
        "sample_rate": ds.sample_rate,
        "teacher_sample_rate": rate,  # != sample_rate: each clip was resampled to it for the teacher
        "n_clips": len(order),
        "shard_size": cfg.shard_size,
        "plan_hash": plan_hash,
    }

    done = _prepare_folder(out, meta, cfg.overwrite, log, inputs=[teacher_dir, ds.root])
    if done is not None:
        return done

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    model.to(device)
    records: list[dict[str, Any]] = []
    has_attention: bool | None = None
    teacher_frames: int | None = None
    written = reused = computed_clips = 0
    seconds = 0.0
    try:
        fmt.write_meta(out, meta)  # complete: false until every shard is on disk
        with ProgressBar(progress, "exporting soft labels", len(order)) as advance:
            for index, members in enumerate(shards):
                path = out / fmt.shard_name(index)
                shard_hashes = [ds.clips[i].hash for i in members]
                kept = _reusable(path, shard_hashes)
                if kept is not None:
                    tensors, digest = kept
                    reused += 1
                else:
                    t0 = time.perf_counter()
                    tensors = _run_teacher(model, fe, ds, members, rate, device, cfg.batch_size, advance)
                    digest = fmt.write_shard(path, tensors["logits"], shard_hashes, tensors.get("attention"))
                    seconds += time.perf_counter() - t0
                    computed_clips += len(members)
                    written += 1
                    if on_shard_written is not None:
                        on_shard_written(index, path)
                if kept is not None:
                    advance(len(members))
                if has_attention is None:
                    has_attention = "attention" in tensors
                    teacher_frames = int(tensors["attention"].shape[1]) if has_attention else None
                records.append({"file": path.name, "n": len(members), "sha256": digest})
        meta.update(shards=records, has_attention=bool(has_attention), teacher_frames=teacher_frames, complete=True)
        fmt.write_meta(out, meta)  # last: only now does the cache open as complete
        _write_report(out, ds, labels, order, records, seconds, computed_clips)
    except (OSError, OutputError) as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise CacheError(
                f"{out}: disk full after {len(records)} of {len(shards)} shard(s); free space and re-run the same command to resume (the cache is marked incomplete)"
            ) from None
        raise
    if not has_attention:
        log(f"note: {identity['name']} returned no attention weights; the cache holds logits only")
    rate_cps = computed_clips / seconds if seconds > 0 else None
    return ExportResult(out, len(order), len(shards), written, reused, seconds, rate_cps)


def _write_report(out: Path, ds: Any, labels: list[str], order: list[int], records: list[dict[str, Any]],
                  seconds: float, computed: int) -> None:
    """report.md: the teacher's accuracy per split from the cached logits, and the export's speed."""
    from tinykd.teacher.report import write_cache_report

    preds: list[int] = []
    for rec in records:
        tensors, _ = fmt.read_shard(out / rec["file"])
        preds.extend(int(k) for k in np.asarray(tensors["logits"]).argmax(axis=1))
    by_split: dict[str, list[bool]] = {}
    for row, i in enumerate(order):
        clip = ds.clips[i]
        by_split.setdefault(clip.split, []).append(preds[row] == labels.index(clip.label))
    accuracy = {k: {"accuracy": float(np.mean(v)), "n": len(v)} for k, v in by_split.items() if v}
    write_cache_report(out, accuracy, seconds, computed / seconds if seconds > 0 and computed else None)


def _plan_differences(old: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    """What differs between an existing cache's record and this export's plan, in words ([] when the same)."""
    diffs = []
    old_teacher = old.get("teacher") if isinstance(old.get("teacher"), dict) else {}
    if old_teacher != meta["teacher"]:
        new_teacher = meta["teacher"]
        changed = [f"{k} {old_teacher.get(k)} -> {new_teacher.get(k)}" for k in ("name", "config_hash", "weights_hash")
                   if old_teacher.get(k) != new_teacher.get(k)]
        diffs.append(f"teacher ({', '.join(changed)})")
    if old.get("labels") != meta["labels"]:
        diffs.append(f"label map ({old.get('labels')} -> {meta['labels']})")
    if old.get("dataset_fingerprint") != meta["dataset_fingerprint"]:
        diffs.append(f"data set (fingerprint {old.get('dataset_fingerprint')} -> {meta['dataset_fingerprint']})")
    if old.get("shard_size") != meta["shard_size"]:
        diffs.append(f"shard size ({old.get('shard_size')} -> {meta['shard_size']})")
    if not diffs and old.get("plan_hash") != meta["plan_hash"]:
        diffs.append("plan (clip order)")
    return diffs


def _prepare_folder(out: Path, meta: dict[str, Any], overwrite: bool, log: Callable[[str], None],
                    inputs: list = ()) -> ExportResult | None:
    """Decide what to do with the output folder (tinykd.artifacts.prepare_output's rule: only a cache folder is
    ever replaced); an ExportResult when there is nothing left to do."""
    cache = CacheDir(out)
    check_output(cache, resume=True)  # a file, a link or a folder that is not a cache is refused here
    if not out.exists() or all(p.name == MARKER for p in out.iterdir()):
        prepare_output(cache)
        return None
    try:
        old: dict[str, Any] | None = fmt.read_meta(out)
    except CacheError as exc:
        if not overwrite and (out / fmt.META_FILE).exists():
            raise CacheError(f"{exc} (pass --overwrite to replace this cache)") from None
        old = None  # an export stopped before its first meta.json (or --overwrite): start over
    if overwrite or old is None:
        _, replaced = prepare_output(cache, force=True, inputs=inputs)
        log(f"{replaced}; exporting anew" if overwrite else f"{out}: an export that stopped before writing "
            f"{fmt.META_FILE} was found; {replaced}")
        return None
    diffs = _plan_differences(old, meta)
    soft_labels_differ = [d for d in diffs if not d.startswith("shard size")]
    if old.get("complete") is True and not soft_labels_differ:
        note = f" (its shards hold {old.get('shard_size')} clips each; --shard-size applies to a new export)" if diffs else ""
        log(f"{out}: already a complete cache of this teacher and data; nothing to do{note}")
        shards = old.get("shards") if isinstance(old.get("shards"), list) else []
        n = old.get("n_clips") if isinstance(old.get("n_clips"), int) else 0
        return ExportResult(out, n, len(shards), 0, len(shards), 0.0, None, already_complete=True)
    if old.get("complete") is True:
        raise CacheError(f"{out}: holds a complete cache made with another {'; another '.join(soft_labels_differ)}; "
                         "pass --overwrite to replace it, or another --out")
    if diffs:
        _, replaced = prepare_output(cache, force=True, inputs=inputs)
        log(f"{out}: an unfinished export with another {'; another '.join(diffs)} was found; {replaced}")
    else:
        log(f"{out}: resuming an unfinished export")
    return None


def _reusable(path: Path, shard_hashes: list[str]) -> tuple[dict[str, np.ndarray], str] | None:
    """A shard left by an interrupted run of the same plan: (tensors, sha256), or None to recompute it."""
    if not path.is_file():
        return None
    try:
        tensors, hashes = fmt.read_shard(path)
    except CacheError:
        return None
    if hashes != shard_hashes:
        return None
    return tensors, fmt.file_sha256(path)


def _run_teacher(model, fe, ds, members: list[int], rate: int, device, batch_size: int, advance) -> dict[str, np.ndarray]:
    logits, attention = [], []
    with torch.inference_mode():
        for start in range(0, len(members), batch_size):
            batch = members[start : start + batch_size]
            x = np.stack([ds.clip_audio(i) for i in batch])
            if rate != ds.sample_rate:
                from tinykd.data.audio import fit_length, resample

                n = int(round(x.shape[1] * rate / ds.sample_rate))
                x = np.stack([fit_length(resample(clip, ds.sample_rate, rate), n) for clip in x]).astype(np.float32)
            out = model(**model_inputs(fe, x, rate, device), output_attentions=True)
            logits.append(out.logits.float().cpu().numpy())
            atts = getattr(out, "attentions", None)
            if atts:
                attention.append(temporal_weights([a.float().cpu().numpy() for a in atts]))
            advance(len(batch))
    tensors = {"logits": np.concatenate(logits).astype(np.float32)}
    if attention:
        tensors["attention"] = np.concatenate(attention)
    return tensors
