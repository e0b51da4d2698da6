"""Writing the set: the output folder's replacement rules, the clips, manifest.csv, README.md, speech.json."""

from __future__ import annotations

import csv
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from tinykd.configio import atomic_write_bytes, atomic_write_text, load_json, save_json, to_dict
from tinykd.errors import DatasetError
from tinykd.data.speech.config import CHUNK, GENERATOR, MANIFEST, MARKER, PARTIAL, README, SpeechSynthConfig
from tinykd.data.speech.engine import Espeak
from tinykd.data.speech.render import _babble_pool, render_clip
from tinykd.data.speech.voices import _stable_hash, plan_voices

# -- the output folder ------------------------------------------------------------------------------------
def _wav_bytes(x: np.ndarray, sr: int, subtype: str) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def _inside(out: Path, rel: str) -> Path:
    """`out/rel`, refusing anything that would land outside `out` (a tampered marker, an odd label)."""
    parts = Path(rel).parts
    if not parts or Path(rel).is_absolute() or any(p in ("", ".", "..") for p in parts):
        raise DatasetError(f"{out}: refusing path {rel!r} outside the data set folder")
    path = out / rel
    if not path.resolve().is_relative_to(out.resolve()):
        raise DatasetError(f"{out}: refusing path {rel!r} outside the data set folder")
    return path


def _own_files(out: Path) -> list[str] | None:
    """Relative paths an earlier speech set (finished or interrupted) says it wrote, or None if there is none."""
    for name in (MARKER, PARTIAL):
        p = out / name
        if p.is_file():
            meta = load_json(p)
            if not isinstance(meta, dict) or meta.get("generator") != GENERATOR or not isinstance(meta.get("files"), list):
                raise DatasetError(f"{p}: not a {GENERATOR} marker; choose an empty or new folder")
            return [str(f) for f in meta["files"]]
    return None


def _prepare_out(out: Path) -> None:
    """Make sure `out` is new, empty, or an earlier speech set; remove only what that set wrote.

    Anything else in the folder (a file the earlier set did not write) stops the run before anything
    is deleted, so nothing foreign is ever removed or mixed into the new set.
    """
    if out.is_symlink():
        raise DatasetError(f"{out}: is a symbolic link; give the real folder (nothing is written through a link)")
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: exists and is not a folder; choose a new output folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    files = _own_files(out)
    if files is None:
        raise DatasetError(f"{out}: folder is not empty and holds no {MARKER}; choose an empty or new folder")
    own = {str(_inside(out, f).relative_to(out).as_posix()) for f in files} | {MARKER, PARTIAL, MANIFEST, README}
    own_dirs = {Path(f).parent.as_posix() for f in own} - {"."}
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if p.is_dir() and not p.is_symlink() and rel in own_dirs:
            continue
        if rel in own and (p.is_file() or p.is_symlink()):
            continue
        if p.name.startswith(".") and p.name.endswith(".tmp") and Path(rel).parent.as_posix() in own_dirs | {"."}:
            continue  # an atomic write cut short
        raise DatasetError(f"{out}: holds {rel!r}, which the earlier speech set did not write; move it or choose another folder")
    for p in sorted(out.rglob("*"), key=lambda q: len(q.parts), reverse=True):
        if p.is_dir() and not p.is_symlink():
            p.rmdir()
        else:
            p.unlink()


def synthesize_speech(out_dir: str | Path, config: SpeechSynthConfig | None = None, *, progress: bool = False,
                      espeak_library: str | Path | None = None, espeak_data: str | Path | None = None,
                      workers: int | None = None) -> dict:
    """Write the spoken-word set to `out_dir` and return the contents of its `speech.json`.

    Layout: `<label>/<accent>+<variant>_<label>_<i>.wav`, `manifest.csv` (path,label,speaker,split and what
    was done to each clip), `README.md`, and `speech.json` (config, voices, split, espeak version, file
    list), written last: a folder without it is not a finished set. `out_dir` must be new, empty, or an
    earlier speech set (which is replaced). `espeak_library`/`espeak_data` point at another libespeak-ng.
    `workers` threads (default: the CPU count, at most 4) overlap the signal processing; the output does
    not depend on it.
    """
    config = config or SpeechSynthConfig()
    config.validate()
    out = Path(out_dir)
    with Espeak(espeak_library, espeak_data) as engine:
        voices, infos = plan_voices(config, engine)
        words = config.word_list()
        jobs = [(label, text, v, i) for label, text in words for v in voices for i in range(config.clips_per_voice)]
        rel_paths = [f"{label}/{v.name}_{label}_{i:02d}.wav" for label, text, v, i in jobs]
        _prepare_out(out)
        out.mkdir(parents=True, exist_ok=True)
        base = {"generator": GENERATOR, "config": to_dict(config), "files": rel_paths}
        save_json(out / PARTIAL, base)
        pool = _babble_pool(engine, config)
        rows = []
        bar = None
        if progress:
            from rich.progress import Progress

            bar = Progress(transient=True)
            bar.start()
            task = bar.add_task("speaking", total=len(jobs))

        def render(job):
            _label, text, voice, i = job
            rng = np.random.default_rng([config.seed, _stable_hash(text), _stable_hash(voice.name), i])
            return render_clip(text, voice, config, rng, engine, pool)

        workers = max(1, min(int(workers or os.cpu_count() or 1), 4))
        executor = ThreadPoolExecutor(workers)  # espeak runs one utterance at a time; the signal work overlaps
        try:
            for start in range(0, len(jobs), CHUNK):  # in chunks, so finished clips never pile up in memory
                chunk = jobs[start : start + CHUNK]
                for (label, text, voice, i), rel, (x, facts) in zip(chunk, rel_paths[start:], executor.map(render, chunk)):
                    atomic_write_bytes(_inside(out, rel), _wav_bytes(x, config.sample_rate, config.subtype))
                    rows.append({"path": rel, "label": label, "speaker": voice.name, "split": voice.split,
                                 "accent": voice.accent, "variant": voice.variant, "family": voice.family,
                                 **asdict(facts)})
                    if bar is not None:
                        bar.advance(task)
        finally:
            executor.shutdown(cancel_futures=True)
            if bar is not None:
                bar.stop()
        version = engine.version
    _write_manifest(out / MANIFEST, rows)
    meta = {
        **base,
        "espeak": {"version": version, "library": engine.library_source.name, "sample_rate": engine.sample_rate},
        "classes": [{"label": label, "text": text} for label, text in words],
        "voices": [asdict(v) for v in voices],
        "families": {f: sorted(i.name for i in infos if i.family == f) for f in sorted({i.family for i in infos})},
        "counts": {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")},
        "n_files": len(rows),
        "stats": _stats(rows),
    }
    atomic_write_text(out / README, _readme(config, meta))
    save_json(out / MARKER, meta)
    (out / PARTIAL).unlink()
    return meta


def _write_manifest(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _stats(rows: list[dict]) -> dict:
    def summary(values) -> dict:
        a = np.asarray(values, dtype=np.float64)
        return {"min": round(float(a.min()), 3), "mean": round(float(a.mean()), 3), "max": round(float(a.max()), 3)}

    return {
        "word_s": summary([r["word_s"] for r in rows]),
        "onset_s": summary([r["onset_s"] for r in rows]),
        "peak_dbfs": summary([r["peak_dbfs"] for r in rows]),
        "snr_db": summary([r["snr_db"] for r in rows]),
        "rate_wpm": summary([r["rate_wpm"] for r in rows]),
        "compressed": int(sum(bool(r["compressed"]) for r in rows)),
        "reverberant": int(sum(r["rt60_s"] > 0 for r in rows)),
        "babble": int(sum(r["noise"] == "babble" for r in rows)),
    }


def _readme(config: SpeechSynthConfig, meta: dict) -> str:
    voices = meta["voices"]
    by_split = {s: sorted({v["variant"] for v in voices if v["split"] == s}, key=str.lower) for s in ("train", "val", "test")}
    st = meta["stats"]
    classes = ", ".join(f"`{c['label']}`" + (f" ({c['text']})" if c["text"] != c["label"] else "") for c in meta["classes"])
    return f"""# tinykd spoken-word data (synthesized)

Made by `{GENERATOR}` (seed {config.seed}) with eSpeak NG {meta['espeak']['version']} (libespeak-ng from the
`espeakng-loader` wheel, rendered at {meta['espeak']['sample_rate']} Hz and resampled to {config.sample_rate} Hz):
{len(meta['classes'])} words x {len(voices)} voices x {config.clips_per_voice} clip(s) = {meta['n_files']} clips of
{config.clip_seconds:g} s, WAV {config.subtype}.

Classes: {classes}.

Voices: {len(config.accents)} accents ({', '.join(config.accents)}) x {len(voices) // len(config.accents)} variants.
Each voice has its own base pitch, pitch range and speaking rate; each clip varies them and takes a random
sentence tune. Split by voice variant family (variants with the same vocal tract go together), read by
`tinykd.data.load_dataset` from `{MANIFEST}` as the data set's own split ({meta['counts']['train']} train /
{meta['counts']['val']} val / {meta['counts']['test']} test clips):
- test variants: {', '.join(by_split['test'])}
- validation variants: {', '.join(by_split['val']) or 'none'}

Per clip: peak level {config.peak_dbfs[0]:g}..{config.peak_dbfs[1]:g} dBFS, random onset, random 3-band EQ
(+-{config.eq_db:g} dB), a synthetic room (RT60 {config.rt60_s[0]:g}-{config.rt60_s[1]:g} s) for
{st['reverberant']} clips, background noise at {config.snr_db[0]:g}-{config.snr_db[1]:g} dB SNR (babble of
other-language synthetic speech for {st['babble']} clips, coloured noise for the rest). Words last
{st['word_s']['min']:.2f}-{st['word_s']['max']:.2f} s (mean {st['word_s']['mean']:.2f}); {st['compressed']} were
re-spoken faster to fit the clip. `{MANIFEST}` lists every clip's settings; `{MARKER}` the configuration.

What this is not: recorded speech. There are no real speakers, only rule-based voices of one formant
synthesizer; articulation is clean and identical every time a voice says a word with the same settings;
no coarticulation with a sentence, no disfluencies, no real microphones, rooms or noise; accents are
espeak's approximations. A model that does well here has learned synthetic words; test it on recordings
(FSDD for the digits, Speech Commands for the command words) before believing it.
"""
