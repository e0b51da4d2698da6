"""Building and loading teacher models (torch + transformers), and the teacher's identity.

BASE for fine-tuning is one of: `tiny` (a small Wav2Vec2 from scratch), a local directory written by
`save_pretrained` (weights must be safetensors: tinykd never unpickles), or a Hugging Face hub id (needs a
network, or the model already in the local hub cache). `trust_remote_code` is never set.

Input: the raw waveform at the data set's sample rate, normalised per utterance (zero mean, divided by
sqrt(var + 1e-7)), exactly what Wav2Vec2's feature extractor does with `do_normalize=True`. A model directory
that brings its own feature extractor (`preprocessor_config.json`) gets its inputs from that extractor, so
other audio classifiers work too; the tiny teacher saves a Wav2Vec2 feature extractor with those settings.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tinykd.artifacts import TeacherDir
from tinykd.configio import hash_file, load_json, os_reason
from tinykd.errors import TinykdError
from tinykd.frontend.spec import DEFAULT_SPEC
from tinykd.teacher.config import Masking, TinyTeacherSize

HUB_OFFLINE_HINT = "pass a local model directory or `tiny` instead"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TinykdError("device cuda requested but torch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(name)


def tiny_config(size: TinyTeacherSize, labels: list[str] | None, masking: Masking | None = None,
                extra: dict[str, Any] | None = None):
    """The Wav2Vec2Config of a from-scratch tiny teacher; `masking` sets Wav2Vec2's SpecAugment (tiny defaults:
    `Masking.TINY`), None leaves it off. `labels` None: no classification head settings (pretraining);
    `extra`: further config fields (the quantizer's, for pretraining)."""
    from transformers import Wav2Vec2Config

    cfg = Wav2Vec2Config(
        hidden_size=size.hidden_size,
        num_hidden_layers=size.num_hidden_layers,
        num_attention_heads=size.num_attention_heads,
        intermediate_size=size.intermediate_size,
        conv_dim=list(size.conv_dim),
        conv_kernel=list(size.conv_kernel),
        conv_stride=list(size.conv_stride),
        num_conv_pos_embeddings=size.num_conv_pos_embeddings,
        num_conv_pos_embedding_groups=size.num_conv_pos_embedding_groups,
        hidden_dropout=size.dropout,
        attention_dropout=size.dropout,
        activation_dropout=size.dropout,
        final_dropout=size.dropout,
        # The recipe that trains from scratch (FIELD-NOTES): pre-norm, layer-normed conv encoder (with group
        # norm + time masking the run collapsed to chance; with layer norm light masking trains, docs/teacher.md).
        do_stable_layer_norm=True,
        feat_extract_norm="layer",
        conv_bias=True,
        apply_spec_augment=False,
        mask_time_prob=0.0,
        layerdrop=0.0,
        classifier_proj_size=size.hidden_size,
        **(label_kwargs(labels) if labels is not None else {}),
        **(extra or {}),
    )
    if masking is not None:
        for key, value in masking.config_overrides(tiny=True).items():
            setattr(cfg, key, value)
    return cfg


def init_filterbank(model, size: TinyTeacherSize, sample_rate: int) -> None:
    """Start the feature encoder's first conv layer as the filterbank `size.filterbank` names (in place).

    "mel": conv_dim[0] / 4 bands, centres evenly spaced on the mel scale from 60 Hz to 7.6 kHz (or 0.475 of the
    rate), each a Hann-windowed cosine and sine of the band's centre at unit norm, each with both signs. After
    the layer's norm and GELU the four phases of a band are its half-wave rectified quadrature pair, whose sum
    follows the band's envelope: a short-time spectrum from the first step, where a random init has to discover
    one from the labels (the from-scratch tiny teacher reached the same held-out accuracy 1.7x sooner with it,
    docs/teacher.md). "learned": Wav2Vec2's own random init, untouched."""
    if size.filterbank == "learned":
        return
    import math

    encoder = getattr(model, "wav2vec2", model).feature_extractor
    conv = encoder.conv_layers[0].conv
    out_ch, _, taps = conv.weight.shape
    bands = out_ch // 4
    hi = min(7600.0, 0.475 * sample_rate)
    lo = min(60.0, hi / 4)
    mel_lo, mel_hi = 2595.0 * math.log10(1 + lo / 700.0), 2595.0 * math.log10(1 + hi / 700.0)
    centres = 700.0 * (10 ** ((mel_lo + (mel_hi - mel_lo) * (torch.arange(bands, dtype=torch.float64) + 0.5) / bands) / 2595.0) - 1)
    n = torch.arange(taps, dtype=torch.float64)
    window = torch.hann_window(taps, periodic=False, dtype=torch.float64)
    phase = 2 * math.pi * centres[:, None] * n[None, :] / sample_rate
    cos, sin = window * torch.cos(phase), window * torch.sin(phase)
    cos, sin = cos / cos.norm(dim=1, keepdim=True), sin / sin.norm(dim=1, keepdim=True)
    bank = torch.stack([cos, -cos, sin, -sin], dim=1).reshape(out_ch, taps)
    with torch.no_grad():
        conv.weight.copy_(bank.to(conv.weight.dtype)[:, None, :])
        if conv.bias is not None:
            conv.bias.zero_()


def label_kwargs(labels: list[str]) -> dict[str, Any]:
    return {
        "num_labels": len(labels),
        "id2label": {i: name for i, name in enumerate(labels)},
        "label2id": {name: i for i, name in enumerate(labels)},
    }


def default_feature_extractor(sample_rate: int):
    """Wav2Vec2's extractor: per-utterance normalisation with the front end's epsilon (1e-7)."""
    from transformers import Wav2Vec2FeatureExtractor

    if DEFAULT_SPEC.norm_eps != 1e-7:  # pragma: no cover - guards the documented equivalence
        raise AssertionError("Wav2Vec2FeatureExtractor normalises with eps 1e-7")
    return Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=sample_rate, padding_value=0.0, do_normalize=True, return_attention_mask=False
    )


def _is_weights_dir(path: Path) -> bool:
    return any(path.glob("*.safetensors"))


def _check_local_dir(path: Path) -> None:
    if not (path / TeacherDir.HF_CONFIG).is_file():
        raise TinykdError(f"{path}: no config.json; not a model directory written by save_pretrained")
    if not _is_weights_dir(path):
        pickled = [p.name for p in path.glob("*.bin")] + [p.name for p in path.glob("*.pt*")]
        extra = f" (found {', '.join(sorted(pickled))}: pickle files are not loaded; convert to safetensors)" if pickled else ""
        raise TinykdError(f"{path}: no model weights (*.safetensors){extra}")


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def load_for_finetuning(base: str, labels: list[str], tiny: TinyTeacherSize, sample_rate: int,
                        masking: Masking | None = None):
    """(model, feature_extractor, base_name) ready to fine-tune on `labels`; `masking` overrides the base's
    SpecAugment settings (a pretrained tinykd base carries its fine-tuning defaults, as the hub's do)."""
    from transformers import AutoModelForAudioClassification, Wav2Vec2ForSequenceClassification

    masking = masking if masking is not None else Masking()
    if base == "tiny":
        model = Wav2Vec2ForSequenceClassification(tiny_config(tiny, labels, masking))
        init_filterbank(model, tiny, sample_rate)
        return model, default_feature_extractor(sample_rate), "tiny"
    path = Path(base).expanduser()
    kwargs = dict(ignore_mismatched_sizes=True, use_safetensors=True, trust_remote_code=False, **label_kwargs(labels),
                  **masking.config_overrides(tiny=False))
    if path.exists():
        if not path.is_dir():
            raise TinykdError(f"{path}: a teacher base must be a model directory, a hub id or `tiny`")
        _check_local_dir(path)
        # A tinykd pretraining or teacher base: its quantizer or word head is replaced by a new head, as expected.
        quiet = (path / "tinykd_pretrain.json").is_file() or (path / TeacherDir.BASE_RECORD).is_file()
        model = _from_pretrained(AutoModelForAudioClassification, str(path), base, local_files_only=True, quiet=quiet, **kwargs)
        return model, _feature_extractor_or_default(str(path), sample_rate, local_files_only=True), str(path)
    # A hub id: the local hub cache first, so an offline machine never waits on the network.
    try:
        model = AutoModelForAudioClassification.from_pretrained(base, local_files_only=True, **kwargs)
        return model, _feature_extractor_or_default(base, sample_rate, local_files_only=True), base
    except (OSError, ValueError):
        pass
    if _hub_offline():
        raise TinykdError(f"{base!r} is not a local directory and is not in the hub cache, and HF_HUB_OFFLINE is set; {HUB_OFFLINE_HINT}")
    _require_hub_connection(base)
    model = _from_pretrained(AutoModelForAudioClassification, base, base, local_files_only=False, **kwargs)
    return model, _feature_extractor_or_default(base, sample_rate, local_files_only=False), base


def _require_hub_connection(base: str, timeout: float = 3.0) -> None:
    """Fail in seconds without a network (the hub client would retry for a minute before giving up)."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise TinykdError(f"{base!r} is not a local directory or in the hub cache, and {host} cannot be reached ({exc}); {HUB_OFFLINE_HINT}") from None


def _from_pretrained(cls, where: str, name: str, quiet: bool = False, **kwargs):
    """`cls.from_pretrained` with one-line errors; `quiet` hides transformers' report of the weights it dropped
    and added (expected when a `teacher pretrain` folder becomes a classifier)."""
    from safetensors import SafetensorError
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # tinykd draws its own progress; a stray bar would split the error line
    level = hf_logging.get_verbosity()
    try:
        if quiet:
            hf_logging.set_verbosity_error()
        return cls.from_pretrained(where, **kwargs)
    except SafetensorError as exc:  # a truncated or corrupt weights file
        raise TinykdError(f"{name}: cannot read the model weights ({str(exc)[:160]}); the .safetensors file is "
                          "truncated or corrupt: copy it again or train the teacher again") from None
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, PermissionError):
            first = f"permission denied: {exc.filename or where}"
        if kwargs.get("local_files_only"):
            raise TinykdError(f"{name}: cannot load the model ({first[:200]})") from None
        raise TinykdError(f"{name!r}: cannot download or load it from the Hugging Face hub ({first[:160]}); {HUB_OFFLINE_HINT}") from None
    finally:
        hf_logging.set_verbosity(level)


def _feature_extractor_or_default(where: str, sample_rate: int, local_files_only: bool):
    from transformers import AutoFeatureExtractor

    try:
        fe = AutoFeatureExtractor.from_pretrained(where, local_files_only=local_files_only, trust_remote_code=False)
    except (OSError, ValueError, KeyError):
        return default_feature_extractor(sample_rate)
    rate = getattr(fe, "sampling_rate", sample_rate)
    if rate != sample_rate:
        raise TinykdError(f"{where}: the model expects {rate} Hz audio but the data is loaded at {sample_rate} Hz; set the data sample rate to {rate}")
    return fe


def load_teacher(path: str | Path, attentions: bool = True):
    """(model, feature_extractor) of a trained teacher directory, eval mode, eager attention when needed."""
    from transformers import AutoModelForAudioClassification

    path = Path(path)
    if not path.is_dir():
        raise TinykdError(f"{path}: teacher directory not found (train one with `tinykd teacher train`)")
    _check_local_dir(path)
    kwargs: dict[str, Any] = dict(local_files_only=True, use_safetensors=True, trust_remote_code=False)
    if attentions:
        # SDPA returns no attention weights (FIELD-NOTES); rollout needs them.
        kwargs["attn_implementation"] = "eager"
    model = _from_pretrained(AutoModelForAudioClassification, str(path), str(path), **kwargs)
    model.eval()
    sample_rate = teacher_sample_rate(path)
    return model, _feature_extractor_or_default(str(path), sample_rate, local_files_only=True)


def teacher_sample_rate(path: Path) -> int:
    """The rate a teacher takes: its training record, else its feature extractor's, else the front end's."""
    path = Path(path)
    for file, keys in ((path / TeacherDir.META, ("data_config", "sample_rate")), (path / TeacherDir.PREPROCESSOR, ("sampling_rate",))):
        if not file.is_file():
            continue
        try:
            value = json.loads(file.read_text(encoding="utf-8"))
            for key in keys:
                value = value[key]
        except (KeyError, TypeError, ValueError, OSError):
            continue
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return DEFAULT_SPEC.sample_rate


def model_inputs(fe, x: np.ndarray, sample_rate: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Waveforms [batch, samples] -> the model's keyword inputs on `device`."""
    feats = fe(list(np.asarray(x, dtype=np.float32)), sampling_rate=sample_rate, return_tensors="pt", padding=False)
    return {k: v.to(device) for k, v in feats.items() if k in ("input_values", "input_features")}


def teacher_identity(path: str | Path, model=None) -> dict[str, str]:
    """name, config_hash, weights_hash: what a cache records to say which teacher made it."""
    path = Path(path)
    config = load_json(path / TeacherDir.HF_CONFIG)
    if not isinstance(config, dict):
        raise TinykdError(f"{path / TeacherDir.HF_CONFIG}: not a JSON object; not a model config")
    # Version fields change when re-saved by a newer transformers; the model does not.
    for key in ("transformers_version", "_name_or_path", "_attn_implementation_autoset"):
        config.pop(key, None)
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    h = hashlib.sha256()
    for weights in sorted(path.glob("*.safetensors")):
        try:
            hash_file(h, weights)
        except OSError as exc:
            raise TinykdError(f"{weights}: cannot read it ({os_reason(exc)})") from None
    return {"name": path.resolve().name, "config_hash": config_hash, "weights_hash": h.hexdigest()[:16]}
