"""The hostile-input sweep (issue 13): every command, through `tinykd.cli.main`, over a shared corpus of bad
inputs (tests/hostile_corpus.py), asserting for each case:

- no traceback: the command returns an exit code (in-process), or its process prints none (the `subprocess`
  cases run `python -m tinykd.cli` for real);
- the exit code: 2 for a user error (with one `error:` line naming the problem), 0 where the command must
  go on without the bad parts (listing them), 1 for a board that does not deliver;
- nothing outside the command's output changed (every file and link under the corpus, by lstat, before and
  after), and no temp file was left anywhere;
- nothing inside the output half-written: after a failure the output folder is absent or holds nothing but
  tinykd's marker; after a success, what the command promises is there.

`SIZE` at the bottom counts the sweep.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from data_helpers import unprivileged
from hostile_corpus import build, has_torch

REPO = Path(__file__).resolve().parents[1]
MARKER = "tinykd.json"
TEMP_NAME = re.compile(r"(^\..+\.tmp$)|(^\.tmp-)|(^\.checkpoint-)")


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    code: int = 2
    says: str = ""  # in the error line (code 2) or the output (code 0)
    says_not: str = ""
    outputs: tuple[str, ...] = ("{out}",)  # what the command may write; everything else must stay as it was
    promises: str = ""  # a file the command must have written under {out} when it succeeds
    torch: bool = False
    nobody: bool = False  # run with file modes enforced (as `nobody` when the tests run as root)
    subprocess: bool = False


TINY_TEACHER = ("--tiny", "hidden_size=16", "--tiny", "num_hidden_layers=1", "--tiny", "num_attention_heads=2",
                "--tiny", "intermediate_size=32", "--tiny", "conv_dim=8,8,16,16", "--tiny",
                "num_conv_pos_embeddings=4", "--tiny", "num_conv_pos_embedding_groups=2")
KD = ("--student", "{preset}", "--alpha", "1", "--epochs", "1", "--batch-size", "12", "--warmup-epochs", "0",
      "--patience", "0", "--quiet")


def distill(data: str, *extra: str, out: str = "{out}") -> tuple[str, ...]:
    return ("distill", data, "--out", out, *KD, *extra)


def train(data: str, *extra: str, out: str = "{out}") -> tuple[str, ...]:
    return ("teacher", "train", data, "--out", out, "--epochs", "1", "--batch-size", "8", "--threads", "1",
            "--device", "cpu", "--no-progress", "--no-augment", *TINY_TEACHER, *extra)


def export(teacher: str, *extra: str, data: str = "{good}", out: str = "{out}") -> tuple[str, ...]:
    return ("teacher", "export", data, "--teacher", teacher, "--out", out, "--threads", "1", "--no-progress", *extra)


def sim(*extra: str) -> tuple[str, ...]:
    return ("sim", *extra, "--duration", "0.3")



CASES: list[Case] = [
    # -- data info: every problem listed, whatever the data set looks like --------------------------------
    Case("info-mixed-broken-files", ("data", "info", "{mixed}"), 0, "problem files (7, skipped)", outputs=()),
    Case("info-all-broken", ("data", "info", "{broken}"), 2, "no usable audio clips", outputs=()),
    Case("info-nul-byte-in-csv", ("data", "info", "{nul_csv}"), 0, "control character", outputs=()),
    Case("info-csv-rows-outside", ("data", "info", "{outside_csv}"), 0, "outside the manifest's folder", outputs=()),
    Case("info-csv-only-outside", ("data", "info", "{only_outside_csv}"), 2, "no usable audio clips", outputs=()),
    Case("info-csv-without-label", ("data", "info", "{nolabel_csv}"), 2, "not a usable manifest (no label column", outputs=()),
    Case("info-csv-not-utf8", ("data", "info", "{latin1_csv}"), 2, "not UTF-8", outputs=()),
    Case("info-csv-huge-field", ("data", "info", "{huge_field_csv}"), 2, "not valid CSV", outputs=()),
    Case("info-hostile-names", ("data", "info", "{hostile_many}"), 0, "$x^$", outputs=()),
    Case("info-markup-labels", ("data", "info", "{markup_csv}"), 0, "[/red]", outputs=()),
    Case("info-symlinks-and-loop", ("data", "info", "{symlinks}"), 0, "12 in 2 classes", outputs=()),
    Case("info-no-train-split", ("data", "info", "{tiny_splits}"), 0, "is empty", outputs=()),
    Case("info-one-class", ("data", "info", "{one_class}"), 0, "1 classes", outputs=()),
    Case("info-empty-folder", ("data", "info", "{empty_dir}"), 2, "folder is empty", outputs=()),
    Case("info-missing", ("data", "info", "{missing}"), 2, "no such folder", outputs=()),
    Case("info-a-file", ("data", "info", "{a_file}"), 2, "not a folder or a .csv manifest", outputs=()),
    Case("info-permissions", ("data", "info", "{perm}"), 0, "permission problems (2", outputs=(), nobody=True),
    Case("info-json-to-folder", ("data", "info", "{good}", "--json", "{json_dir}"), 2, "is a folder", outputs=()),
    Case("info-json-under-a-file", ("data", "info", "{good}", "--json", "{a_file_out}/s.json"), 2, "cannot write it",
         outputs=()),
    Case("info-bad-format", ("data", "info", "{good}", "--format", "mp3"), 2, "unknown data format", outputs=()),
    Case("info-unknown-speaker", ("data", "info", "{good}", "--split", "speaker:nobody"), 2, "unknown speaker", outputs=()),
    Case("info-subprocess-hostile", ("data", "info", "{hostile_many}"), 0, "[bold]b", outputs=(), subprocess=True),
    # -- data synth: replaces only an earlier set ------------------------------------------------------------
    Case("synth-new", ("data", "synth", "--kind", "tones", "{out}", "--classes", "2", "--clips-per-class", "1", "--speakers", "1"), 0,
         "wrote 2 clips", promises="synth.json"),
    Case("synth-existing-set", ("data", "synth", "--kind", "tones", "{good}"), 2, "use --force to replace it", outputs=()),
    Case("synth-force-run", ("data", "synth", "--kind", "tones", "{run}", "--force"), 2, "not a tinykd synth folder (a tinykd run folder)",
         outputs=()),
    Case("synth-force-foreign", ("data", "synth", "--kind", "tones", "{foreign}", "--force"), 2, "refusing to delete it", outputs=()),
    Case("synth-a-file", ("data", "synth", "--kind", "tones", "{a_file_out}"), 2, "not a folder", outputs=()),
    Case("synth-link", ("data", "synth", "--kind", "tones", "{link_out}", "--force"), 2, "symbolic link", outputs=()),
    Case("synth-speech-a-file", ("data", "synth", "{a_file_out}"), 2, "not a folder", outputs=()),
    Case("synth-speech-link", ("data", "synth", "{link_out}", "--force"), 2, "symbolic link", outputs=()),
    Case("synth-speech-into-tones-set", ("data", "synth", "{good}", "--force"), 2, "holds no speech.json", outputs=()),
    Case("synth-bad-kind", ("data", "synth", "{out}", "--kind", "music"), 2, "--kind must be speech or tones"),
    Case("synth-bad-classes", ("data", "synth", "--kind", "tones", "{out}", "--classes", "99"), 2, "n_classes must be"),
    # -- distill ----------------------------------------------------------------------------------------------
    Case("distill-mixed-broken-files", distill("{mixed}"), 0, "problem file(s) skipped", promises="metrics.json"),
    Case("distill-math-text-labels", distill("{hostile_names}"), 0, "accuracy", promises="confusion_matrix.png"),
    Case("distill-markup-labels", distill("{markup_csv}", "--split", "random"), 0, "accuracy", promises="metrics.json"),
    Case("distill-all-broken", distill("{broken}"), 2, "no usable audio clips"),
    Case("distill-no-train-split", distill("{tiny_splits}"), 2, "is empty"),
    Case("distill-one-class", distill("{one_class}"), 2, "only one class"),
    Case("distill-csv-only-outside", distill("{only_outside_csv}"), 2, "--allow-outside"),
    Case("distill-csv-without-label", distill("{nolabel_csv}"), 2, "not a usable manifest"),
    Case("distill-permissions", distill("{perm}", out="{nobody_out}"), 2, "may not be read", outputs=("{nobody_out}",),
         nobody=True),
    Case("distill-force-on-teacher", distill("{good}", "--force", out="{teacher}"), 2,
         "not a tinykd run folder (a tinykd teacher folder); refusing to delete it", outputs=(), torch=True),
    Case("distill-force-on-cache", distill("{good}", "--force", out="{cache}"), 2, "(a tinykd cache folder)", outputs=()),
    Case("distill-force-on-foreign", distill("{good}", "--force", out="{foreign}"), 2, "refusing to delete it", outputs=()),
    Case("distill-force-on-its-data", distill("{run}/..", "--force", out="{run}/.."), 2, "not a tinykd run folder",
         outputs=()),
    Case("distill-out-is-a-file", distill("{good}", out="{a_file_out}"), 2, "not a folder", outputs=()),
    Case("distill-out-is-a-link", distill("{good}", "--force", out="{link_out}"), 2, "symbolic link", outputs=()),
    Case("distill-resume-foreign", distill("{good}", "--resume", out="{foreign}"), 2, "nothing to resume", outputs=()),
    Case("distill-resume-config-invalid", distill("{good}", "--resume", out="{run_config_invalid}"), 2, "not valid JSON",
         outputs=()),
    Case("distill-resume-config-list", distill("{good}", "--resume", out="{run_config_list}"), 2, "not a JSON object",
         outputs=()),
    Case("distill-resume-config-types", distill("{good}", "--resume", out="{run_config_types}"), 2, "--resume",
         outputs=()),
    Case("distill-teacher-student-garbage", distill("{good}", "--alpha", "0.5", "--teacher-student", "{run_keras_garbage}"),
         2, "cannot load the Keras model", says_not="File not found"),
] + [
    Case(f"distill-{key.replace('_', '-')}", distill("{good}", "--alpha", "0.5", "--cache", "{" + key + "}"), 2, says)
    for key, says in (
        ("cache_meta_invalid", "not valid JSON"), ("cache_meta_list", "not a tinykd soft-label cache"),
        ("cache_no_shards", "shards must be"), ("cache_no_labels", "labels must be"),
        ("cache_no_fingerprint", "dataset_fingerprint must be"), ("cache_shards_type", "shards must be"),
        ("cache_labels_type", "labels must be"), ("cache_shard_escape", "points outside the folder"),
        ("cache_shard_n_type", "shards[0] must be"), ("cache_shard_truncated", "checksum mismatch"),
        ("cache_shard_missing", "shard missing"), ("cache_version", "format version 99"),
    )
] + [
    # -- evaluate: any folder or manifest; bad models and records ------------------------------------------
    Case("eval-training-data", ("evaluate", "{run}", "{good}"), 0, "test (the data set the model was trained on", outputs=()),
    Case("eval-mixed-broken-files", ("evaluate", "{run}", "{mixed}"), 0, "every clip", outputs=()),
    Case("eval-no-train-split", ("evaluate", "{run}", "{tiny_splits}"), 2, "not among the model's", outputs=()),
    # The manifests name the training clips (their bad rows skipped): recognised as the training data set.
    Case("eval-nul-byte-in-csv", ("evaluate", "{run}", "{nul_csv}", "--format", "csv"), 0,
         "test (the data set the model was trained on", outputs=()),
    Case("eval-csv-rows-outside", ("evaluate", "{run}", "{outside_csv}"), 0, "test (the data set the model was trained on",
         outputs=()),
    Case("eval-all-broken", ("evaluate", "{run}", "{broken}"), 2, "no usable audio clips", outputs=()),
    Case("eval-permissions", ("evaluate", "{run}", "{perm}"), 2, "may not be read", outputs=(), nobody=True),
    Case("eval-json-to-folder", ("evaluate", "{run}", "{good}", "--json", "{json_dir}"), 2, "is a folder", outputs=()),
    Case("eval-new-recordings-only-test", ("evaluate", "{run}", "{newcomer}", "--json", "{out}/m.json"), 0,
         "all (not the data set the model was trained on: every clip)", promises="m.json"),
    Case("eval-new-recordings-train-split", ("evaluate", "{run}", "{newcomer}", "--split", "train"), 2,
         "split 'train' is empty", outputs=()),
    Case("eval-copy-of-training-data", ("evaluate", "{run}", "{symlinks}"), 0, "the data set the model was trained on",
         outputs=()),
    Case("eval-unknown-split", ("evaluate", "{run}", "{good}", "--split", "holdout"), 2, "unknown split name", outputs=()),
    Case("eval-labels-invalid", ("evaluate", "{run_labels_invalid}", "{good}"), 2, "not valid JSON", outputs=()),
    Case("eval-labels-empty", ("evaluate", "{run_labels_empty}", "{good}"), 2, "non-empty JSON list", outputs=()),
    Case("eval-config-invalid", ("evaluate", "{run_config_invalid}", "{good}"), 2, "not valid JSON", outputs=()),
    Case("eval-config-list", ("evaluate", "{run_config_list}", "{good}"), 2, "not a JSON object", outputs=()),
    Case("eval-config-types", ("evaluate", "{run_config_types}", "{good}"), 2, "DataConfig.sample_rate", outputs=()),
    Case("eval-keras-garbage", ("evaluate", "{run_keras_garbage}", "{good}"), 2, "cannot load the Keras model",
         says_not="File not found", outputs=()),
    Case("eval-keras-truncated", ("evaluate", "{run_keras_truncated}", "{good}"), 2, "cannot load the Keras model",
         says_not="File not found", outputs=()),
    Case("eval-tflite-garbage", ("evaluate", "{tflite_garbage}", "{good}"), 2, "tflite", outputs=()),
    Case("eval-tflite-empty", ("evaluate", "{tflite_empty}", "{good}"), 2, "tflite", outputs=()),
    Case("eval-int8-garbage", ("evaluate", "{int8_tflite_garbage}/int8/model_int8.tflite", "{good}"), 2, "", outputs=()),
    Case("eval-int8-report-invalid", ("evaluate", "{int8_report_invalid}/int8/model_int8.tflite", "{good}"), 2,
         "not valid JSON", outputs=()),
    Case("eval-int8-report-types", ("evaluate", "{int8_report_data_types}/int8/model_int8.tflite", "{good}"), 2,
         "DataConfig.clip_seconds", outputs=()),
    Case("eval-missing-model", ("evaluate", "{missing}", "{good}"), 2, "no such model", outputs=()),
    Case("eval-subprocess-garbage-tflite", ("evaluate", "{tflite_garbage}", "{good}"), 2, "tflite", outputs=(),
         subprocess=True),
    # -- teacher train / export / evaluate -------------------------------------------------------------------
    Case("teacher-train-one-class", train("{one_class}"), 2, "only one class", torch=True),
    Case("teacher-train-all-broken", train("{broken}"), 2, "no usable audio clips", torch=True),
    Case("teacher-train-existing", train("{good}", out="{teacher}"), 2, "use --force to replace it", outputs=(), torch=True),
    Case("teacher-train-force-on-run", train("{good}", "--force", out="{run}"), 2, "not a tinykd teacher folder",
         outputs=(), torch=True),
    Case("teacher-train-force-on-foreign", train("{good}", "--force", out="{foreign}"), 2, "refusing to delete it",
         outputs=(), torch=True),
    Case("teacher-train-csv-outside", train("{only_outside_csv}"), 2, "--allow-outside", torch=True),
    Case("teacher-export-overwrite-run", export("{teacher}", "--overwrite", out="{run}"), 2, "not a tinykd cache folder",
         outputs=(), torch=True),
    Case("teacher-export-foreign", export("{teacher}", out="{foreign}"), 2, "not a tinykd cache folder", outputs=(),
         torch=True),
    Case("teacher-export-other-cache", export("{teacher}", out="{cache}"), 2, "another teacher", outputs=(), torch=True),
    Case("teacher-export-permissions", export("{teacher}", data="{perm}", out="{nobody_out}"), 2, "may not be read",
         outputs=("{nobody_out}",), torch=True, nobody=True),
    Case("teacher-export-meta-invalid", export("{teacher_meta_invalid}"), 0, "cache written", promises="meta.json",
         torch=True),
] + [
    Case(f"teacher-export-{key.replace('_', '-')}", export("{" + key + "}"), 2, says, torch=True)
    for key, says in (("teacher_labels_invalid", "not valid JSON"), ("teacher_labels_type", "non-empty JSON list"),
                      ("teacher_config_invalid", "cannot load the model"),
                      ("teacher_weights_truncated", "truncated or corrupt"),
                      ("teacher_weights_garbage", "truncated or corrupt"))
] + [
    Case("teacher-eval-new-recordings", ("teacher", "evaluate", "{newcomer}", "--teacher", "{teacher}", "--threads", "1"),
         0, "every clip; 6 clips", outputs=(), torch=True),
    Case("teacher-eval-bad-on", ("teacher", "evaluate", "{good}", "--teacher", "{teacher}", "--on", "holdout"), 2,
         "unknown split name", outputs=(), torch=True),
    Case("teacher-eval-meta-invalid", ("teacher", "evaluate", "{good}", "--teacher", "{teacher_meta_invalid}"), 2,
         "not valid JSON", outputs=(), torch=True),
    Case("teacher-eval-weights-truncated", ("teacher", "evaluate", "{good}", "--teacher", "{teacher_weights_truncated}"),
         2, "truncated or corrupt", outputs=(), torch=True),
    # -- sweep and demo: replace only their own kind --------------------------------------------------------
    Case("sweep-foreign", ("sweep", "{good}", "--out", "{foreign}", "--alphas", "1", "--temperatures", "1",
                           "--student", "{preset}", "--epochs", "1", "--quiet"), 2, "not a tinykd sweep folder", outputs=()),
    Case("sweep-force-on-run", ("sweep", "{good}", "--out", "{run}", "--force", "--alphas", "1", "--temperatures", "1",
                                "--student", "{preset}", "--quiet"), 2, "refusing to delete it", outputs=()),
    Case("sweep-link", ("sweep", "{good}", "--out", "{link_out}", "--alphas", "1", "--temperatures", "1",
                        "--student", "{preset}", "--quiet"), 2, "symbolic link", outputs=()),
    Case("sweep-bad-alphas", ("sweep", "{good}", "--out", "{out}", "--alphas", "x"), 2, "comma-separated numbers"),
    Case("demo-foreign", ("demo", "--out", "{foreign}"), 2, "not a tinykd demo folder", outputs=()),
    Case("demo-force-on-run", ("demo", "--force", "--out", "{run}"), 2, "refusing to delete it", outputs=()),
    Case("demo-out-is-a-file", ("demo", "--out", "{a_file_out}"), 2, "not a folder", outputs=()),
    # -- quantize, export c, flash ---------------------------------
    Case("quantize-config-invalid", ("quantize", "{run_config_invalid}"), 2, "not valid JSON", outputs=("{run_config_invalid}/int8",)),
    Case("quantize-keras-garbage", ("quantize", "{run_keras_garbage}", "--data", "{good}"), 2, "Keras",
         outputs=("{run_keras_garbage}/int8",)),
    Case("quantize-missing", ("quantize", "{missing}"), 2, "", outputs=()),
    Case("quantize-out-on-foreign", ("quantize", "{run}", "--out", "{foreign}"), 2, "{foreign}", outputs=()),
    Case("quantize-out-on-teacher", ("quantize", "{run}", "--out", "{teacher}"), 2, "{teacher}", outputs=(), torch=True),
    Case("quantize-out-on-cache", ("quantize", "{run}", "--out", "{cache}"), 2, "{cache}", outputs=()),
    Case("export-c-tflite-garbage", ("export", "c", "{int8_tflite_garbage}"), 2, "hash differs", outputs=()),
    Case("export-c-report-invalid", ("export", "c", "{int8_report_invalid}"), 2, "not valid JSON", outputs=()),
    Case("export-c-report-list", ("export", "c", "{int8_report_list}"), 2, "not a JSON object", outputs=()),
    Case("export-c-no-labels", ("export", "c", "{int8_report_no_labels}"), 2, "label", outputs=()),
    Case("export-c-model-type", ("export", "c", "{int8_report_model_type}"), 2, "hash differs", outputs=()),
    Case("flash-tflite-truncated", ("flash", "--board", "esp32s3", "--model", "{int8_tflite_truncated}", "--dry-run",
                                    "--out", "{out}"), 2, "hash differs"),
    Case("flash-report-no-rate", ("flash", "--board", "esp32s3", "--model", "{int8_report_no_rate}", "--dry-run",
                                  "--out", "{out}"), 2, "sample_rate is missing or not a positive whole number"),
    Case("flash-65-labels", ("flash", "--board", "esp32s3", "--model", "{int8run_65_labels}", "--dry-run", "--out",
                             "{out}"), 2, "64"),
    # -- the virtual board, verify, monitor ------------------------------------------------------------------
    Case("sim-audio-nan", sim("--run", "{int8run}", "--audio", "{wav_nan}"), 2, "NaN", outputs=()),
    Case("sim-audio-zero-length", sim("--run", "{int8run}", "--audio", "{wav_zero}"), 2, "zero-length", outputs=()),
    Case("sim-audio-1e30", sim("--run", "{int8run}", "--audio", "{wav_1e30}"), 2, "out of range", outputs=()),
    Case("sim-audio-corrupt", sim("--run", "{int8run}", "--audio", "{wav_corrupt}"), 2, "not a readable audio file",
         outputs=()),
    Case("sim-audio-none", sim("--run", "{int8run}", "--audio", "{wav_none}"), 2, "no WAV or FLAC", outputs=()),
    Case("sim-tflite-garbage", sim("--model", "{tflite_garbage}", "--sample-rate", "8000"), 2, "", outputs=()),
    Case("sim-hash-mismatch", sim("--run", "{int8_tflite_truncated}"), 2, "hash differs", outputs=()),
    Case("sim-report-list", sim("--run", "{int8_report_list}"), 2, "", outputs=()),
    Case("sim-65-labels", sim("--run", "{int8run_65_labels}"), 2, "64 labels", outputs=()),
    Case("sim-subprocess-audio-nan", sim("--run", "{int8run}", "--audio", "{wav_nan}"), 2, "NaN", outputs=(),
         subprocess=True),
    Case("sim-subprocess-tflite-garbage", sim("--model", "{tflite_garbage}", "--sample-rate", "8000"), 2, "",
         outputs=(), subprocess=True),
    Case("verify-tflite-garbage", ("verify", "--port", "/dev/null", "--model", "{tflite_garbage}", "--data", "{good}"),
         2, "", outputs=()),
    Case("verify-data-broken", ("verify", "--port", "/dev/null", "--model", "{int8run}", "--data", "{broken}"), 2,
         "no usable audio clips", outputs=()),
    Case("verify-empty-split", ("verify", "--port", "/dev/null", "--model", "{int8run}", "--data", "{tiny_splits}"), 2,
         "the 'test' split is empty", outputs=()),
    Case("verify-new-recordings-test-split", ("verify", "--port", "/dev/null", "--model", "{int8run}", "--data",
                                              "{newcomer}"), 2, "cannot open /dev/null", outputs=()),
    Case("verify-report-to-folder", ("verify", "--port", "/dev/null", "--model", "{int8run}", "--data", "{good}",
                                     "--report", "{json_dir}"), 2, "is a folder", outputs=()),
    Case("verify-not-a-port", ("verify", "--port", "/dev/null", "--model", "{int8run}", "--data", "{good}"), 2,
         "cannot open /dev/null", outputs=()),
    Case("monitor-missing-port", ("monitor", "--port", "{missing}", "--duration", "0.2", "--plain"), 2, "does not exist",
         outputs=()),
    Case("monitor-not-a-port", ("monitor", "--port", "/dev/null", "--duration", "0.2", "--plain"), 2, "cannot open",
         outputs=()),
    Case("models-dir-a-file", ("models", "--dir", "{a_file}"), 2, "not a folder", outputs=()),
    Case("models-preset-not-json", ("models", "{a_file}"), 2, "", outputs=()),
]

SIZE = len(CASES)
COMMANDS = sorted({" ".join(a for a in c.argv[:2] if not a.startswith("{") and not a.startswith("-")) for c in CASES})


@pytest.fixture(scope="module")
def corpus():
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    root = Path(tempfile.mkdtemp(prefix="tinykd-hostile-"))
    root.chmod(0o755)  # `nobody` must reach the permission cases (pytest's own tmp folders are private)
    try:
        c = build(root)
        nobody = root / "results_nobody"
        nobody.mkdir(mode=0o777)
        nobody.chmod(0o777)
        yield c
    finally:
        for folder, dirs, _ in os.walk(root):
            for d in dirs:
                p = os.path.join(folder, d)
                if not os.path.islink(p):
                    os.chmod(p, 0o755)
        import shutil

        shutil.rmtree(root, ignore_errors=True)


def snapshot(root: Path, skip: list[Path]) -> dict[str, tuple]:
    """Every entry under `root` (links not followed) with its type, size, mtime and mode; `skip` left out."""
    skip_s = [os.path.normpath(str(p)) for p in skip]
    out: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        keep = []
        for name in dirs:
            full = os.path.join(folder, name)
            if any(full == s or full.startswith(s + os.sep) for s in skip_s):
                continue
            keep.append(name)
        dirs[:] = keep
        for name in files + dirs:
            full = os.path.join(folder, name)
            if any(full == s or full.startswith(s + os.sep) for s in skip_s):
                continue
            st = os.lstat(full)
            out[os.path.relpath(full, root)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def _resolve(text: str, c, out: Path, nobody_out: Path) -> str:
    values = {k: str(v) for k, v in c.paths.items()}
    values.update(out=str(out), nobody_out=str(nobody_out))
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], text)


def _params():
    for case in CASES:
        marks = []
        if case.torch and not has_torch():
            marks.append(pytest.mark.skip(reason="needs the teacher extra (torch, transformers)"))
        yield pytest.param(case, id=case.id, marks=marks)


def _run(case: Case, argv: list[str], capsys) -> tuple[int, str, str]:
    if case.subprocess:
        env = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
        proc = subprocess.run([sys.executable, "-m", "tinykd.cli", *argv], capture_output=True, text=True,
                              timeout=300, env=env, cwd=REPO)
        return proc.returncode, proc.stdout, proc.stderr
    from tinykd.cli import main

    capsys.readouterr()
    try:
        if case.nobody:
            with unprivileged():
                code = main(argv)
        else:
            code = main(argv)
    except BaseException as exc:  # noqa: BLE001  (anything escaping main() is the traceback a user would see)
        pytest.fail(f"{case.id}: {' '.join(argv)} raised {type(exc).__name__}: {exc}")
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", list(_params()))
def test_hostile_input(case: Case, corpus, capsys):
    out = corpus.root / "results" / case.id
    nobody_out = corpus.root / "results_nobody" / case.id
    argv = [_resolve(a, corpus, out, nobody_out) for a in case.argv]
    outputs = [Path(_resolve(o, corpus, out, nobody_out)) for o in case.outputs]
    skip = outputs + [corpus.root / "results", corpus.root / "results_nobody"]  # where each case's output lives
    before = snapshot(corpus.root, skip)

    code, stdout, stderr = _run(case, argv, capsys)

    assert "Traceback" not in stdout + stderr, stderr[-3000:]
    assert code == case.code, f"exit {code}, expected {case.code}\nstdout: {stdout[-1500:]}\nstderr: {stderr[-1500:]}"
    if code == 2:
        errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, stderr[-2000:]
        assert _resolve(case.says, corpus, out, nobody_out) in errors[0], errors[0]
        if case.says_not:
            assert case.says_not not in errors[0], errors[0]
    else:
        assert case.says in stdout + stderr, (stdout + stderr)[-2000:]
    assert snapshot(corpus.root, skip) == before, "a file outside the command's output changed"
    leftovers = [str(p) for p in corpus.root.rglob("*") if TEMP_NAME.search(p.name)]
    assert not leftovers, f"temp files left behind: {leftovers}"
    for path in outputs:
        if code != 0 and path.is_dir():
            assert sorted(p.name for p in path.iterdir()) in ([], [MARKER]), f"{path} half-written"
        if code != 0 and path.exists() and not path.is_dir():
            pytest.fail(f"{path} written by a command that failed")
    if code == 0 and case.promises:
        assert (out / case.promises).is_file(), f"{out / case.promises} missing"


def test_the_sweep_covers_every_command():
    """Each command of the CLI meets the corpus (state the size for the issue's closing note)."""
    expected = {"data info", "data synth", "distill", "evaluate", "teacher train", "teacher export",
                "teacher evaluate", "sweep", "demo", "quantize", "export c", "flash", "sim", "verify", "monitor",
                "models"}
    assert expected <= set(COMMANDS), sorted(expected - set(COMMANDS))
    assert SIZE >= 120


def test_quantize_rerun_keeps_verify_json(corpus, tmp_path, capsys):
    """Re-running `quantize` used to delete RUN/int8/verify.json (a board's record of the model)."""
    import json
    import shutil

    from tinykd.cli import main

    run = tmp_path / "run"
    shutil.copytree(corpus["run"], run)
    argv = ["quantize", str(run), "--data", str(corpus["good"]), "--representative-size", "4"]
    assert main(argv) == 0
    (run / "int8" / "verify.json").write_text(json.dumps({"answered": 3, "passed": True}))
    assert main(argv) == 0
    assert json.loads((run / "int8" / "verify.json").read_text())["answered"] == 3
    capsys.readouterr()
