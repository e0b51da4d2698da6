"""The soft-label cache: format, writer helpers and the reader (`SoftLabelCache`). Never imports torch.

A cache is a DIRECTORY:
- `meta.json`: format/version, `complete` (written true LAST, after every shard), label map, teacher identity
  (name, config_hash, weights_hash), dataset fingerprint, data config, sample rate, teacher frame count,
  and the shard list (file, clip count, sha256).
- `shard-00000.safetensors`, ...: tensors `logits` float32 [n, C] and, when the teacher exposes attentions,
  `attention` float32 [n, T_teacher] (attention rollout, rows sum to 1); the clips' content hashes are the
  JSON list `hashes` in the safetensors metadata. Each shard is written atomically (temp file + rename).

The Keras side opens a cache with `SoftLabelCache.open(path)`, calls `.check(dataset)` before training (stale
or mismatched caches raise `CacheError` instead of giving wrong targets), then looks rows up by clip hash.

meta.json is data from a file: `open` checks every field it uses (type and shape), and a shard's `file` must be
a file inside the cache folder (`tinykd.configio.confined_path`): a crafted entry such as "../../etc/hostname"
is refused without being opened.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save

from tinykd.artifacts import CacheDir
from tinykd.configio import atomic_write_bytes, confined_path, hash_file, os_reason, save_json
from tinykd.errors import CacheError, TinykdError

FORMAT, VERSION = CacheDir.FORMAT, CacheDir.VERSION
META_FILE, SHARD_GLOB = CacheDir.META, CacheDir.SHARD_GLOB
shard_name = CacheDir.shard_name


def write_shard(path: Path, logits: np.ndarray, hashes: Sequence[str], attention: np.ndarray | None) -> str:
    """Write one shard atomically; returns its sha256 (recorded in meta.json, checked on open)."""
    tensors = {"logits": np.ascontiguousarray(logits, dtype=np.float32)}
    if attention is not None:
        tensors["attention"] = np.ascontiguousarray(attention, dtype=np.float32)
    blob = save(tensors, metadata={"hashes": json.dumps(list(hashes))})
    atomic_write_bytes(path, blob)
    return hashlib.sha256(blob).hexdigest()


def write_meta(cache_dir: Path, meta: dict[str, Any]) -> None:
    save_json(cache_dir / META_FILE, {"format": FORMAT, "version": VERSION, **meta})


def read_meta(cache_dir: Path) -> dict[str, Any]:
    """meta.json of a cache folder; CacheError when absent or not a tinykd cache."""
    return CacheDir(cache_dir).meta()


def read_shard(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """(tensors, hashes) of one shard; CacheError when unreadable."""
    try:
        with safe_open(str(path), framework="numpy") as fh:
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}
            hashes = json.loads((fh.metadata() or {}).get("hashes", "null"))
    except (OSError, SafetensorError, ValueError) as exc:
        raise CacheError(f"{path}: unreadable shard ({exc}); re-run `tinykd teacher export` to rewrite it") from None
    if not isinstance(hashes, list) or "logits" not in tensors or len(hashes) != len(tensors["logits"]):
        raise CacheError(f"{path}: shard without matching logits and hashes; re-run `tinykd teacher export`")
    return tensors, [str(h) for h in hashes]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        hash_file(h, path)
    except OSError as exc:
        raise CacheError(f"{path}: cannot read the shard ({os_reason(exc)})") from None
    return h.hexdigest()


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_complete_meta(path: Path, meta: dict[str, Any]) -> list[tuple[Path, dict[str, Any]]]:
    """The fields a complete cache's meta.json must have, checked; returns (shard file, record) pairs with every
    file confined to the cache folder. CacheError naming the first bad field otherwise."""
    where = path / META_FILE

    def bad(field: str, want: str) -> CacheError:
        return CacheError(f"{where}: {field} must be {want}; the cache is corrupt, re-run `tinykd teacher export --overwrite`")

    labels = meta.get("labels")
    if not (isinstance(labels, list) and labels and all(isinstance(v, str) for v in labels)):
        raise bad("labels", "a non-empty list of class names")
    teacher = meta.get("teacher")
    if not (isinstance(teacher, dict) and all(isinstance(teacher.get(k), str) for k in ("name", "config_hash", "weights_hash"))):
        raise bad("teacher", "an object with name, config_hash and weights_hash")
    if not isinstance(meta.get("dataset_fingerprint"), str):
        raise bad("dataset_fingerprint", "a string")
    if not isinstance(meta.get("has_attention", False), bool):
        raise bad("has_attention", "true or false")
    frames = meta.get("teacher_frames")
    if frames is not None and not (_is_int(frames) and frames > 0):
        raise bad("teacher_frames", "a positive integer or null")
    shards = meta.get("shards")
    if not isinstance(shards, list):
        raise bad("shards", "a list of shard records")
    out = []
    for i, rec in enumerate(shards):
        if not (isinstance(rec, dict) and isinstance(rec.get("file"), str) and _is_int(rec.get("n")) and rec["n"] >= 0
                and isinstance(rec.get("sha256"), str)):
            raise bad(f"shards[{i}]", "an object with file (a name), n (a count) and sha256")
        try:
            out.append((confined_path(path, rec["file"], what="shard"), rec))
        except TinykdError as exc:
            raise CacheError(str(exc)) from None
    return out


def resample_weights(weights: np.ndarray, n_frames: int) -> np.ndarray:
    """[n, T] rows summing to 1 -> [n, n_frames] by linear interpolation over frame centres, rows sum to 1."""
    weights = np.asarray(weights, dtype=np.float64)
    if n_frames < 1:
        raise CacheError(f"attention: n_frames must be >= 1, got {n_frames}")
    t = weights.shape[1]
    src = (np.arange(t) + 0.5) / t
    dst = (np.arange(n_frames) + 0.5) / n_frames
    out = np.stack([np.interp(dst, src, row) for row in weights]) if len(weights) else np.zeros((0, n_frames))
    total = out.sum(axis=1, keepdims=True)
    out = np.where(total > 0, out / np.where(total > 0, total, 1.0), 1.0 / n_frames)
    return out.astype(np.float32)


class SoftLabelCache:
    """Read-only view of a complete cache, held in memory (a few floats per clip)."""

    def __init__(self, path: Path, meta: dict[str, Any], logits: np.ndarray, attention: np.ndarray | None, hashes: list[str]):
        self.path = path
        self.meta = meta
        self._logits = logits
        self._attention = attention
        self.hashes = hashes
        self._row = {h: i for i, h in enumerate(hashes)}

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> "SoftLabelCache":
        path = Path(path)
        if not path.is_dir():
            raise CacheError(f"{path}: soft-label cache folder not found (make one with `tinykd teacher export`)")
        meta = read_meta(path)
        if meta.get("complete") is not True:
            raise CacheError(f"{path}: incomplete cache (export was interrupted); re-run `tinykd teacher export` with the same arguments to finish it")
        logits, attention, hashes = [], [], []
        shards = check_complete_meta(path, meta)
        n_classes = len(meta["labels"])
        for file, shard in shards:
            if not file.is_file():
                raise CacheError(f"{file}: shard missing from a cache marked complete; re-run `tinykd teacher export --overwrite`")
            if file_sha256(file) != shard["sha256"]:
                raise CacheError(f"{file}: shard contents changed since export (checksum mismatch); re-run `tinykd teacher export --overwrite`")
            tensors, shard_hashes = read_shard(file)
            rows = tensors["logits"]
            if rows.ndim != 2 or rows.shape != (shard["n"], n_classes) or rows.dtype != np.float32:
                raise CacheError(f"{file}: logits of shape {list(rows.shape)} ({rows.dtype}), expected [{shard['n']}, "
                                 f"{n_classes}] float32; re-run `tinykd teacher export --overwrite`")
            logits.append(rows)
            if meta.get("has_attention"):
                att = tensors.get("attention")
                if att is None or att.ndim != 2 or len(att) != len(rows) or att.shape[1] < 1:
                    raise CacheError(f"{file}: no attention rows for its {len(rows)} clips though meta.json says "
                                     "has_attention; re-run `tinykd teacher export --overwrite`")
                attention.append(att)
            hashes.extend(shard_hashes)
        all_logits = np.concatenate(logits) if logits else np.zeros((0, n_classes), np.float32)
        if len({a.shape[1] for a in attention}) > 1:
            raise CacheError(f"{path}: shards hold attention of different lengths; re-run `tinykd teacher export --overwrite`")
        all_attention = np.concatenate(attention).astype(np.float32) if attention else None
        return cls(path, meta, all_logits, all_attention, hashes)

    # -- identity ------------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return list(self.meta["labels"])

    @property
    def teacher(self) -> dict[str, str]:
        return dict(self.meta["teacher"])

    @property
    def dataset_fingerprint(self) -> str:
        return str(self.meta["dataset_fingerprint"])

    @property
    def teacher_frames(self) -> int | None:
        return self.meta.get("teacher_frames")

    @property
    def has_attention(self) -> bool:
        return self._attention is not None

    def __len__(self) -> int:
        return len(self.hashes)

    def __contains__(self, clip_hash: str) -> bool:
        return clip_hash in self._row

    # -- lookups -------------------------------------------------------------------------------
    def _rows(self, hashes: Sequence[str]) -> np.ndarray:
        try:
            return np.fromiter((self._row[h] for h in hashes), dtype=np.int64, count=len(hashes))
        except KeyError as exc:
            missing = sum(h not in self._row for h in hashes)
            raise CacheError(
                f"{self.path}: {missing} clip(s) not in the cache (first: {exc.args[0]}); the data changed since export, re-run `tinykd teacher export`"
            ) from None

    def logits(self, hashes: Sequence[str]) -> np.ndarray:
        """Teacher logits [n, C] float32 of the clips with these content hashes, in that order."""
        return self._logits[self._rows(hashes)]

    def attention(self, hashes: Sequence[str], n_frames: int) -> np.ndarray:
        """Teacher temporal weights [n, n_frames] float32, interpolated to the student's frame count; rows sum to 1."""
        if self._attention is None:
            raise CacheError(f"{self.path}: the teacher exposed no attention weights, so the cache has none; distil without the attention term")
        return resample_weights(self._attention[self._rows(hashes)], int(n_frames))

    # -- staleness -----------------------------------------------------------------------------
    def check(self, dataset: Any, teacher: dict[str, str] | None = None) -> None:
        """CacheError unless this cache was made from `dataset` (a tinykd.data Dataset) [and `teacher`]."""
        labels = list(dataset.labels)
        if labels != self.labels:
            raise CacheError(f"{self.path}: cache label map {self.labels} differs from the data's {labels}; re-export the cache for this data")
        fingerprint = dataset.fingerprint()
        if fingerprint != self.dataset_fingerprint:
            missing = sum(c.hash not in self._row for c in dataset.clips)
            detail = f", {missing} of its {len(dataset.clips)} clips are not cached" if missing else ""
            raise CacheError(
                f"{self.path}: made from another data set (fingerprint {self.dataset_fingerprint}, data has {fingerprint}{detail}); "
                "re-run `tinykd teacher export` on this data"
            )
        missing = [c.hash for c in dataset.clips if c.hash not in self._row]
        if missing:
            raise CacheError(f"{self.path}: {len(missing)} clip(s) of the data are not cached (first: {missing[0]}); re-run `tinykd teacher export`")
        if teacher is not None:
            mine = self.teacher
            diff = [k for k in ("config_hash", "weights_hash") if teacher.get(k) != mine.get(k)]
            if diff:
                raise CacheError(
                    f"{self.path}: made by teacher {mine.get('name')} ({', '.join(f'{k} {mine.get(k)}' for k in diff)}), "
                    f"not the expected {teacher.get('name')}; re-export with that teacher"
                )
