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

from tinykd.artifacts import TeacherDir
from tinykd.configio import to_dict
from tinykd.errors import CacheError, TinykdError
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
    overwrite: bool = False  # replace a complete cache made by another teacher or from other data


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
    path = teacher_dir / TeacherDir.LABELS
    if path.is_file():
        labels = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(labels, list) and all(isinstance(v, str) for v in labels):
            return labels
        raise TinykdError(f"{path}: expected a JSON list of class names")
    config = json.loads((teacher_dir / TeacherDir.HF_CONFIG).read_text(encoding="utf-8"))
    id2label = config.get("id2label") or {}
    return [str(id2label[k]) for k in sorted(id2label, key=int)]


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
    model, fe = load_teacher(teacher_dir, attentions=True)
    labels = teacher_labels(teacher_dir)
    if labels != list(ds.labels):
        raise TinykdError(
            f"{teacher_dir}: teacher label map {labels} does not match the data's {list(ds.labels)}; train a teacher on this data"
        )
    rate = teacher_sample_rate(teacher_dir)
    if rate != ds.sample_rate:
        raise TinykdError(f"{teacher_dir}: teacher takes {rate} Hz audio but the data is loaded at {ds.sample_rate} Hz; set --sample-rate {rate}")
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
        json.dumps({"teacher": identity, "labels": labels, "data": ds.fingerprint(), "shard_size": cfg.shard_size, "hashes": hashes}).encode()
    ).hexdigest()[:16]
    meta: dict[str, Any] = {
        "complete": False,
        "labels": labels,
        "teacher": identity,
        "teacher_dir": str(teacher_dir.resolve()),
        "dataset_fingerprint": ds.fingerprint(),
        "data_config": to_dict(ds.config),
        "sample_rate": ds.sample_rate,
        "n_clips": len(order),
        "shard_size": cfg.shard_size,
        "plan_hash": plan_hash,
    }

    done = _prepare_folder(out, meta, cfg.overwrite, log)
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
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise CacheError(
                f"{out}: disk full after {len(records)} of {len(shards)} shard(s); free space and re-run the same command to resume (the cache is marked incomplete)"
            ) from None
        raise
    if not has_attention:
        log(f"note: {identity['name']} returned no attention weights; the cache holds logits only")
    rate_cps = computed_clips / seconds if seconds > 0 else None
    return ExportResult(out, len(order), len(shards), written, reused, seconds, rate_cps)


def _prepare_folder(out: Path, meta: dict[str, Any], overwrite: bool, log: Callable[[str], None]) -> ExportResult | None:
    """Decide what to do with an existing folder; an ExportResult when there is nothing left to do."""
    if out.exists() and not out.is_dir():
        raise CacheError(f"{out}: exists and is not a folder; pass another --out")
    if not out.exists() or not any(out.iterdir()):
        return None
    if not (out / fmt.META_FILE).is_file():
        raise CacheError(f"{out}: folder is not empty and holds no cache; pass an empty or new --out")
    old = fmt.read_meta(out)
    same = old.get("plan_hash") == meta["plan_hash"]
    if old.get("complete") is True and same and not overwrite:
        log(f"{out}: already a complete cache of this teacher and data; nothing to do")
        n = int(old.get("n_clips", 0))
        return ExportResult(out, n, len(old.get("shards", [])), 0, len(old.get("shards", [])), 0.0, None, already_complete=True)
    if old.get("complete") is True and not same and not overwrite:
        raise CacheError(
            f"{out}: holds a complete cache of another teacher or data set (teacher {old.get('teacher', {}).get('name')}, "
            f"data {old.get('dataset_fingerprint')}); pass --overwrite or another --out"
        )
    if not same or overwrite:
        for shard in out.glob(fmt.SHARD_GLOB):
            shard.unlink()
        if not same and old.get("complete") is not True:
            log(f"{out}: an unfinished export of another teacher or data set was found; starting over")
    elif old.get("complete") is not True:
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
