"""The shared corpus of bad inputs for tests/test_hostile_inputs.py: real files, made in seconds.

Good artifacts first (a small built-in data set, a distilled tiny run, a soft-label cache written by the real
writer, a tiny teacher when torch is there, an int8 model with its quantize.json and C sources), then bad
copies of each: broken audio, hostile manifests and names, symlinks out, permission problems, and every
artifact kind with corrupt or crafted JSON, truncated or garbage weights and flatbuffers, and folders of the
wrong kind to point --out / --force at.

Everything lives under one folder (`Corpus.root`), so a test can snapshot the whole tree and prove a command
changed nothing outside its own output.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_helpers import noise_clip, write_wav
from distill_helpers import write_tiny_preset

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def has_torch() -> bool:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Corpus:
    root: Path
    paths: dict[str, Path] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Path:
        return self.paths[key]

    def add(self, key: str, path: Path) -> Path:
        self.paths[key] = path
        return path


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _good_data(c: Corpus) -> None:
    from tinykd.data.synth import SynthConfig, synthesize

    synthesize(c.add("good", c.root / "data" / "good"), SynthConfig(n_classes=2, clips_per_class=6, n_speakers=2, seed=0))


def _bad_data(c: Corpus) -> None:
    d = c.root / "data"
    good = c["good"]
    # Usable data with every kind of broken file among it: commands go on without them and list them.
    mixed = _copy(good, c.add("mixed", d / "mixed"))
    cls = sorted(p for p in mixed.iterdir() if p.is_dir())
    (cls[0] / "spk0_text.wav").write_text("not audio at all\n" * 20)
    (cls[0] / "spk0_empty.wav").write_bytes(b"")
    write_wav(cls[0] / "spk0_zero.wav", np.zeros(0, np.float32))
    nan = noise_clip("nan")
    nan[7] = np.nan
    write_wav(cls[1] / "spk1_nan.wav", nan, subtype="FLOAT")
    huge = noise_clip("huge")
    huge[::50] = 1e30
    write_wav(cls[1] / "spk1_huge.wav", huge, subtype="FLOAT")
    cut = write_wav(cls[1] / "spk1_cut.wav", noise_clip("cut"))
    cut.write_bytes(cut.read_bytes()[:1500])
    write_wav(cls[0] / "spk0_rate8k.wav", noise_clip("8k", rate=8000), rate=8000)  # fine: resampled
    write_wav(cls[1] / "spk1_stereo.wav", np.stack([noise_clip("l"), noise_clip("r")], axis=1))  # fine: mixed
    write_wav(cls[0] / "spk0_long.wav", noise_clip("long", seconds=12.0))  # fine: cropped
    (cls[1] / "spk1_dir.wav").mkdir()
    (cls[1] / "spk1_dir.wav" / "x.txt").write_text("a folder named like a clip")
    (cls[0] / "spk0_dangling.wav").symlink_to(c.root / "nowhere.wav")
    # Nothing usable.
    broken = c.add("broken", d / "broken")
    for i, label in enumerate(("a", "b")):
        (broken / label).mkdir(parents=True)
        (broken / label / f"s_{i}.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
        (broken / label / f"s_{i}e.wav").write_bytes(b"")
    # Manifests: a NUL byte and control characters in rows, rows outside the manifest's folder.
    wavs = sorted(good.rglob("*.wav"))
    rows = ["path,label,speaker"] + [f"{w.relative_to(good).as_posix()},{w.parent.name},{w.name.split('_')[0]}" for w in wavs]
    nul = _copy(good, c.add("nul_csv", d / "nul_csv"))
    (nul / "m.csv").write_text("\n".join(rows + ["bad\x00name.wav,x,s", "ok.wav,lab\x1b[31mel,s"]) + "\n")
    outside = _copy(good, c.add("outside_csv", d / "outside_csv"))
    (outside / "m.csv").write_text("\n".join(rows + [f"../good/{wavs[0].relative_to(good).as_posix()},extra,s",
                                                     "/etc/hostname,extra,s", "../../../../../etc/passwd,extra,s"]) + "\n")
    only_out = c.add("only_outside_csv", d / "only_outside_csv")
    only_out.mkdir()
    (only_out / "m.csv").write_text("path,label\n" + "".join(f"../good/{w.relative_to(good).as_posix()},{w.parent.name}\n" for w in wavs))
    nolabel = _copy(good, c.add("nolabel_csv", d / "nolabel_csv"))
    (nolabel / "speakers.csv").write_text("path,speaker\nx.wav,a\n")
    latin = _copy(good, c.add("latin1_csv", d / "latin1_csv"))
    (latin / "m.csv").write_bytes("path,label\ncaf\xe9.wav,\xe9t\xe9\n".encode("latin-1"))
    huge_field = _copy(good, c.add("huge_field_csv", d / "huge_field_csv"))
    (huge_field / "m.csv").write_text("path,label\n\"" + "x" * 200_000 + "\",a\n")
    # Hostile class names: markup, math text, spaces, a leading dash, unicode, a very long name.
    names = ["$x^$", "[bold]b", "-rf", "a b", "日本", "L" * 120]
    hostile = c.add("hostile_names", d / "hostile_names")
    for k, name in enumerate(names[:2]):
        _copy(sorted(p for p in good.iterdir() if p.is_dir())[k], hostile / name)
    wide = c.add("hostile_many", d / "hostile_many")
    for k, name in enumerate(names):
        for i in range(3):
            write_wav(wide / name / f"spk{i % 2}_{k}_{i}.wav", noise_clip(f"{name}{i}"))
    markup_csv = c.add("markup_csv", d / "markup_csv")
    for i in range(8):
        write_wav(markup_csv / f"{i}.wav", noise_clip(f"m{i}"))
    (markup_csv / "m.csv").write_text("path,label\n" + "".join(f"{i}.wav,{['[/]', '[/red]'][i % 2]}\n" for i in range(8)))
    # Symlinks: a class folder that lives elsewhere (followed, by design), a link loop.
    links = c.add("symlinks", d / "symlinks")
    links.mkdir()
    (c.root / "elsewhere").mkdir()
    for k, src in enumerate(sorted(p for p in good.iterdir() if p.is_dir())):
        _copy(src, c.root / "elsewhere" / src.name)
        (links / src.name).symlink_to(c.root / "elsewhere" / src.name, target_is_directory=True)
    (links / sorted(p.name for p in good.iterdir() if p.is_dir())[0] / "loop").symlink_to(links, target_is_directory=True)
    # Shapes that leave no training split, one class, nothing at all.
    tiny = c.add("tiny_splits", d / "tiny_splits")
    for label in ("a", "b"):
        write_wav(tiny / label / f"s_{label}.wav", noise_clip(f"t{label}"))
    one = c.add("one_class", d / "one_class")
    _copy(sorted(p for p in good.iterdir() if p.is_dir())[0], one / "only")
    # New recordings of the model's classes (never trained on), as a manifest whose rows are all test clips.
    from tinykd.data.synth import SynthConfig, synthesize

    newcomer = c.add("newcomer", d / "newcomer")
    synthesize(newcomer / "clips", SynthConfig(n_classes=2, clips_per_class=3, n_speakers=1, seed=5))
    (newcomer / "new.csv").write_text("path,label,speaker,split\n" + "".join(
        f"clips/{w.parent.name}/{w.name},{w.parent.name},newcomer,test\n" for w in sorted((newcomer / "clips").rglob("*.wav"))))
    empty = c.add("empty_dir", d / "empty_dir")
    empty.mkdir()
    c.add("missing", d / "missing")
    (d / "a_file.txt").write_text("a file, not a data set")
    c.add("a_file", d / "a_file.txt")
    # Permission problems (made readable to `nobody` except the locked parts; see data_helpers.unprivileged).
    perm = _copy(good, c.add("perm", d / "perm"))
    for folder, dirs, files in os.walk(perm):
        os.chmod(folder, 0o755)
        for f in files:
            os.chmod(os.path.join(folder, f), 0o644)
    first = sorted(p for p in perm.iterdir() if p.is_dir())
    os.chmod(next(first[0].glob("*.wav")), 0)
    os.chmod(first[1], 0)


def _audio_files(c: Corpus) -> None:
    a = c.root / "audio"
    nan = noise_clip("sim-nan", rate=8000)
    nan[3] = np.nan
    write_wav(c.add("wav_nan", a / "nan.wav"), nan, rate=8000, subtype="FLOAT")
    write_wav(c.add("wav_zero", a / "zero.wav"), np.zeros(0, np.float32), rate=8000)
    big = noise_clip("sim-big", rate=8000)
    big[10] = 1e30
    write_wav(c.add("wav_1e30", a / "huge.wav"), big, rate=8000, subtype="FLOAT")
    (a / "corrupt.wav").write_bytes(b"RIFF\xff\xff\xff\xffWAVEjunkjunkjunk")
    c.add("wav_corrupt", a / "corrupt.wav")
    (a / "no_audio").mkdir()
    (a / "no_audio" / "readme.txt").write_text("no audio here")
    c.add("wav_none", a / "no_audio")


def _run_and_cache(c: Corpus) -> None:
    from tinykd.configio import to_dict
    from tinykd.data import load_dataset
    from tinykd.distill.config import DistillConfig
    from tinykd.distill.run import distill
    from tinykd.students.saved import load_run_model
    from tinykd.teacher.cache import shard_name, write_meta, write_shard

    preset = c.add("preset", write_tiny_preset(c.root, clip_seconds=0.25))
    run = c.add("run", c.root / "art" / "run")
    cfg = DistillConfig(student=str(preset), alpha=1.0, epochs=1, batch_size=12, lr=1e-2, warmup_epochs=0, patience=0)
    distill(c["good"], cfg, run, show_progress=False)
    data_cfg = json.loads((run / "config.json").read_text())["data"]
    from tinykd.configio import from_dict
    from tinykd.data import DataConfig

    ds = load_dataset(c["good"], from_dict(DataConfig, data_cfg))
    model, _ = load_run_model(run)
    x = np.stack([ds.clip_audio(i) for i in range(len(ds.clips))])
    logits = np.asarray(model(x, training=False), dtype=np.float32)
    hashes = [clip.hash for clip in ds.clips]
    att = np.full((len(x), 8), 1 / 8, np.float32)
    cache = c.add("cache", c.root / "art" / "cache")
    cache.mkdir(parents=True)
    from tinykd.artifacts import CacheDir

    CacheDir(cache).mark()
    digest = write_shard(cache / shard_name(0), logits, hashes, att)
    write_meta(cache, {"complete": True, "labels": list(ds.labels),
                       "teacher": {"name": "corpus-teacher", "config_hash": "0", "weights_hash": "0"},
                       "dataset_fingerprint": ds.fingerprint(), "data_config": to_dict(ds.config),
                       "n_clips": len(hashes), "shards": [{"file": shard_name(0), "n": len(hashes), "sha256": digest}],
                       "has_attention": True, "teacher_frames": 8})


def _bad_runs_and_caches(c: Corpus) -> None:
    b = c.root / "bad"
    run, cache = c["run"], c["cache"]

    def bad_run(key: str, name: str, content) -> None:
        dst = _copy(run, c.add(key, b / key))
        target = dst / name
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)

    bad_run("run_config_invalid", "config.json", "{\"distill\": ")
    bad_run("run_config_list", "config.json", "[1, 2, 3]")
    bad_run("run_config_types", "config.json", json.dumps({"distill": {}, "data": {"sample_rate": "16k"}}))
    bad_run("run_labels_invalid", "labels.json", "[\"a\", ")
    bad_run("run_labels_empty", "labels.json", "[]")
    bad_run("run_keras_garbage", "model.keras", os.urandom(2000))
    bad_run("run_keras_truncated", "model.keras", (run / "model.keras").read_bytes()[:3000])

    meta = json.loads((cache / "meta.json").read_text())

    def bad_cache(key: str, doc=None, raw: str | None = None, shard: bytes | None = None) -> None:
        dst = _copy(cache, c.add(key, b / key))
        if raw is not None:
            (dst / "meta.json").write_text(raw)
        elif doc is not None:
            (dst / "meta.json").write_text(json.dumps(doc))
        if shard is not None:
            (dst / "shard-00000.safetensors").write_bytes(shard)

    drop = lambda k: {key: v for key, v in meta.items() if key != k}  # noqa: E731
    bad_cache("cache_meta_invalid", raw="{\"format\": \"tinykd-softlabels\", ")
    bad_cache("cache_meta_list", raw="[\"tinykd-softlabels\"]")
    bad_cache("cache_no_shards", doc=drop("shards"))
    bad_cache("cache_no_labels", doc=drop("labels"))
    bad_cache("cache_no_fingerprint", doc=drop("dataset_fingerprint"))
    bad_cache("cache_shards_type", doc={**meta, "shards": "shard-00000.safetensors"})
    bad_cache("cache_labels_type", doc={**meta, "labels": 2})
    bad_cache("cache_shard_escape", doc={**meta, "shards": [{**meta["shards"][0], "file": "../../../../../../etc/hostname"}]})
    bad_cache("cache_shard_n_type", doc={**meta, "shards": [{**meta["shards"][0], "n": "12"}]})
    blob = (cache / "shard-00000.safetensors").read_bytes()
    bad_cache("cache_shard_truncated", shard=blob[: len(blob) // 2])
    bad_cache("cache_shard_missing")
    (c["cache_shard_missing"] / "shard-00000.safetensors").unlink()
    bad_cache("cache_version", doc={**meta, "version": 99})


def _teacher(c: Corpus) -> None:
    if not has_torch():
        return
    from tinykd.data import DataConfig
    from tinykd.teacher.config import TeacherTrainConfig, TinyTeacherSize
    from tinykd.teacher.train import train_teacher

    size = TinyTeacherSize(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                           conv_dim=(8, 8, 16, 16), num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2)
    teacher = c.add("teacher", c.root / "art" / "teacher")
    cfg = TeacherTrainConfig(epochs=1, batch_size=8, threads=1, device="cpu", tiny=size, augment=False)
    train_teacher(c["good"], teacher, cfg, DataConfig(), progress=False, log=lambda s: None)
    b = c.root / "bad"
    for key, name, content in (("teacher_labels_invalid", "labels.json", b"[\"a\", "),
                               ("teacher_labels_type", "labels.json", b"{\"a\": 1}"),
                               ("teacher_config_invalid", "config.json", b"{nope"),
                               ("teacher_meta_invalid", "tinykd_teacher.json", b"{nope"),
                               ("teacher_weights_truncated", "model.safetensors",
                                (teacher / "model.safetensors").read_bytes()[:400]),
                               ("teacher_weights_garbage", "model.safetensors", os.urandom(3000))):
        dst = _copy(teacher, c.add(key, b / key))
        (dst / name).write_bytes(content)


def _int8(c: Corpus) -> None:
    from device_support import emit_c_files, make_int8_run

    labels = sorted(p.name for p in c["good"].iterdir() if p.is_dir())
    run = c.add("int8run", c.root / "art" / "int8run")
    make_int8_run(run, labels, sample_rate=8000, seconds=0.5)
    emit_c_files(run)
    b = c.root / "bad"

    def bad_int8(key: str, name: str, content) -> None:
        dst = _copy(run, c.add(key, b / key))
        target = dst / "int8" / name
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)

    flat = (run / "int8" / "model_int8.tflite").read_bytes()
    bad_int8("int8_tflite_garbage", "model_int8.tflite", b"TFL3" + os.urandom(300))
    bad_int8("int8_tflite_truncated", "model_int8.tflite", flat[: len(flat) // 2])
    report = json.loads((run / "int8" / "quantize.json").read_text())
    bad_int8("int8_report_invalid", "quantize.json", "{\"labels\": [")
    bad_int8("int8_report_list", "quantize.json", "[]")
    bad_int8("int8_report_no_labels", "quantize.json", json.dumps({k: v for k, v in report.items() if k != "labels"}))
    bad_int8("int8_report_no_rate", "quantize.json", json.dumps({**report, "sample_rate": "fast"}))
    bad_int8("int8_report_model_type", "quantize.json", json.dumps({**report, "model": ["x"]}))
    bad_int8("int8_report_data_types", "quantize.json", json.dumps({**report, "data_config": {"clip_seconds": "long"}}))
    (b / "loose").mkdir(parents=True)
    (b / "loose" / "labels.json").write_text(json.dumps(labels))
    (b / "loose" / "garbage.tflite").write_bytes(os.urandom(500))
    c.add("tflite_garbage", b / "loose" / "garbage.tflite")
    (b / "loose" / "empty.tflite").write_bytes(b"")
    c.add("tflite_empty", b / "loose" / "empty.tflite")
    many = c.add("int8run_65_labels", c.root / "art" / "int8run_65")
    make_int8_run(many, [f"class{i:02d}" for i in range(65)], sample_rate=8000, seconds=0.5)
    emit_c_files(many)


def _folders_of_the_wrong_kind(c: Corpus) -> None:
    o = c.root / "outs"
    mine = c.add("foreign", o / "foreign")
    mine.mkdir(parents=True)
    (mine / "thesis.tex").write_text("years of work")
    c.add("a_file_out", o / "a_file")
    (o / "a_file").write_text("a file where a folder is expected")
    (o / "link_out").symlink_to(mine, target_is_directory=True)
    c.add("link_out", o / "link_out")
    c.add("json_dir", o / "json_dir").mkdir()


def build(root: Path) -> Corpus:
    """Every input of the sweep under `root` (about 30 s on 2 cores, most of it TensorFlow and torch)."""
    c = Corpus(root)
    _good_data(c)
    _bad_data(c)
    _audio_files(c)
    _run_and_cache(c)
    _bad_runs_and_caches(c)
    _teacher(c)
    _int8(c)
    _folders_of_the_wrong_kind(c)
    return c
