"""`tinykd data`: inspect a data set, generate the built-in data (tinykd.data)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tinykd.cli.app import app, console
from tinykd.errors import DatasetError
from tinykd.frontend.spec import DEFAULT_SPEC

ALLOW_OUTSIDE_HELP = ("Read CSV manifest rows that name files outside the manifest's folder (refused by default: a "
                      "manifest may not reach into the rest of the machine).")

data_app = typer.Typer(help="Datasets: inspect a folder of audio, generate the built-in data.", no_args_is_help=True)
app.add_typer(data_app, name="data")

@data_app.command("info")
def data_info(
    data_dir: Path = typer.Argument(..., help="Data set folder, or a .csv manifest (path,label[,speaker][,split])."),
    format: str = typer.Option("auto", "--format", help="Layout: auto, tess, fsdd, folder or csv. auto: a CSV manifest, else FSDD or TESS file names (90 % must match), else folder-per-class."),
    split: str = typer.Option("auto", "--split", help="auto (the data set's own split, e.g. FSDD index 0-4 = test, else stratified random), random, or speaker:NAME (that speaker is the test set)."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", help="Share of the training pool held out as validation (stratified)."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", help="Share held out as test by a random split."),
    seed: int = typer.Option(0, "--seed", help="Seed for random splits."),
    sample_rate: Optional[int] = typer.Option(None, "--sample-rate", help=f"Rate clips are resampled to (Hz). Default: the front end's ({DEFAULT_SPEC.sample_rate})."),
    clip_seconds: float = typer.Option(1.0, "--clip-seconds", help="Length every clip is padded or cropped to (s)."),
    pad: str = typer.Option("center", "--pad", help="Where a short clip sits in the window (center, start, end); a long one keeps that part."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad file instead of listing it and going on."),
    allow_outside: bool = typer.Option(False, "--allow-outside", help=ALLOW_OUTSIDE_HELP),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the summary as JSON to this file."),
) -> None:
    """Scan a data set and print counts per class, speaker and split, sample rates, durations and every problem file.

    Every file is decoded and checked (corrupt, truncated, empty, zero-length, NaN/inf, out-of-range samples, duplicates, permissions) and resampled and padded exactly as training will see it. Bad files are listed and skipped unless --strict; folders that may not be read and splits that would be empty are listed too. Exit status 2 when no clip is usable.
    """
    from tinykd.configio import save_json
    from tinykd.data import DataConfig, load_dataset
    from tinykd.data.info import problem_lines, summarize, summary_tables

    rate = {} if sample_rate is None else {"sample_rate": sample_rate}
    cfg = DataConfig(format=format, split=split, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                     clip_seconds=clip_seconds, pad=pad, strict=strict, allow_outside=allow_outside, **rate)
    ds = load_dataset(data_dir, cfg, progress=True, keep_audio=False, diagnose=True)
    summary = summarize(ds)
    for table in summary_tables(summary):
        console.print(table)
    for line in problem_lines(summary):
        console.print(line, soft_wrap=True, highlight=False, markup=False)
    if json_out is not None:
        save_json(json_out, summary)
        console.print(f"summary written to {json_out}", soft_wrap=True, highlight=False, markup=False)
    if not ds.clips:
        raise DatasetError(f"{data_dir}: no usable audio clips ({summary['n_problems'] - 1} problem(s) listed above)")


@data_app.command("synth")
def data_synth(
    out_dir: Path = typer.Argument(..., help="Output folder: new or empty (an earlier set of the same kind is replaced with --force)."),
    kind: str = typer.Option("speech", "--kind", help="speech: spoken words by many synthetic voices (espeak-ng), a held-out-voice test split; tones: the source-filter generator (pitch contours, vowels)."),
    words: str = typer.Option("commands", "--words", help="speech: commands (10 Speech Commands words), digits, or a comma-separated word list."),
    clips_per_voice: int = typer.Option(1, "--clips-per-voice", help="speech: clips of every word by every voice."),
    classes: int = typer.Option(8, "--classes", help="tones: number of classes (1-24)."),
    clips_per_class: int = typer.Option(60, "--clips-per-class", help="tones: clips per class."),
    speakers: int = typer.Option(4, "--speakers", help="tones: number of synthetic speakers (base pitch and vocal-tract size)."),
    variation: float = typer.Option(1.0, "--variation", help="tones: scale of the random variation (0: none; higher: harder)."),
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed and options give the same files bit for bit."),
    sample_rate: int = typer.Option(DEFAULT_SPEC.sample_rate, "--sample-rate", help="Sample rate of the written WAVs (Hz)."),
    clip_seconds: float = typer.Option(1.0, "--clip-seconds", help="Length of every clip (s)."),
    force: bool = typer.Option(False, "--force", help="Replace OUT_DIR when it holds an earlier set of this kind (never another folder)."),
) -> None:
    """Generate a built-in data set, offline and deterministic (docs/data.md).

    speech (default): OUT/<word>/<voice>_<word>_<i>.wav spoken by espeak-ng's voices (accents x variants) with
    varied pitch, rate, level, noise, babble and room colouring; manifest.csv holds the split, whole voice
    families held out for test. TTS is not recorded speech: see OUT/README.md. tones: the source-filter
    generator, OUT/<class>/<speaker>_<class>_<i>.wav, OUT/synth.json.
    """
    if kind == "speech":
        from tinykd.data.speech import SpeechSynthConfig, synthesize_speech

        cfg = SpeechSynthConfig(words=words, clips_per_voice=clips_per_voice, seed=seed, sample_rate=sample_rate,
                                clip_seconds=clip_seconds)
        cfg.validate()
        if (out_dir / "speech.json").is_file() and not force:
            raise DatasetError(f"{out_dir}: holds an earlier speech set; pass --force to replace it")
        meta = synthesize_speech(out_dir, cfg, progress=True)
        n = meta.get("n_files", len(meta.get("files", [])))
        console.print(f"wrote {n} clips of {len(cfg.word_list())} words to {out_dir} (split in manifest.csv)",
                      soft_wrap=True, highlight=False, markup=False)
        console.print(f"next: tinykd data info {out_dir / 'manifest.csv'}", soft_wrap=True, highlight=False, markup=False)
        return
    if kind != "tones":
        raise DatasetError(f"--kind must be speech or tones, got {kind!r}")
    from tinykd.artifacts import SynthDir, prepare_output
    from tinykd.data.synth import SynthConfig, synthesize

    cfg = SynthConfig(n_classes=classes, clips_per_class=clips_per_class, n_speakers=speakers, seed=seed,
                      sample_rate=sample_rate, clip_seconds=clip_seconds, variation=variation)
    cfg.validate()  # a bad option is refused before anything is replaced
    _, replaced = prepare_output(SynthDir(out_dir), force=force, resumable=False)
    if replaced:
        console.print(replaced, soft_wrap=True, highlight=False, markup=False)
    meta = synthesize(out_dir, cfg, progress=True, prepared=True)
    console.print(f"wrote {meta['n_files']} clips ({len(meta['classes'])} classes x {clips_per_class}, "
                  f"{len(meta['speakers'])} speakers) to {out_dir}", soft_wrap=True, highlight=False, markup=False)
    console.print(f"next: tinykd data info {out_dir}", soft_wrap=True, highlight=False, markup=False)
