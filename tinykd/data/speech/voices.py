"""Voices: espeak accents x voice variants, grouped into vocal-tract families and split by family."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tinykd.errors import DatasetError
from tinykd.data.speech.config import DEFAULT_PITCH, ENGLISH_ACCENTS, EXCLUDED_VARIANTS, FAMILY_TOLERANCE, HIGH_REGISTER_HZ, SpeechSynthConfig
from tinykd.data.speech.engine import Espeak

# -- voices: variants, families, split -------------------------------------------------------------------
@dataclass(frozen=True)
class VariantInfo:
    name: str
    formants: tuple[float, ...]  # frequency factors (percent) of formants 1-5 from the variant file
    pitch_hz: tuple[float, float]  # the variant's pitch base and top
    register: str  # "low" or "high" (pitch base >= HIGH_REGISTER_HZ)
    family: str = ""  # variants sharing a vocal tract share a family (and a split)


@dataclass(frozen=True)
class VoiceSpec:
    name: str  # "accent+variant", what espeak is given
    accent: str
    variant: str
    family: str
    split: str  # train | val | test
    rate_wpm: float  # this voice's base speaking rate
    pitch: float  # base espeak pitch setting
    pitch_range: float  # base espeak range setting


def read_variant(path: Path) -> VariantInfo:
    """The facts of an espeak variant file that matter for grouping: formant frequencies and pitch."""
    formants = [100.0] * 6
    pitch = DEFAULT_PITCH
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read variant file ({exc.strerror or exc})") from None
    for line in lines:
        tok = line.split("//")[0].split("#")[0].split()
        if len(tok) < 3:
            continue
        try:
            if tok[0].lower() == "formant" and 0 <= int(tok[1]) <= 5:
                formants[int(tok[1])] = float(tok[2])
            elif tok[0].lower() == "pitch":
                pitch = (float(tok[1]), float(tok[2]))
        except ValueError:
            continue
    register = "high" if pitch[0] >= HIGH_REGISTER_HZ else "low"
    return VariantInfo(path.name, tuple(formants[1:]), pitch, register)


def group_families(variants: list[VariantInfo]) -> list[VariantInfo]:
    """Union variants whose formant factors all lie within FAMILY_TOLERANCE; name a family by its first member."""
    parent = list(range(len(variants)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    f = np.array([v.formants for v in variants], dtype=np.float64)
    for i in range(len(variants)):
        for j in range(i + 1, len(variants)):
            if np.abs(f[i] - f[j]).max() <= FAMILY_TOLERANCE:
                parent[find(j)] = find(i)
    members: dict[int, list[int]] = {}
    for i in range(len(variants)):
        members.setdefault(find(i), []).append(i)
    out = list(variants)
    for group in members.values():
        name = min((variants[i].name for i in group), key=str.lower)
        for i in group:
            out[i] = replace(variants[i], family=name)
    return out


def _is_default_tract(v: VariantInfo) -> bool:
    return max(abs(x - 100.0) for x in v.formants) <= FAMILY_TOLERANCE


def split_families(variants: list[VariantInfo], config: SpeechSynthConfig) -> dict[str, str]:
    """family -> split. Whole families go to test/val, stratified by register, seeded.

    The family with espeak's default vocal tract stays in training: the babble noise is spoken in it.
    """
    families: dict[str, list[VariantInfo]] = {}
    for v in variants:
        families.setdefault(v.family, []).append(v)
    if len(families) < (3 if config.val_fraction > 0 else 2):
        raise DatasetError(
            f"variants: {len(families)} voice family(ies) ({', '.join(sorted(families))}) cannot make a speaker-held-out "
            f"split; give more variants (families are variants with the same vocal tract)"
        )
    split = {name: "train" for name in families}
    fixed = {name for name, vs in families.items() if any(_is_default_tract(v) for v in vs)}
    rng = np.random.default_rng([config.seed, _stable_hash("split")])
    for register in ("low", "high"):
        names = sorted((n for n, vs in families.items() if vs[0].register == register and n not in fixed), key=str.lower)
        if not names:
            continue
        total = sum(len(families[n]) for n in names)
        order = [names[i] for i in rng.permutation(len(names))]
        for part, fraction in (("test", config.test_fraction), ("val", config.val_fraction)):
            target, taken = fraction * total, 0
            while order and taken < target and len(order) > 1:
                name = order.pop(0)
                split[name] = part
                taken += len(families[name])
    for part, fraction in (("test", config.test_fraction), ("val", config.val_fraction)):
        if fraction > 0 and part not in split.values():  # tiny variant lists: take one family from training
            spare = sorted((n for n, s in split.items() if s == "train" and n not in fixed), key=str.lower)
            if len(spare) < 2:
                raise DatasetError(f"variants: too few voice families for a {part} split; give more variants")
            split[spare[int(rng.integers(len(spare)))]] = part
    return split


def plan_voices(config: SpeechSynthConfig, engine: Espeak) -> tuple[list[VoiceSpec], list[VariantInfo]]:
    """Every voice (accent x variant) with its family, split and base prosody."""
    available = engine.variant_names()
    if config.variants is None:
        names = [n for n in available if n not in EXCLUDED_VARIANTS]
    else:
        lookup = {n.lower(): n for n in available}
        missing = [v for v in config.variants if v.lower() not in lookup]
        if missing:
            raise DatasetError(f"variants: {', '.join(missing)} not in {engine.data / 'voices' / '!v'}; "
                               f"available: {', '.join(available)}")
        names = [lookup[v.lower()] for v in config.variants]
    for accent in config.accents:
        if not engine.accent_exists(accent):
            raise DatasetError(f"accents: espeak has no voice {accent!r}; English ones: {', '.join(ENGLISH_ACCENTS)}")
    infos = group_families([read_variant(engine.data / "voices" / "!v" / n) for n in names])
    split = split_families(infos, config)
    voices = []
    for accent in config.accents:
        for info in infos:
            name = f"{accent}+{info.name}"
            rng = np.random.default_rng([config.seed, _stable_hash("voice"), _stable_hash(name)])
            lo, hi = config.rate_wpm
            voices.append(VoiceSpec(
                name=name, accent=accent, variant=info.name, family=info.family, split=split[info.family],
                rate_wpm=round(float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), 2),
                pitch=round(float(rng.uniform(*config.pitch)), 2),
                pitch_range=round(float(rng.uniform(*config.pitch_range)), 2),
            ))
    return voices, infos


def _stable_hash(text: str) -> int:
    """A 64-bit integer from a string, the same on every machine and run (unlike hash())."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
