"""`tinykd quantize --int8` end to end on a small trained student, checked against the real interpreters.

One student (the real `build_student` with a small config) is trained briefly on the synthetic set and
quantized once per module; the tests then re-derive the report's figures from TFLM, LiteRT and Keras
themselves, and exercise each bad input.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from tinykd.configio import save_json, to_dict  # noqa: E402
from tinykd.errors import TinykdError  # noqa: E402

SMALL = dict(name="quant-test", depth=2, channels=4, pool_after=1, head="mean", dropout=0.0)


def _write_run(run: Path, model, labels, student: dict, data_cfg) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    model.save(run / "model.keras")
    save_json(run / "labels.json", list(labels))
    save_json(run / "config.json", {"student": student, "data": to_dict(data_cfg)})
    return run


@pytest.fixture(scope="module")
def dataset(synth_root):
    from tinykd.data import DataConfig, load_dataset

    cfg = DataConfig()
    return cfg, load_dataset(synth_root, cfg)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, dataset):
    """A run folder in the layout `tinykd distill` writes, holding a briefly trained small student."""
    import keras

    from tinykd.students import build_student
    from tinykd.students.config import StudentConfig

    keras.utils.set_random_seed(0)
    cfg, ds = dataset
    train = ds.load_split("train")
    student = StudentConfig(**SMALL)
    model = build_student(student, len(ds.labels), cfg.clip_samples)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(train.x, train.y, epochs=3, batch_size=8, verbose=0)
    return _write_run(tmp_path_factory.mktemp("run"), model, ds.labels, student.to_dict(), cfg)


@pytest.fixture(scope="module")
def quantized(trained_run, synth_root):
    from tinykd.quantize import QuantizeConfig, quantize_run

    result = quantize_run(trained_run, synth_root, config=QuantizeConfig(representative_size=24), show_progress=False)
    return result


def _tflm(model: bytes, arena: int):
    from tflite_micro import runtime

    return runtime.Interpreter.from_bytes(model, arena_size=arena)


def test_outputs_written_and_report_matches_files(quantized, trained_run):
    out = quantized.out_dir
    assert out == trained_run / "int8"
    names = sorted(p.name for p in out.iterdir())
    assert names == ["labels.json", "model_data.cc", "model_data.h", "model_int8.tflite", "model_ops.h",
                     "quantize.json", "report.md", "tinykd.json"]
    report = json.loads((out / "quantize.json").read_text())
    # Self-contained: the label map and the kind marker travel with the model.
    assert json.loads((out / "labels.json").read_text()) == report["labels"]
    assert json.loads((out / "tinykd.json").read_text())["kind"] == "int8"
    blob = (out / "model_int8.tflite").read_bytes()
    assert report["model"]["bytes"] == len(blob)
    import hashlib

    assert report["model"]["hash16"] == hashlib.sha256(blob).hexdigest()[:16]
    md = (out / "report.md").read_text()
    assert f"{len(blob)} B" in md and "| LOG | float |" in md and "Arena allocation total" in md
    assert not [p for p in trained_run.iterdir() if p.name.startswith(".int8")]  # no temp folders left


def test_front_end_float_and_body_int8(quantized):
    report = quantized.report
    # A logmel student (the papers' front end) takes the float front-end path, and the report says why.
    assert report["kind"] == "waveform" and "LogMelFrontEnd" in report["path"]
    assert not (quantized.out_dir / "frontend.tflite").exists()
    kinds = {(r["op"], r["kind"]) for r in report["ops"]}
    assert ("LOG", "float") in kinds and ("CONV_2D", "int8") in kinds
    assert report["input"]["dtype"] == "float32" and report["output"]["dtype"] == "float32"
    first_int8 = min(r["index"] for r in report["ops"] if r["kind"] == "int8")
    last_float = max(r["index"] for r in report["ops"] if r["kind"] == "float")
    assert last_float < first_int8  # the float front end runs entirely before the int8 body
    assert report["ops"][last_float + 1]["op"] == "QUANTIZE"
    share = report["frontend"]["float_macs_share"]
    assert 0.0 < share < 1.0
    assert report["frontend"]["float_macs"] == sum(r["macs"] for r in report["ops"] if r["kind"] == "float")


def test_op_list_and_dtypes_match_litert(quantized):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    blob = (quantized.out_dir / "model_int8.tflite").read_bytes()
    # Without the default XNNPACK delegate, which would fold ops into one DELEGATE node.
    interp = Interpreter(model_content=blob, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    ops = interp._get_ops_details()
    assert [o["op_name"] for o in ops] == [r["op"] for r in quantized.report["ops"]]
    tensors = {d["index"]: d for d in interp.get_tensor_details()}
    for op, row in zip(ops, quantized.report["ops"]):
        assert np.dtype(tensors[op["outputs"][0]]["dtype"]).name == row["output_dtype"]
        assert list(tensors[op["outputs"][0]]["shape"]) == row["output_shape"]


def test_conv_macs_match_keras_layer_shapes(quantized, trained_run):
    from tinykd.students.saved import load_run_model

    model, _ = load_run_model(trained_run)
    expected = 0
    for layer in model.layers:
        if layer.__class__.__name__ == "Conv2D":
            _, h, w, c_out = layer.output.shape
            kh, kw, c_in, _ = layer.kernel.shape
            expected += h * w * c_out * kh * kw * c_in
    body_conv = sum(r["macs"] for r in quantized.report["ops"] if r["op"] == "CONV_2D" and r["kind"] == "int8")
    assert body_conv == expected


def test_measured_arena_is_what_tflm_needs(quantized, capfd):
    report = quantized.report
    blob = (quantized.out_dir / "model_int8.tflite").read_bytes()
    measured = report["arena"]["measured_bytes"]
    interp = _tflm(blob, measured)  # exactly the measured arena allocates and runs
    interp.set_input(np.zeros(report["input"]["shape"], np.float32) + 0.01, 0)
    interp.invoke()
    interp.print_allocations()
    printed = capfd.readouterr().err
    assert f"Arena allocation total {measured} bytes" in printed
    with pytest.raises(RuntimeError):
        _tflm(blob, measured - 2048)  # and clearly less does not
    assert report["arena"]["bytes"] >= measured * 1.10 and report["arena"]["bytes"] % 1024 == 0


def test_agreement_recomputed_from_the_interpreters(quantized, dataset, trained_run):
    from tinykd.students.saved import load_run_model
    from tinykd.tflite.io import as_pcm16

    report = quantized.report
    _, ds = dataset
    test = ds.load_split("test")
    x = as_pcm16(test.x)
    model, _ = load_run_model(trained_run)
    float_pred = np.asarray(model.predict(x, verbose=0)).argmax(axis=1)
    blob = (quantized.out_dir / "model_int8.tflite").read_bytes()
    interp = _tflm(blob, report["arena"]["bytes"])  # the emitted arena size is enough
    tflm_scores = []
    for row in x:
        interp.set_input(row[None, :], 0)
        interp.invoke()
        tflm_scores.append(np.array(interp.get_output(0))[0])
    tflm_pred = np.stack(tflm_scores).argmax(axis=1)
    acc = report["accuracy"]
    assert acc["n_test"] == len(test.y)
    assert acc["agreement_float_tflm"] == pytest.approx((float_pred == tflm_pred).mean())
    assert acc["int8_tflm_accuracy"] == pytest.approx((tflm_pred == test.y).mean())
    assert acc["float_accuracy"] == pytest.approx((float_pred == test.y).mean())
    assert acc["agreement_litert_tflm"] == 1.0
    assert sum(row["n"] for row in acc["per_class"]) == len(test.y)


def test_emitted_c_round_trip_and_header_values(quantized):
    from tinykd.emit import parse_labels, parse_model_array

    out = quantized.out_dir
    report = quantized.report
    cc = (out / "model_data.cc").read_text()
    assert parse_model_array(cc) == (out / "model_int8.tflite").read_bytes()
    assert parse_labels(cc) == report["labels"]
    header = (out / "model_data.h").read_text()
    assert f"#define TINYKD_ARENA_BYTES {report['arena']['bytes']}" in header
    assert f"#define TINYKD_ARENA_MEASURED_BYTES {report['arena']['measured_bytes']}" in header
    assert "#define TINYKD_INPUT_TYPE_FLOAT32 1" in header
    assert f"#define TINYKD_INPUT_SAMPLES {report['input']['shape'][1]}" in header
    ops_h = (out / "model_ops.h").read_text()
    distinct = sorted({r["op"] for r in report["ops"]})
    assert f"constexpr int kTinykdNumOps = {len(distinct)};" in ops_h
    assert len(re.findall(r"r\.Add\w+\(\)", ops_h)) == len(distinct)


def test_board_check_warns_and_board_option_refuses(quantized, trained_run, synth_root, tmp_path):
    from tinykd.boards import check_fit
    from tinykd.quantize import QuantizeConfig, quantize_run

    report = quantized.report
    for name, entry in report["boards"].items():
        assert entry["fits"] == check_fit(name, report["model"]["bytes"], report["arena"]["bytes"]).fits
    misfits = [name for name, entry in report["boards"].items() if not entry["fits"]]
    if len(misfits) == len(report["boards"]):
        assert any("fits no board" in w for w in quantized.warnings)
    if misfits:
        out = tmp_path / "refused"
        with pytest.raises(TinykdError, match=f"does not fit --board {misfits[0]}"):
            quantize_run(trained_run, synth_root, out, QuantizeConfig(representative_size=4, board=misfits[0],
                                                                      max_test_clips=2), show_progress=False)
        assert not out.exists() and not list(tmp_path.glob(".refused*"))


def test_export_c_rewrites_from_the_quantized_folder(quantized, tmp_path):
    from tinykd.emit import export_c, parse_model_array

    paths = export_c(quantized.out_dir.parent, tmp_path, name="1st naïve")
    assert sorted(p.name for p in paths) == ["model_data.cc", "model_data.h", "model_ops.h"]
    cc = (tmp_path / "model_data.cc").read_text()
    assert parse_model_array(cc, prefix="m1st_naive") == (quantized.out_dir / "model_int8.tflite").read_bytes()


def test_out_folder_elsewhere_is_self_contained(trained_run, synth_root, tmp_path):
    """`quantize RUN --out DIR`: DIR holds its own labels.json, so `evaluate DIR/model_int8.tflite` scores it
    (on the data settings recorded in quantize.json) without the run folder beside it."""
    from tinykd.distill.evaluate import evaluate
    from tinykd.quantize import QuantizeConfig, quantize_run

    out = tmp_path / "elsewhere" / "int8"
    result = quantize_run(trained_run, synth_root, out, QuantizeConfig(representative_size=8), show_progress=False)
    metrics = evaluate(out / "model_int8.tflite", synth_root)
    assert metrics["n"] == result.report["accuracy"]["n_test"]
    # LiteRT on the same PCM input and rule as the proof: the same accuracy the report states.
    assert metrics["accuracy"] == pytest.approx(result.report["accuracy"]["int8_litert_accuracy"])


# -- bad input ----------------------------------------------------------------------------------------
def test_run_without_model_is_one_line_error(tmp_path, synth_root, capsys):
    from tinykd.cli import main

    run = tmp_path / "run"
    run.mkdir()
    save_json(run / "labels.json", ["a", "b"])
    assert main(["quantize", str(run), "--data", str(synth_root)]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "model.keras" in lines[0], err
    assert not (run / "int8").exists()
    assert main(["export", "c", str(run)]) == 2
    assert "run `tinykd quantize` first" in capsys.readouterr().err


def test_silent_representative_set_is_refused(trained_run, dataset, tmp_path):
    import soundfile as sf

    from tinykd.quantize import QuantizeConfig, quantize_run

    _, ds = dataset
    silent = tmp_path / "silent"
    rng = np.random.default_rng(0)
    for label in ds.labels:
        (silent / label).mkdir(parents=True)
        for i in range(6):
            # +-1 LSB dither: distinct files (not deduplicated) that are all below -80 dBFS
            pcm = rng.integers(-1, 2, 16000).astype(np.int16)
            sf.write(silent / label / f"{label}_{i}.wav", pcm, 16000, subtype="PCM_16")
    out = tmp_path / "out"
    with pytest.raises(TinykdError, match="every training clip is silent"):
        quantize_run(trained_run, silent, out, QuantizeConfig(representative_size=8), show_progress=False)
    assert not out.exists()


@pytest.fixture(scope="module")
def sign_run(tmp_path_factory, dataset):
    """A run whose model uses SIGN, an op TFLite converts but TFLite Micro has no kernel for."""
    import keras

    from tinykd.frontend.keras_layer import LogMelFrontEnd

    @keras.saving.register_keras_serializable(package="tinykd_test")
    class SignLayer(keras.layers.Layer):
        def call(self, x):
            return keras.ops.sign(x)

    cfg, ds = dataset
    inp = keras.Input((cfg.clip_samples,), name="waveform")
    x = LogMelFrontEnd(name="frontend")(inp)
    x = keras.layers.Dense(4)(x)
    x = SignLayer()(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inp, keras.layers.Dense(len(ds.labels))(x))
    return _write_run(tmp_path_factory.mktemp("signrun"), model, ds.labels, {"name": "sign"}, cfg)


def test_op_without_tflm_kernel_is_refused_by_name(sign_run, synth_root):
    from tinykd.quantize import QuantizeConfig, quantize_run
    from tinykd.tflite.proof import TflmError

    with pytest.raises(TflmError, match=r"no kernel for op SIGN \(node \d+, input float32\)"):
        quantize_run(sign_run, synth_root, config=QuantizeConfig(representative_size=4, max_test_clips=2),
                     show_progress=False)
    assert not (sign_run / "int8").exists()


def test_out_folder_that_is_not_a_quantize_output_is_refused(trained_run, synth_root, tmp_path):
    from tinykd.quantize import QuantizeConfig, quantize_run

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    for out in (trained_run, precious):
        with pytest.raises(TinykdError, match="--out"):
            quantize_run(trained_run, synth_root, out, QuantizeConfig(), show_progress=False)
    assert (precious / "notes.txt").read_text() == "keep me" and (trained_run / "model.keras").is_file()


def test_front_end_matrices_are_stored_int8_and_expanded_at_invoke(quantized, trained_run, synth_root, tmp_path):
    """`--frontend-weights int8`: the DFT kernel and the mel bank are int8 constants, each read by a DEQUANTIZE
    whose float32 output is the front-end op's weight; `float` stores them float32 (4x the bytes) and gives the
    same decisions on this data; `auto` (the default) picks one of the two and says why."""
    from tinykd.quantize import QuantizeConfig, quantize_run

    def run(mode: str) -> dict:
        return quantize_run(trained_run, synth_root, tmp_path / mode,
                            QuantizeConfig(representative_size=24, frontend_weights=mode), show_progress=False).report

    report, plain = run("int8"), run("float")
    stored = report["frontend"]["int8_stored_matrices"]
    assert sorted(m["op"] for m in stored) == ["CONV_2D", "FULLY_CONNECTED"]
    assert all(m["float_bytes"] == 4 * m["int8_bytes"] for m in stored)
    expand = [r for r in report["ops"] if r["op"] == "DEQUANTIZE" and r["weight_dtypes"] == ["int8"]]
    assert len(expand) == 2 and all(r["output_dtype"] == "float32" for r in expand)
    assert "stored int8 and expanded by DEQUANTIZE" in (tmp_path / "int8" / "report.md").read_text()

    assert plain["frontend"]["int8_stored_matrices"] == []
    saved = sum(m["float_bytes"] - m["int8_bytes"] for m in stored)
    assert plain["model"]["bytes"] - report["model"]["bytes"] >= saved - 512  # minus the DEQUANTIZE ops and int8 tensors
    assert report["accuracy"]["agreement_float_tflm"] >= plain["accuracy"]["agreement_float_tflm"] - 0.05

    auto = quantized.report  # the default
    assert auto["frontend"]["weights"] == "auto"
    assert auto["model"]["bytes"] in (report["model"]["bytes"], plain["model"]["bytes"])
    assert auto["frontend"]["weights_decision"].startswith("int8 (auto" if auto["frontend"]["int8_stored_matrices"] else "float32 (auto")


def test_float_head_keeps_pooling_and_classifier_float(trained_run, synth_root, tmp_path):
    """--float-head: the mean-over-time head and the classifier run float (the classifier's matrix stored int8
    and expanded by DEQUANTIZE); the int8 body before them is unchanged."""
    from tinykd.quantize import QuantizeConfig, quantize_run

    report = quantize_run(trained_run, synth_root, tmp_path / "float-head",
                          QuantizeConfig(representative_size=24, float_head=True, frontend_weights="int8"),
                          show_progress=False).report
    assert report["frontend"]["float_head"] is True
    rows = report["ops"]
    assert rows[-1]["op"] == "FULLY_CONNECTED" and rows[-1]["kind"] == "float"
    assert any(r["op"] == "MEAN" and r["kind"] == "float" and "time_mean" in r["name"] for r in rows)
    assert any(r["op"] == "CONV_2D" and r["kind"] == "int8" for r in rows)
    stored = {m["op"] for m in report["frontend"]["int8_stored_matrices"]}
    assert stored == {"CONV_2D", "FULLY_CONNECTED"} and len(report["frontend"]["int8_stored_matrices"]) == 3
    assert report["output"]["dtype"] == "float32"
