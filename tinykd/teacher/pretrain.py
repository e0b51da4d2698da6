"""Self-supervised pretraining of the tiny teacher on unlabeled audio (`tinykd teacher pretrain`).

The wav2vec 2.0 objective (Baevski et al., 2020) through transformers' `Wav2Vec2ForPreTraining`: spans of the
feature encoder's output are masked (replaced by a learned vector) before the transformer, the feature
encoder's output is also quantized by a Gumbel-softmax product quantizer, and the transformer's output at each
masked frame must pick the true quantized frame out of `num_negatives` distractors drawn from the masked frames
of the same clip (contrastive loss, temperature kappa), plus a diversity loss that keeps the codebook in use.
The Gumbel temperature decays geometrically from `gumbel_max` to `gumbel_min` over the run.

The audio: every clip of a data set tinykd.data reads (labels are ignored), or any folder of .wav/.flac files
(the "folder" layout: one clip per file, cut or padded to `clip_seconds`), minus the clips of the speakers in
`exclude_speakers`. The held-out speaker of a leave-one-speaker-out fold is excluded there, so the teacher
has heard none of the test voice, labelled or not (docs/teacher.md says why).

The output folder (`PretrainDir`, kind "pretrained") is a `save_pretrained` directory that `tinykd teacher train
--base DIR` fine-tunes: `config.json` (its masking set to the fine-tuning defaults, as the hub's wav2vec2-base
has 0.05 and not the pretraining 0.65), `model.safetensors` (encoder, transformer, quantizer; fine-tuning keeps
the first two and adds a classification head), `preprocessor_config.json`, `tinykd_pretrain.json` (settings,
data, excluded speakers, per-epoch history, status: `complete` only after the last epoch).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from tinykd.artifacts import PretrainDir, TeacherDir, check_output, prepare_output  # noqa: F401  (PretrainDir: public here too)
from tinykd.configio import load_json, save_json, to_dict
from tinykd.errors import TinykdError
from tinykd.teacher.config import DEVICES, AugmentConfig, Masking, TinyTeacherSize
from tinykd.teacher.model import default_feature_extractor, init_filterbank, model_inputs, resolve_device, tiny_config
from tinykd.teacher.progress import ProgressBar


@dataclass(frozen=True)
class PretrainConfig:
    epochs: int = 40
    batch_size: int = 32
    lr: float = 1e-3  # peak AdamW learning rate
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1  # linear warm-up, then linear decay to 0
    mask_time_prob: float = 0.65  # wav2vec 2.0: p = 0.065 per frame as a span start, spans of 10 (~49 % masked)
    mask_time_ms: float = 200.0  # span length in milliseconds (10 frames of 20 ms in wav2vec 2.0)
    num_negatives: int = 16
    codevector_groups: int = 2
    codevectors_per_group: int = 64
    codevector_dim: int = 128
    proj_codevector_dim: int = 64
    contrastive_temperature: float = 0.1
    diversity_loss_weight: float = 0.1
    gumbel_max: float = 2.0
    gumbel_min: float = 0.5
    augment: bool = True  # speed/pitch/noise (not mixup) on the clips, as in fine-tuning: more distinct views
    augmentation: AugmentConfig = field(default_factory=lambda: AugmentConfig(mixup_alpha=0.0))
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    tiny: TinyTeacherSize = field(default_factory=TinyTeacherSize)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise TinykdError("teacher pretrain: epochs and batch size must be >= 1")
        if not self.lr > 0:
            raise TinykdError(f"teacher pretrain: learning rate must be > 0, got {self.lr}")
        if not 0 < self.mask_time_prob < 1:
            raise TinykdError(f"teacher pretrain: mask_time_prob must be in (0, 1), got {self.mask_time_prob}")
        if self.num_negatives < 1 or self.codevector_groups < 1 or self.codevectors_per_group < 2:
            raise TinykdError("teacher pretrain: num_negatives >= 1, codevector_groups >= 1, codevectors_per_group >= 2")
        if self.codevector_dim % self.codevector_groups:
            raise TinykdError(f"teacher pretrain: codevector_dim {self.codevector_dim} is not divisible by "
                              f"codevector_groups {self.codevector_groups}")
        if not 0 < self.gumbel_min <= self.gumbel_max:
            raise TinykdError("teacher pretrain: need 0 < gumbel_min <= gumbel_max")
        if self.device not in DEVICES:
            raise TinykdError(f"teacher pretrain: device must be one of {', '.join(DEVICES)}, got {self.device!r}")


@dataclass
class PretrainResult:
    out_dir: Path
    n_clips: int
    history: list[dict[str, Any]]


def frame_stride(size: TinyTeacherSize) -> int:
    return int(math.prod(size.conv_stride))


def pretrain_config(cfg: PretrainConfig, sample_rate: int):
    """The Wav2Vec2Config for pretraining: the tiny size, the quantizer and the contrastive task."""
    span = max(1, int(round(cfg.mask_time_ms / 1000.0 * sample_rate / frame_stride(cfg.tiny))))
    return tiny_config(cfg.tiny, None, Masking(mask_time_prob=cfg.mask_time_prob, mask_time_length=span,
                                               mask_feature_prob=0.0), extra={
        "num_negatives": cfg.num_negatives,
        "num_codevector_groups": cfg.codevector_groups,
        "num_codevectors_per_group": cfg.codevectors_per_group,
        "codevector_dim": cfg.codevector_dim,
        "proj_codevector_dim": cfg.proj_codevector_dim,
        "contrastive_logits_temperature": cfg.contrastive_temperature,
        "diversity_loss_weight": cfg.diversity_loss_weight,
        "feat_quantizer_dropout": 0.0,
    })


def sample_negatives(rng: np.random.Generator, mask: np.ndarray, num_negatives: int) -> np.ndarray:
    """[batch, frames, K] flat indices (into batch * frames) of distractors for every masked frame: drawn
    uniformly from the other masked frames of the same clip (transformers' `_sample_negative_indices`, with
    our random stream). Unmasked frames get index 0 (their loss is ignored)."""
    batch, frames = mask.shape
    out = np.zeros((batch, frames, num_negatives), dtype=np.int64)
    for b in range(batch):
        where = np.flatnonzero(mask[b])
        if len(where) < 2:
            continue
        draw = rng.integers(0, len(where) - 1, size=(len(where), num_negatives))
        draw[draw >= np.arange(len(where))[:, None]] += 1  # never the frame itself
        out[b, where] = where[draw] + b * frames
    return out


def time_mask(rng: np.random.Generator, batch: int, frames: int, prob: float, span: int) -> np.ndarray:
    """Boolean [batch, frames]: about prob * frames / span spans of `span` frames per clip (at least 2 spans, as
    transformers' `_compute_mask_indices` with min_masks 2), drawn from `rng`."""
    span = min(span, frames)
    n_spans = int(prob * frames / span + rng.random())
    n_spans = max(2, min(n_spans, frames - span + 1))
    mask = np.zeros((batch, frames), dtype=bool)
    for b in range(batch):
        starts = rng.choice(frames - span + 1, size=min(n_spans, frames - span + 1), replace=False)
        for s in starts:
            mask[b, s : s + span] = True
    return mask


def load_unlabeled(source: str | Path, data_config, exclude_speakers: tuple[str, ...] = ()) -> tuple[np.ndarray, dict]:
    """Every clip of the folder (any layout tinykd.data reads; a flat folder of audio files is one "class"),
    minus the excluded speakers' clips: (x float32 [n, samples], a record of what was used)."""
    from tinykd.data import load_dataset

    ds = load_dataset(source, data_config, require_splits=())
    speakers = set(ds.speakers)
    unknown = [s for s in exclude_speakers if s not in speakers]
    if unknown:
        raise TinykdError(f"{source}: --exclude-speaker {', '.join(unknown)}: no such speaker here "
                          f"(speakers: {', '.join(sorted(speakers))})")
    keep = [i for i, c in enumerate(ds.clips) if c.speaker not in set(exclude_speakers)]
    if not keep:
        raise TinykdError(f"{source}: no clips left after excluding {', '.join(exclude_speakers)}")
    x = np.stack([ds.clip_audio(i) for i in keep]).astype(np.float32)
    record = {"root": str(Path(source).resolve()), "n_clips": len(keep), "excluded_speakers": list(exclude_speakers),
              "speakers": sorted({ds.clips[i].speaker for i in keep}), "dataset_fingerprint": ds.fingerprint(),
              "data_config": to_dict(data_config), "problems_skipped": len(ds.problems)}
    return x, record


def pretrain(
    source: str | Path,
    out_dir: str | Path,
    cfg: PretrainConfig = PretrainConfig(),
    data_config: Any = None,
    exclude_speakers: tuple[str, ...] = (),
    progress: bool = True,
    log: Callable[[str], None] = print,
    force: bool = False,
) -> PretrainResult:
    """Pretrain a tiny Wav2Vec2 on the unlabeled clips of `source` into `out_dir` (see the module docstring)."""
    from tinykd.data import DataConfig

    out_dir = Path(out_dir)
    folder = PretrainDir(out_dir)
    check_output(folder, force=force, resumable=False, inputs=[source])
    data_config = data_config if data_config is not None else DataConfig()
    x, record = load_unlabeled(source, data_config, tuple(exclude_speakers))
    return pretrain_arrays(x, int(data_config.sample_rate), out_dir, cfg, record, progress=progress, log=log,
                           force=force, inputs=[source])


def pretrain_arrays(x: np.ndarray, sample_rate: int, out_dir: str | Path, cfg: PretrainConfig,
                    record: dict[str, Any] | None = None, progress: bool = True,
                    log: Callable[[str], None] = print, force: bool = False, inputs: list = ()) -> PretrainResult:
    """Pretrain on waveforms x float32 [n, samples] at `sample_rate`."""
    from transformers import Wav2Vec2ForPreTraining

    out_dir = Path(out_dir)
    folder = PretrainDir(out_dir)
    check_output(folder, force=force, resumable=False, inputs=inputs)
    if len(x) < 2:
        raise TinykdError(f"teacher pretrain: {len(x)} clip(s); pretraining needs at least 2")
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = resolve_device(cfg.device)
    config = pretrain_config(cfg, sample_rate)
    model = Wav2Vec2ForPreTraining(config)
    init_filterbank(model, cfg.tiny, sample_rate)
    fe = default_feature_extractor(sample_rate)
    frames = int(model._get_feat_extract_output_lengths(torch.tensor(x.shape[1])).item())
    if frames < 4:
        raise TinykdError(f"teacher pretrain: clips of {x.shape[1]} samples give {frames} frame(s); use longer clips")
    _, replaced = prepare_output(folder, force=force, resumable=False, inputs=inputs)
    if replaced:
        log(replaced)
    model.to(device)
    n_batches = math.ceil(len(x) / cfg.batch_size)
    total = n_batches * cfg.epochs
    warmup = int(cfg.warmup_ratio * total)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if warmup > 0 and s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    decay = (cfg.gumbel_min / cfg.gumbel_max) ** (1.0 / max(1, total - 1))
    meta: dict[str, Any] = {
        "status": "training", "objective": "wav2vec 2.0 contrastive + diversity (transformers Wav2Vec2ForPreTraining)",
        "sample_rate": sample_rate, "frames_per_clip": frames, "mask_time_length": config.mask_time_length,
        "pretrain_config": to_dict(cfg), "n_params": int(sum(p.numel() for p in model.parameters())),
        "data": record or {"n_clips": len(x)},
        "input_normalisation": "per utterance: (x - mean) / sqrt(var + 1e-7), Wav2Vec2 feature extractor",
    }
    save_json(out_dir / PretrainDir.META, meta)
    log(f"pretraining: {meta['n_params']:,} parameters, {len(x)} unlabeled clips, {frames} frames per clip "
        f"(spans of {config.mask_time_length}), device {device}")
    history: list[dict[str, Any]] = []
    step = 0
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = rng.permutation(len(x))
        sums = np.zeros(4)
        masked_total = 0
        with ProgressBar(progress, f"pretrain epoch {epoch}/{cfg.epochs}", n_batches) as advance:
            for b in range(n_batches):
                idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                xb = x[idx]
                if cfg.augment:
                    from tinykd.teacher.augment import augment_batch

                    xb = augment_batch(xb, rng, cfg.augmentation, sample_rate)
                mask = time_mask(rng, len(idx), frames, cfg.mask_time_prob, int(config.mask_time_length))
                negatives = sample_negatives(rng, mask, cfg.num_negatives)
                model.set_gumbel_temperature(max(cfg.gumbel_min, cfg.gumbel_max * decay**step))
                out = model(**model_inputs(fe, xb, sample_rate, device),
                            mask_time_indices=torch.as_tensor(mask, device=device),
                            sampled_negative_indices=torch.as_tensor(negatives, device=device))
                n_masked = int(mask.sum())
                loss = out.loss / n_masked  # the model sums over masked frames
                if not torch.isfinite(loss):
                    raise TinykdError(f"teacher pretrain: loss became {float(loss)} at epoch {epoch}, batch {b + 1}; "
                                      "lower --lr and run again")
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                with torch.no_grad():
                    cos = torch.cosine_similarity(out.projected_states, out.projected_quantized_states, dim=-1)
                    cos_masked = float(cos[torch.as_tensor(mask, device=device)].mean())
                sums += np.array([out.contrastive_loss.item(), out.diversity_loss.item(), cos_masked * n_masked,
                                  out.codevector_perplexity.item() * n_masked])
                masked_total += n_masked
                advance(1, f"loss {loss.item():.3f}")
        row = {"epoch": epoch, "contrastive_loss": sums[0] / masked_total, "diversity_loss": sums[1] / masked_total,
               "cosine_masked": sums[2] / masked_total, "codevector_perplexity": sums[3] / masked_total,
               "gumbel_temperature": float(model.quantizer.temperature), "lr": scheduler.get_last_lr()[0],
               "seconds": round(time.perf_counter() - t0, 2)}
        history.append(row)
        meta["history"] = history
        save_json(out_dir / PretrainDir.META, meta)
        log(f"pretrain epoch {epoch}: contrastive {row['contrastive_loss']:.3f} (chance {math.log(cfg.num_negatives + 1):.3f}), "
            f"diversity {row['diversity_loss']:.3f}, perplexity {row['codevector_perplexity']:.1f}, "
            f"cos {row['cosine_masked']:.3f} ({row['seconds']:.0f} s)")
    _save(model, fe, out_dir)
    meta.update(status="complete")
    save_json(out_dir / PretrainDir.META, meta)
    return PretrainResult(out_dir, len(x), history)


def _save(model, fe, out_dir: Path) -> None:
    """save_pretrained with the fine-tuning masking defaults in config.json (the pretraining's are recorded in
    tinykd_pretrain.json), each file moved in atomically."""
    from tinykd.teacher.train import _save_checkpoint

    for key, value in Masking().config_overrides(tiny=True).items():
        setattr(model.config, key, value)
    _save_checkpoint(model, fe, out_dir)


def pretrained_record(base: str | Path) -> dict[str, Any] | None:
    """What a `teacher pretrain` folder says about itself (data, excluded speakers, settings), or None when
    `base` is not one. Refuses an unfinished pretraining."""
    path = Path(base)
    if not (path / PretrainDir.META).is_file():
        return None
    meta = load_json(path / PretrainDir.META)
    if not isinstance(meta, dict):
        raise TinykdError(f"{path / PretrainDir.META}: not a JSON object; run `tinykd teacher pretrain` again")
    if meta.get("status") != "complete":
        raise TinykdError(f"{path}: the pretraining did not finish (status {meta.get('status')!r}); run "
                          "`tinykd teacher pretrain` again with --force")
    return {"dir": str(path.resolve()), "data": meta.get("data"), "sample_rate": meta.get("sample_rate"),
            "epochs": len(meta.get("history") or [])}
