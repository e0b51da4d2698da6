"""`tinykd quantize` of a deployable student (Signal front end): two flatbuffers, proven as the firmware runs
them (the front end hop by hop, the body per clip) in the real TFLM interpreter, every figure of the report
re-derived here from the interpreters themselves."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from tinykd.configio import save_json, to_dict  # noqa: E402

SMALL = dict(name="signal-test", depth=2, channels=[4, 8], pool_after=[1], head="mean", dropout=0.0)


@pytest.fixture(scope="module")
def dataset(synth_root):
    from tinykd.data import DataConfig, load_dataset

    cfg = DataConfig()
    return cfg, load_dataset(synth_root, cfg)


@pytest.fixture(scope="module")
def signal_run(tmp_path_factory, dataset):
    """A run folder holding a briefly trained small student with the Signal front end."""
    import keras

    from tinykd.frontend.spec import SIGNAL_SPEC
    from tinykd.students import build_student
    from tinykd.students.config import StudentConfig

    keras.utils.set_random_seed(0)
    cfg, ds = dataset
    train = ds.load_split("train")
    student = StudentConfig(**SMALL, frontend=SIGNAL_SPEC.to_dict())
    model = build_student(student, len(ds.labels), cfg.clip_samples)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(train.x, train.y, epochs=3, batch_size=8, verbose=0)
    run = tmp_path_factory.mktemp("signal_run")
    model.save(run / "model.keras")
    save_json(run / "labels.json", list(ds.labels))
    save_json(run / "config.json", {"student": student.to_dict(), "data": to_dict(cfg)})
    return run


@pytest.fixture(scope="module")
def quantized(signal_run, synth_root):
    from tinykd.quantize import QuantizeConfig, quantize_run

    return quantize_run(signal_run, synth_root, config=QuantizeConfig(representative_size=16), show_progress=False)


def test_two_flatbuffers_recorded_and_emitted(quantized):
    from tinykd.artifacts import Int8Dir, deployment_hash, model_hash
    from tinykd.emit.c_model import parse_model_array

    out, report = quantized.out_dir, quantized.report
    assert report["kind"] == "signal" and "SignalFrontEnd" in report["path"]
    folder = Int8Dir(out)
    body, frontend = folder.flatbuffer(), folder.frontend_flatbuffer()
    assert report["model"]["hash16"] == model_hash(body) and report["frontend"]["hash16"] == model_hash(frontend)
    assert report["deployment"]["hash16"] == deployment_hash(frontend, body)
    assert report["deployment"]["flatbuffer_bytes"] == len(body) + len(frontend)
    source, header = (out / "model_data.cc").read_text(), (out / "model_data.h").read_text()
    assert parse_model_array(source) == body and parse_model_array(source, prefix="tinykd_frontend") == frontend
    assert "#define TINYKD_MODEL_KIND_SIGNAL 1" in header and "#define TINYKD_FEATURE_FRAMES 49" in header
    assert f'tinykd_model_hash[] = "{deployment_hash(frontend, body)}"' in source
    ops = (out / "model_ops.h").read_text()
    assert "AddRfft()" in ops and "AddFilterBankLog()" in ops and "AddConv2D()" in ops
    assert json.loads((out / "labels.json").read_text()) == report["labels"]


def test_boards_record_whether_their_tflm_has_every_op(quantized):
    boards = quantized.report["boards"]
    assert boards["esp32"]["builds"] and boards["esp32"]["tflm"][-1] == "esp-tflite-micro-1.4.0"
    assert not boards["nano33ble"]["builds"]  # Chirale_TensorFlowLite has no Signal ops
    assert {"AddRfft", "AddWindow", "AddFilterBankLog"} <= set(boards["nano33ble"]["ops_missing"])
    assert boards["qemu-nano33ble"]["builds"] and not boards["qemu-nano33ble"]["ops_missing"]
    assert any("nano33ble: its TFLM (chirale-2.0.0) lacks" in w for w in quantized.report["warnings"]) == \
        boards["nano33ble"]["fits"]


def test_body_is_all_integer_and_takes_the_feature_codes(quantized):
    report = quantized.report
    assert report["input"] == {"dtype": "int8", "shape": [1, 49, 40], "scale": 1.0, "zero_point": 0}
    assert {r["kind"] for r in report["ops"]} <= {"int8", "int32", "convert"}
    assert report["frontend"]["float_ops"] == [] and report["macs"]["float"] == 0
    assert report["stream"] == {"window_samples": 480, "hop_samples": 320, "frames": 49, "bins": 40,
                                "clip_samples": 16000}


def test_streaming_proof_recomputed_in_tflm(quantized, dataset, signal_run):
    """The firmware's order (front end per hop with a reset per clip, then the body) run again here in TFLM:
    the same features as the Keras twin, the same predictions as the report's, and the report's agreement."""
    from tinykd.artifacts import Int8Dir
    from tinykd.students.saved import load_run_model
    from tinykd.tflite.convert import body_features
    from tinykd.tflite.io import as_pcm16, float_to_pcm
    from tinykd.tflite.stream import StreamPipeline

    folder = Int8Dir(quantized.out_dir)
    pipe = StreamPipeline(folder.frontend_flatbuffer(), folder.flatbuffer(), 480, 320)
    _, ds = dataset
    test = ds.load_split("test")
    model, _ = load_run_model(signal_run)
    x = as_pcm16(test.x)
    feats, raw = zip(*(pipe.run(clip) for clip in float_to_pcm(x)))
    np.testing.assert_array_equal(np.stack(feats), body_features(model, x).astype(np.int8))
    tflm_pred = np.stack(raw).argmax(axis=1)
    float_pred = np.asarray(model.predict(x, verbose=0)).argmax(axis=1)
    acc = quantized.report["accuracy"]
    assert acc["n_test"] == len(test.y)
    assert acc["int8_tflm_accuracy"] == pytest.approx((tflm_pred == test.y).mean())
    assert acc["agreement_float_tflm"] == pytest.approx((float_pred == tflm_pred).mean())
    # LiteRT runs the body on TFLM's features: its optimized int8 kernels round a few steps apart from TFLM's
    # reference kernels (a near-tie of this barely trained model may flip), never more
    assert acc["max_abs_diff_litert_tflm"] <= 4 * quantized.report["output"]["scale"] + 1e-6
    assert quantized.report["frontend"]["feature_mismatches"] == 0
    # stream mode over one clip's audio gives that clip's answer in its first window
    (k, first), *_ = pipe.stream_windows(float_to_pcm(x[0]), every=1)
    assert k == 48 and np.array_equal(first, raw[0])


def test_shared_arena_is_what_both_models_need(quantized, capfd):
    from tinykd.tflite.arena import arena_bytes, head_tail_bytes
    from tflite_micro import runtime

    report, out = quantized.report, quantized.out_dir
    arena = report["arena"]
    reports = []
    for name, measured, shape, dtype in (("frontend.tflite", arena["frontend_measured_bytes"], (480,), np.int16),
                                         ("model_int8.tflite", arena["body_measured_bytes"], (1, 49, 40), np.int8)):
        blob = (out / name).read_bytes()
        interp = runtime.Interpreter.from_bytes(blob, arena_size=measured)  # exactly the measured arena runs
        interp.set_input(np.zeros(shape, dtype), 0)
        interp.invoke()
        interp.print_allocations()
        text = capfd.readouterr().err
        assert arena_bytes(text) == measured
        reports.append(head_tail_bytes(text))
        with pytest.raises(RuntimeError):
            runtime.Interpreter.from_bytes(blob, arena_size=measured - 2048)  # and clearly less does not
    (fe_head, fe_tail), (body_head, body_tail) = reports
    assert arena["measured_bytes"] == max(fe_head, body_head) + fe_tail + body_tail
    assert arena["bytes"] >= arena["measured_bytes"] * 1.10 and arena["bytes"] % 1024 == 0
    assert report["frontend"]["per_hop"]["operations"]["FFT butterflies"] == 256
