"""The spoken-word generator (tinykd.data.speech): real eSpeak NG through ctypes, small sets, a few seconds.

Covers determinism (bit for bit, per clip, whatever else is made), the manifest layout with its
speaker-held-out split as `load_dataset` reads it, the configured classes/voices/levels/durations,
time compression, the output-folder rules, one-line errors for bad configs and for a missing library.
Tests that need libespeak-ng skip cleanly when the `espeakng-loader` wheel is absent; the missing-library
tests run either way.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tinykd.data import DataConfig, load_dataset
from tinykd.data.speech import (
    ENGLISH_ACCENTS,
    EXCLUDED_VARIANTS,
    MANIFEST,
    MARKER,
    PARTIAL,
    SpeechSynthConfig,
    group_families,
    read_variant,
    synthesize_speech,
)
from tinykd.errors import DatasetError, TinykdError

HAVE_ESPEAK = importlib.util.find_spec("espeakng_loader") is not None
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeakng-loader not installed (pip install espeakng-loader)")
# Six variants in five vocal-tract families (Diogo and Hugo share one), low and high voices, both engines.
VARIANTS = ("m3", "f2", "klatt3", "Diogo", "Hugo", "f1")
WORDS = ("yes", "no", "go")


def small(**kw) -> SpeechSynthConfig:
    base = dict(words=WORDS, accents=("en-us", "en"), variants=VARIANTS, clips_per_voice=1, seed=3)
    return SpeechSynthConfig(**{**base, **kw})


def variants_dir() -> Path:
    import espeakng_loader

    return Path(espeakng_loader.__file__).parent / "espeak-ng-data" / "voices" / "!v"


def manifest_rows(root: Path) -> list[dict]:
    with (root / MANIFEST).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def wavs(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*.wav"))


@pytest.fixture(scope="module")
def speech_root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("speech") / "set"
    synthesize_speech(out, small(clips_per_voice=2), workers=2)
    return out


# -- determinism -------------------------------------------------------------------------------------------
@needs_espeak
def test_bit_identical_for_a_seed_and_different_for_another(tmp_path, speech_root):
    synthesize_speech(tmp_path / "again", small(clips_per_voice=2), workers=1)  # another thread count, same bytes
    synthesize_speech(tmp_path / "other", small(clips_per_voice=2, seed=4))
    files = wavs(speech_root)
    assert len(files) == len(WORDS) * 2 * len(VARIANTS) * 2 == len(wavs(tmp_path / "again"))
    for rel in files:
        a = (speech_root / rel).read_bytes()
        assert a == (tmp_path / "again" / rel).read_bytes(), rel
        assert a != (tmp_path / "other" / rel).read_bytes(), rel
    assert (speech_root / MANIFEST).read_bytes() == (tmp_path / "again" / MANIFEST).read_bytes()
    assert (speech_root / MARKER).read_bytes() == (tmp_path / "again" / MARKER).read_bytes()


@needs_espeak
def test_a_clip_does_not_depend_on_what_else_is_made(tmp_path, speech_root):
    """espeak keeps state between utterances in C statics; every clip must still come out the same."""
    synthesize_speech(tmp_path / "few", small(words=("go", "yes"), accents=("en",), variants=("klatt3", "f1", "m1", "Hugo")))
    shared = [rel for rel in wavs(tmp_path / "few") if (speech_root / rel).exists()]
    assert len(shared) == 2 * 3  # go/yes x klatt3/f1/Hugo, index 00
    for rel in shared:
        assert (tmp_path / "few" / rel).read_bytes() == (speech_root / rel).read_bytes(), rel


# -- layout and split ---------------------------------------------------------------------------------------
@needs_espeak
def test_loads_with_the_speaker_held_out_split(speech_root):
    ds = load_dataset(speech_root, DataConfig(split="auto"))
    assert ds.format == "csv" and not ds.problems
    assert ds.split_how == "the dataset's own split"
    assert ds.labels == sorted(WORDS)
    assert ds.speakers == sorted(f"{a}+{v}" for a in ("en-us", "en") for v in VARIANTS)
    assert {c.source_rate for c in ds.clips} == {16000} and {c.frames for c in ds.clips} == {16000}
    split_of = {}
    for c in ds.clips:
        assert split_of.setdefault(c.speaker, c.split) == c.split  # a voice is in one split only
    rows = manifest_rows(speech_root)
    family = {r["variant"]: r["family"] for r in rows}
    assert family["Diogo"] == family["Hugo"] != family["m3"]
    by_family: dict[str, set[str]] = {}
    for r in rows:
        by_family.setdefault(r["family"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_family.values()), by_family  # same vocal tract, same split
    assert {c.split for c in ds.clips} == {"train", "val", "test"}
    # klatt3 has espeak's default vocal tract, the one the babble is spoken in: it stays in training
    assert {r["split"] for r in rows if r["variant"] == "klatt3"} == {"train"}
    # every word is in every split, equally often within it
    for split in ("train", "val", "test"):
        counts = [sum(c.label == w and c.split == split for c in ds.clips) for w in WORDS]
        assert len(set(counts)) == 1 and counts[0] > 0


@needs_espeak
def test_marker_readme_and_manifest_describe_the_set(speech_root):
    meta = json.loads((speech_root / MARKER).read_text())
    assert meta["generator"] == "tinykd.data.speech" and meta["n_files"] == len(wavs(speech_root))
    assert sorted(meta["files"]) == sorted(rel.as_posix() for rel in wavs(speech_root))
    assert [c["label"] for c in meta["classes"]] == list(WORDS)
    assert meta["espeak"]["version"] and meta["espeak"]["sample_rate"] == 22050
    assert not (speech_root / PARTIAL).exists()
    readme = (speech_root / "README.md").read_text()
    assert readme.startswith("# tinykd spoken-word data") and "not: recorded speech" in readme
    voices = {v["name"]: v for v in meta["voices"]}
    assert len(voices) == 2 * len(VARIANTS)
    cfg = small()
    for v in voices.values():  # each voice has its own prosody inside the configured ranges
        assert cfg.rate_wpm[0] <= v["rate_wpm"] <= cfg.rate_wpm[1]
        assert cfg.pitch[0] <= v["pitch"] <= cfg.pitch[1] and cfg.pitch_range[0] <= v["pitch_range"] <= cfg.pitch_range[1]
    assert len({v["rate_wpm"] for v in voices.values()}) == len(voices)


@needs_espeak
def test_digits_preset_uses_fsdd_labels(tmp_path):
    meta = synthesize_speech(tmp_path / "d", small(words="digits", accents=("en-us",), variants=("m3", "f2", "Diogo")))
    assert [c["label"] for c in meta["classes"]] == [str(i) for i in range(10)]
    assert meta["classes"][7]["text"] == "seven"
    rows = manifest_rows(tmp_path / "d")
    assert {r["label"] for r in rows} == {str(i) for i in range(10)} and {r["text"] for r in rows if r["label"] == "0"} == {"zero"}
    ds = load_dataset(tmp_path / "d", DataConfig(split="auto", labels=tuple(str(i) for i in range(10))))
    assert not ds.problems and len(ds.clips) == 30


@needs_espeak
def test_default_voices_are_the_wheels_human_variants():
    names = sorted(p.name for p in variants_dir().iterdir())
    kept = [n for n in names if n not in EXCLUDED_VARIANTS]
    assert {"m1", "m7", "f1", "f5", "klatt"} <= set(kept) and not {"whisper", "robosoft"} & set(kept)
    assert set(EXCLUDED_VARIANTS) <= set(names)  # the exclusion list names real files of this wheel
    infos = group_families([read_variant(variants_dir() / n) for n in kept])
    fam = {i.name: i.family for i in infos}
    assert fam["Diogo"] == fam["Henrique"] == fam["Hugo"] and fam["klatt"] == fam["klatt6"] == fam["m6"]
    assert len({fam["m1"], fam["m3"], fam["f1"], fam["f2"]}) == 4
    assert {i.register for i in infos if i.name in ("f1", "f5", "zac")} == {"high"}
    assert {i.register for i in infos if i.name in ("m1", "m3", "klatt")} == {"low"}
    assert ENGLISH_ACCENTS[0] == "en-us" and "en-shaw" not in ENGLISH_ACCENTS


# -- clip contents ---------------------------------------------------------------------------------------
@needs_espeak
def test_levels_onsets_and_durations_follow_the_config(speech_root):
    cfg = small()
    for r in manifest_rows(speech_root):
        x, sr = sf.read(speech_root / r["path"], dtype="float64")
        assert sr == 16000 and x.shape == (16000,) and np.isfinite(x).all()
        peak_db = 20 * np.log10(np.abs(x).max())
        assert cfg.peak_dbfs[0] - 0.01 <= peak_db <= cfg.peak_dbfs[1] + 0.01
        assert abs(peak_db - float(r["peak_dbfs"])) < 0.02  # the manifest says what the file holds
        assert cfg.snr_db[0] <= float(r["snr_db"]) <= cfg.snr_db[1]
        onset, word = float(r["onset_s"]), float(r["word_s"])
        assert 0 <= onset and 0.1 < word and onset + word <= cfg.clip_seconds + 1e-9
        assert r["tune"] in ("statement", "question", "exclamation", "continuation")
    rows = manifest_rows(speech_root)
    assert {r["noise"] == "babble" for r in rows} == {True, False}  # both kinds of background at the defaults
    assert {float(r["rt60_s"]) > 0 for r in rows} == {True, False}


@needs_espeak
def test_the_word_is_where_the_manifest_says(tmp_path):
    """Clean, dry clips: nearly all energy lies inside [onset, onset + word]; the peak is exactly the asked level."""
    cfg = small(snr_db=(50.0, 50.0), reverb_probability=0.0, peak_dbfs=(-10.0, -10.0), accents=("en-us",))
    synthesize_speech(tmp_path / "clean", cfg)
    for r in manifest_rows(tmp_path / "clean"):
        x, sr = sf.read(tmp_path / "clean" / r["path"], dtype="float64")
        a = int(round(float(r["onset_s"]) * sr))
        b = a + int(round(float(r["word_s"]) * sr))
        assert np.sum(x[a:b] ** 2) > 0.999 * np.sum(x**2), r["path"]
        assert abs(20 * np.log10(np.abs(x).max()) + 10.0) < 0.01


@needs_espeak
def test_long_words_are_spoken_faster_or_rejected(tmp_path):
    cfg = small(words=("refrigerator", "yes"), clip_seconds=0.5, accents=("en-us",), variants=("m3", "f2", "Diogo"))
    synthesize_speech(tmp_path / "fast", cfg)
    rows = [r for r in manifest_rows(tmp_path / "fast") if r["label"] == "refrigerator"]
    assert rows and all(r["compressed"] == "True" and float(r["word_s"]) <= 0.5 for r in rows)
    assert all(int(r["rate_wpm"]) > cfg.rate_wpm[1] for r in rows)
    with pytest.raises(DatasetError, match="'antidisestablishmentarianism' lasts .* even at 450 words/min"):
        synthesize_speech(tmp_path / "too_long", small(words=("antidisestablishmentarianism", "yes"), clip_seconds=0.5))


# -- the output folder -----------------------------------------------------------------------------------
@needs_espeak
def test_replaces_its_own_set_and_refuses_anything_else(tmp_path):
    out = tmp_path / "s"
    synthesize_speech(out, small(words=("yes", "no", "stop"), accents=("en",), variants=("m3", "f2", "Diogo")))
    synthesize_speech(out, small(words=("up", "down"), accents=("en",), variants=("m3", "f2", "Diogo")))
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["down", "up"]
    assert {r["label"] for r in manifest_rows(out)} == {"up", "down"}

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(DatasetError, match="not empty"):
        synthesize_speech(tmp_path / "mine", small())
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"

    (out / "up" / "my_take.wav").write_bytes(b"RIFF")  # a foreign file inside an earlier speech set
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(DatasetError, match="did not write"):
        synthesize_speech(out, small(words=("up", "down"), accents=("en",), variants=("m3", "f2", "Diogo")))
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # nothing was deleted

    (tmp_path / "synth").mkdir()
    (tmp_path / "synth" / "synth.json").write_text('{"generator": "tinykd.data.synth"}')
    with pytest.raises(DatasetError, match="holds no speech.json"):  # the other generator's set is not ours to replace
        synthesize_speech(tmp_path / "synth", small())

    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        synthesize_speech(tmp_path / "file", small())


@needs_espeak
def test_an_interrupted_run_is_cleaned_up_and_a_tampered_marker_cannot_escape(tmp_path):
    out = tmp_path / "s"
    cfg = small(words=("yes", "no"), accents=("en",), variants=("m3", "f2", "Diogo"))
    synthesize_speech(out, cfg)
    meta = json.loads((out / MARKER).read_text())
    (out / MARKER).rename(out / PARTIAL)  # as if the run had stopped before writing its marker
    (out / "README.md").unlink()
    synthesize_speech(out, cfg)
    assert (out / MARKER).is_file() and not (out / PARTIAL).exists()

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    meta["files"].append("../victim.txt")
    (out / MARKER).write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="outside the data set folder"):
        synthesize_speech(out, cfg)
    assert victim.read_text() == "keep me" and (out / MARKER).is_file()


# -- errors ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw,word",
    [({"words": ("yes",)}, "at least 2"), ({"words": ("yes", "yes")}, "duplicates"), ({"words": ("hello world", "no")}, "plain word"),
     ({"words": "yes,[[h@l'oU]]"}, "plain word"), ({"accents": ()}, "accents"), ({"accents": ("en us",)}, "accents"),
     ({"variants": ()}, "variants"), ({"clips_per_voice": 0}, "clips_per_voice"), ({"sample_rate": 4000}, "sample_rate"),
     ({"clip_seconds": 0.1}, "clip_seconds"), ({"test_fraction": 0.0}, "test_fraction"),
     ({"val_fraction": 0.9}, "test_fraction"), ({"peak_dbfs": (-3.0, -27.0)}, "peak_dbfs"), ({"snr_db": (30.0, 5.0)}, "snr_db"),
     ({"rate_wpm": (50.0, 150.0)}, "rate_wpm"), ({"pitch": (0.0, 120.0)}, "pitch"), ({"rt60_s": (0.0, 0.5)}, "rt60_s"),
     ({"babble_probability": 1.5}, "babble_probability"), ({"eq_db": -1.0}, "eq_db"), ({"subtype": "MP3"}, "subtype"),
     ({"variants": ("m3", "nosuchvoice")}, "nosuchvoice"), ({"accents": ("xx-nope",)}, "no voice 'xx-nope'"),
     ({"variants": ("m3", "f2")}, "voice family")],
)
@needs_espeak
def test_bad_config_is_a_dataset_error_and_touches_nothing(tmp_path, kw, word):
    with pytest.raises(DatasetError, match=word):
        synthesize_speech(tmp_path / "x", small(**kw))
    assert not (tmp_path / "x").exists()


def test_missing_or_broken_library_names_the_wheel(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYKD_ESPEAK_LIBRARY", raising=False)
    monkeypatch.delenv("TINYKD_ESPEAK_DATA", raising=False)
    data = tmp_path / "espeak-ng-data"  # looks like a data folder, so the library is what fails
    (data / "voices" / "!v").mkdir(parents=True)
    (data / "phontab").write_bytes(b"")
    garbage = tmp_path / "garbage.so"
    garbage.write_bytes(b"not a shared library")
    cases = [
        dict(espeak_library=tmp_path / "libespeak-ng.so.missing", espeak_data=data),
        dict(espeak_library=garbage, espeak_data=tmp_path / "no-espeak-ng-data"),
        dict(espeak_library=garbage, espeak_data=data),
    ]
    for kw, what in zip(cases, ("no libespeak-ng library there", "not an espeak-ng-data folder", "cannot load libespeak-ng")):
        with pytest.raises(TinykdError, match=f"{what}.*pip install espeakng-loader"):
            synthesize_speech(tmp_path / "out", small(), **kw)
    monkeypatch.setenv("TINYKD_ESPEAK_LIBRARY", str(tmp_path / "elsewhere.so"))
    monkeypatch.setenv("TINYKD_ESPEAK_DATA", str(data))
    with pytest.raises(TinykdError, match="elsewhere.so: no libespeak-ng library there"):
        synthesize_speech(tmp_path / "out", small())
    assert not (tmp_path / "out").exists()


def test_without_the_wheel_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYKD_ESPEAK_LIBRARY", raising=False)
    monkeypatch.delenv("TINYKD_ESPEAK_DATA", raising=False)
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # what `import` sees when the wheel is not installed
    with pytest.raises(TinykdError, match="needs eSpeak NG: pip install espeakng-loader"):
        synthesize_speech(tmp_path / "out", small())
    assert not (tmp_path / "out").exists()


@needs_espeak
def test_a_library_that_keeps_state_between_utterances_is_refused():
    """Pin the private copy (an extra handle keeps it loaded), so espeak's C statics survive between
    utterances: the reproducibility check must notice and refuse."""
    import ctypes

    from tinykd.data.speech import Espeak, _unload

    with Espeak() as engine:
        engine._check_fresh()  # unloaded after each utterance: passes
        pin = ctypes.CDLL(str(engine._lib_path))
        try:
            with pytest.raises(TinykdError, match="keeps state between utterances"):
                engine._check_fresh()
        finally:
            _unload(pin._handle)


@needs_espeak
def test_cli_makes_the_speech_set_by_default_and_replaces_it_only_with_force(tmp_path, capsys):
    from tinykd.cli import main

    out = tmp_path / "words"
    assert main(["data", "synth", str(out), "--words", "yes,no", "--clip-seconds", "0.5", "--sample-rate", "8000"]) == 0
    meta = json.loads((out / "speech.json").read_text())
    assert sorted(w for w, _ in SpeechSynthConfig(words="yes,no").word_list()) == sorted(p.name for p in out.iterdir() if p.is_dir())
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(meta["files"]) and {r["split"] for r in rows} >= {"train", "test"}
    assert "next: tinykd data info" in capsys.readouterr().out
    assert main(["data", "synth", str(out), "--words", "yes,no"]) == 2  # an earlier set stays without --force
    assert "pass --force" in capsys.readouterr().err
    assert json.loads((out / "speech.json").read_text()) == meta
