"""The Signal front end: tables, the TFLM graph, and its numpy and Keras twins.

Tolerance (measured, then asserted): the TFLM graph run hop by hop in the real `tflite_micro` interpreter, the
numpy twin and the Keras twin agree EXACTLY (0 LSB, 100% of features) on the int8 features and on the int16
log before the offset and clamp, on generated audio (tones, chirps, harmonic bursts, white noise, silence,
very quiet and full-scale clips) and on all 250 FSDD test clips at -12, 0 and +12 dB. The twins port
kissfft's fixed-point FFT and Log32 bit for bit, so any difference is a real error; a float FFT (the first
design) left 27% of the features different, by up to 137 LSB.

micro_speech's own front-end model (from the vendored esp-tflite-micro tree, skipped when absent) pins the
tables and the graph: the tables match its constants bit for bit, and our graph with its settings reproduces
its output on every frame.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tarfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import scipy.signal

from tinykd.errors import TinykdError
from tinykd.frontend import signal_numpy as sn
from tinykd.frontend.signal_graph import (
    build_signal_frontend,
    signal_op_names,
    tflm_signal_features,
)
from tinykd.frontend.signal_tables import (
    filter_bank_tables,
    hann_window_weights,
    pcan_gain_lut,
    signal_tables,
    spectral_subtraction_options,
)
from tinykd.frontend.spec import DEFAULT_SPEC, SIGNAL_FIELDS, SIGNAL_SPEC, FrontEndSpec
from tinykd.tflite.ops import TFLM_ADD_METHODS, TFLM_CUSTOM_ADD_METHODS

REPO = Path(__file__).resolve().parents[1]
VENDOR = Path(os.environ.get("TINYKD_VENDOR", REPO.parent / "shared" / "vendor"))
ESP_TFLM = VENDOR / "esp-tflite-micro-1.4.0-99f49e14.tar.gz"
TFLM_REF = VENDOR / "tflm-90b983c2-reference.tar.gz"
ARENA = 1 << 20

SPECS = {
    "default": SIGNAL_SPEC,
    "noise": dataclasses.replace(SIGNAL_SPEC, noise_reduction=True),
    "noise-pcan": dataclasses.replace(SIGNAL_SPEC, noise_reduction=True, pcan=True, log_scale=64, feature_offset=-300),
    "8k": dataclasses.replace(SIGNAL_SPEC, sample_rate=8000, win_length=240, hop_length=160, n_fft=256, n_mels=32,
                              fmin=60.0, fmax=3800.0),
    "long": dataclasses.replace(SIGNAL_SPEC, win_length=1000, hop_length=250, n_fft=1024, n_mels=64, fmin=20.0,
                                fmax=7900.0, window_bits=14, log_scale=24, feature_offset=-150),
    "short": dataclasses.replace(SIGNAL_SPEC, win_length=64, hop_length=64, n_fft=64, n_mels=8, fmin=300.0),
}


def generated_audio(sr: int, n: int, seed: int = 0) -> np.ndarray:
    """Tones, chirps, speech-like harmonic bursts, white noise, silence, very quiet and full-scale clips."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    chirp = 0.5 * scipy.signal.chirp(t, f0=60, f1=sr * 0.48, t1=t[-1], method="logarithmic")
    f0 = 120 * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    harmonic = sum(np.sin(k * phase) / k for k in range(1, 25)) * (np.sin(2 * np.pi * 2.5 * t) > 0.2) * 0.3
    noise = 0.2 * rng.standard_normal(n)
    quiet = 2e-4 * rng.standard_normal(n)  # a few LSB of int16
    full = np.sign(np.sin(2 * np.pi * 440 * t)) * 1.5  # clipped full scale
    tones = 0.25 * np.sin(2 * np.pi * 1000 * t) + 0.01 * np.sin(2 * np.pi * 3100 * t)
    silence = np.zeros(n)
    return np.clip(np.stack([chirp, harmonic, noise, quiet, full, tones, silence]), -1.0, 1.0).astype(np.float32)


def tflm_run(flatbuffer: bytes, x: np.ndarray, spec: FrontEndSpec) -> np.ndarray:
    """The graph hop by hop in the real TFLM interpreter, reset at every clip start: [batch, frames, n_mels]."""
    return tflm_signal_features(x, spec, flatbuffer, arena_size=ARENA)


def keras_features(x: np.ndarray, spec: FrontEndSpec) -> np.ndarray:
    import keras

    from tinykd.frontend.signal_keras import SignalFrontEnd

    return keras.ops.convert_to_numpy(SignalFrontEnd(spec)(x))


def parity(got: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """(share of values within 0 LSB, max |diff|)."""
    assert got.shape == ref.shape
    d = np.abs(got.astype(np.int64) - ref.astype(np.int64))
    return float((d == 0).mean()), float(d.max())


# -- micro_speech's model, from the vendored esp-tflite-micro tree ---------------------------------------
@lru_cache(maxsize=1)
def micro_speech_model() -> bytes:
    if not ESP_TFLM.is_file():
        pytest.skip(f"vendored esp-tflite-micro not found at {ESP_TFLM} (set TINYKD_VENDOR)")
    member = "esp-tflite-micro-1.4.0/examples/micro_speech/main/audio_preprocessor_int8_model_data.h"
    with tarfile.open(ESP_TFLM) as tar:
        text = tar.extractfile(member).read().decode()
    body = text[text.index("{", text.index("g_audio_preprocessor_int8_tflite")) : text.index("};")]
    return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-fA-F]{2})", body))


def decode(flatbuffer: bytes):
    from tensorflow.lite.python import schema_py_generated as s

    return s.ModelT.InitFromObj(s.Model.GetRootAsModel(flatbuffer, 0))


def op_list(flatbuffer: bytes) -> list[tuple[str, dict | None, list[int], list[int]]]:
    from flatbuffers import flexbuffers
    from tensorflow.lite.python import schema_py_generated as s

    model = decode(flatbuffer)
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    out = []
    for op in model.subgraphs[0].operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = names[max(code.builtinCode, code.deprecatedBuiltinCode)]
        opts = None
        if name == "CUSTOM":
            name = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
            opts = flexbuffers.Loads(bytes(op.customOptions)) if op.customOptions is not None else None
        out.append((name, opts, list(op.inputs), list(op.outputs)))
    return out


MICRO_SPEECH_SPEC = dataclasses.replace(SIGNAL_SPEC, noise_reduction=True, pcan=True, log_scale=64)


def test_tables_match_micro_speech_constants_bit_for_bit():
    model = decode(micro_speech_model())
    sub = model.subgraphs[0]

    def const(i: int, dtype) -> np.ndarray:
        return np.frombuffer(bytes(model.buffers[sub.tensors[i].buffer].data), dtype=dtype)

    ops = {name: (opts, ins, outs) for name, opts, ins, outs in op_list(micro_speech_model())}
    _, win_in, _ = ops["SignalWindow"]
    np.testing.assert_array_equal(const(win_in[1], np.int16), hann_window_weights(480, 12))
    # micro_speech built its filter bank with alignment 4 / block 4; tinykd uses 1 / 1 (same sums).
    fb = filter_bank_tables(257, 16000, 40, 125.0, 7500.0, alignment=4, channel_block_size=4)
    _, bank_in, _ = ops["SignalFilterBank"]
    for name, idx in zip(["weights", "unweights", "channel_frequency_starts", "channel_weight_starts",
                          "channel_widths"], bank_in[1:]):
        np.testing.assert_array_equal(getattr(fb, name), const(idx, np.int16), err_msg=name)
    ours = signal_tables(MICRO_SPEECH_SPEC)
    np.testing.assert_array_equal(fb.matrix(), ours.mel_matrix)
    assert ops["SignalEnergy"][0] == {"start_index": ours.start_index, "end_index": ours.end_index}
    assert ops["SignalRfft"][0]["fft_length"] == ours.fft_length
    assert ops["SignalFilterBankSpectralSubtraction"][0] == spectral_subtraction_options(40)
    _, pcan_in, _ = ops["SignalPCAN"]
    np.testing.assert_array_equal(const(pcan_in[2], np.int16), ours.pcan_lut)
    np.testing.assert_array_equal(ours.pcan_lut, pcan_gain_lut(0.95, 80.0, 7, 21))
    assert ops["SignalPCAN"][0] == {"snr_shift": ours.pcan_snr_shift}
    assert ops["SignalFilterBankLog"][0] == {"input_correction_bits": ours.correction_bits, "output_scale": 64}


def micro_speech_int8(log16: np.ndarray) -> np.ndarray:
    """micro_speech's int16 -> int8 mapping (audio_preprocessor.py): (log * 256 + 333) // 666 - 128, clamped."""
    return np.clip((log16.astype(np.int64) * 256 + 333) // 666 - 128, -128, 127)


def upstream_tables(spec: FrontEndSpec):
    """signal_tables(spec) with upstream's uncapped Hann window (what micro_speech's model holds)."""
    return dataclasses.replace(signal_tables(spec), window=hann_window_weights(spec.win_length, spec.window_bits))


def test_graph_and_twin_reproduce_micro_speech_frame_by_frame():
    """Our graph with micro_speech's settings (noise reduction, PCAN, output scale 64, upstream's window) ends
    at the int16 log; mapped as micro_speech maps it, it equals micro_speech's own model on every frame, state
    included. Our graph does not zero the energy outside [start, end) as micro_speech's does, so this also
    shows that the zeroing was not needed. (The audio avoids -32768, see the capped-window test.)"""
    spec = MICRO_SPEECH_SPEC
    x = generated_audio(16000, 16000 + 480) * np.float32(0.999)
    ref = tflm_run(micro_speech_model(), x, spec)
    ours = tflm_run(build_signal_frontend(spec, log_output=True, tables=upstream_tables(spec)), x, spec)
    assert (ref > -128).mean() > 0.4  # the comparison is not trivial
    np.testing.assert_array_equal(micro_speech_int8(ours), ref)
    np.testing.assert_array_equal(micro_speech_int8(sn.signal_log(x, spec, upstream_tables(spec))), ref)


def test_capped_window_keeps_clipped_frames_sane():
    """Upstream's window holds 2**bits at its centre; a full-scale negative sample there windows to -32768,
    which SignalFftAutoScale's MaxAbs16 mishandles (the negation wraps in int16), so TFLM shifts the frame too
    far and it wraps: here a lone -32768 click followed by quiet vanishes from the output. Our tables cap the
    weights at 2**bits - 1 (one LSB on the four centre weights of 480 at 12 bits) and TFLM then equals the twin."""
    spec = SIGNAL_SPEC
    upstream = hann_window_weights(spec.win_length, spec.window_bits)
    capped = signal_tables(spec).window
    changed = np.flatnonzero(upstream != capped)
    assert len(changed) == 4 and (upstream[changed] == 4096).all() and (capped[changed] == 4095).all()
    frame = np.zeros(spec.win_length, np.float32)
    frame[changed[0]] = -1.0  # -32768
    frame[changed[-1] + 40] = 0.003
    x = frame[None, :]
    wrapped = tflm_run(build_signal_frontend(spec, log_output=True, tables=upstream_tables(spec)), x, spec)
    expected = sn.signal_log(x, spec, upstream_tables(spec))
    assert (expected - wrapped).min() > 64  # TFLM loses the click: every band ~6 nepers (50 dB) too low
    np.testing.assert_array_equal(tflm_run(build_signal_frontend(spec, log_output=True), x, spec), sn.signal_log(x, spec))


# -- spec --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, field",
    [
        (dict(n_fft=500), "n_fft"),
        (dict(n_fft=4096, win_length=4096, hop_length=2048), "n_fft"),
        (dict(n_fft=256), "n_fft"),  # shorter than the window
        (dict(hop_length=481), "hop_length"),
        (dict(fmax=9000.0), "fmax"),
        (dict(fmax=8000.0), "fmax"),  # no bin above the top band
        (dict(fmin=7600.0), "fmin"),
        (dict(normalize="utterance"), "normalize"),
        (dict(window="hamming"), "window"),
        (dict(mel_scale="slaney"), "mel_scale"),
        (dict(n_mels=128), "n_mels"),  # a band no bin reaches
        (dict(window_bits=15), "window_bits"),
        (dict(log_scale=0), "log_scale"),
        (dict(log_scale=16.5), "log_scale"),
        (dict(feature_offset=128), "feature_offset"),
        (dict(pcan=True), "pcan"),
        (dict(noise_reduction="yes"), "noise_reduction"),
        (dict(kind="dsp"), "kind"),
    ],
)
def test_signal_spec_rejects_bad_values_in_one_line(change, field):
    with pytest.raises(TinykdError) as err:
        dataclasses.replace(SIGNAL_SPEC, **change)
    msg = str(err.value)
    assert msg.startswith("front end: ") and field in msg and "\n" not in msg, msg


def test_logmel_specs_keep_their_dicts_and_ignore_signal_fields():
    # Every preset's stored front end round-trips to the identical dict (so the same fingerprint); the
    # research presets keep the float log-mel, the deployable ones the Signal front end.
    kinds = {}
    for path in sorted((REPO / "models").glob("*.json")):
        stored = json.loads(path.read_text())["frontend"]
        spec = FrontEndSpec.from_dict(stored)
        kinds[path.stem] = spec.kind
        assert spec.to_dict() == stored, path.name
    assert kinds["wav2tiny-paper"] == kinds["wav2small-paper"] == "logmel"
    assert kinds["wav2tiny"] == kinds["wav2small"] == "signal"
    assert not set(SIGNAL_FIELDS) & set(DEFAULT_SPEC.to_dict())
    old_style = {k: v for k, v in DEFAULT_SPEC.to_dict().items()}
    assert FrontEndSpec.from_dict(old_style) == DEFAULT_SPEC
    # A logmel spec with a non-default signal field keeps it (round trip), and its logmel checks still apply.
    odd = FrontEndSpec(window_bits=10)
    assert FrontEndSpec.from_dict(odd.to_dict()) == odd and odd.fingerprint() != DEFAULT_SPEC.fingerprint()
    # A signal spec writes every field.
    assert set(SIGNAL_SPEC.to_dict()) == {f.name for f in dataclasses.fields(FrontEndSpec)}
    assert FrontEndSpec.from_dict(SIGNAL_SPEC.to_dict()) == SIGNAL_SPEC


def test_signal_spec_framing():
    assert SIGNAL_SPEC.n_frames(16000) == 49 and SIGNAL_SPEC.n_frames(479) == 0
    assert SIGNAL_SPEC.frame_rate() == 50.0


# -- the graph -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(SPECS))
def test_graph_ops_options_and_io(name):
    spec = SPECS[name]
    fb = build_signal_frontend(spec)
    assert fb[4:8] == b"TFL3"
    ops = op_list(fb)
    assert [o[0] for o in ops] == signal_op_names(spec)
    assert set(signal_op_names(spec)) <= set(TFLM_CUSTOM_ADD_METHODS) | {"QUANTIZE"}
    t = signal_tables(spec)
    opts = {o[0]: o[1] for o in ops}
    assert opts["SignalWindow"] == {"shift": spec.window_bits}
    assert opts["SignalRfft"] == {"T": 7, "fft_length": spec.n_fft}  # TensorType INT16 = 7
    assert opts["SignalEnergy"] == {"start_index": t.start_index, "end_index": t.end_index}
    assert opts["SignalFilterBankLog"] == {"input_correction_bits": t.correction_bits, "output_scale": spec.log_scale}
    model = decode(fb)
    sub = model.subgraphs[0]
    pcm, out = sub.tensors[sub.inputs[0]], sub.tensors[sub.outputs[0]]
    assert list(pcm.shape) == [spec.win_length] and list(out.shape) == [spec.n_mels]
    assert list(out.quantization.scale) == [1.0] and list(out.quantization.zeroPoint) == [0]


def test_graph_constants_are_16_byte_aligned():
    from tensorflow.lite.python import schema_py_generated as s

    fb = build_signal_frontend(SPECS["noise-pcan"])
    model = s.Model.GetRootAsModel(fb, 0)
    starts = []
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if buf.DataLength():
            tab = buf._tab
            starts.append(tab.Vector(tab.Offset(4)))
    assert len(starts) == 7 and all(p % 16 == 0 for p in starts), starts


def test_filter_bank_reads_only_the_energy_bins_it_computes():
    """Why the graph needs no zeroing of the energy outside [start, end): every non-zero weight and unweight
    sits on a bin SignalEnergy writes (the others are multiplied by zero, whatever stale value they hold)."""
    for spec in SPECS.values():
        t = signal_tables(spec)
        read = t.filter_bank.bins_read()
        assert read.min() >= t.start_index and read.max() < t.end_index, spec
        assert not t.mel_matrix[: t.start_index].any() and not t.mel_matrix[t.end_index :].any()


def test_stale_memory_does_not_leak_between_hops():
    """A quiet frame after a loud one gives what it gives in a fresh interpreter (stateless spec)."""
    from tflite_micro.python.tflite_micro import runtime

    fb = build_signal_frontend(SIGNAL_SPEC)
    rng = np.random.default_rng(3)
    loud = rng.integers(-30000, 30000, 480).astype(np.int16)
    quiet = (rng.standard_normal(480) * 20).astype(np.int16)
    a = runtime.Interpreter.from_bytes(fb, arena_size=ARENA)
    for frame in (loud, loud[::-1], quiet):
        a.set_input(frame, 0)
        a.invoke()
    b = runtime.Interpreter.from_bytes(fb, arena_size=ARENA)
    b.set_input(quiet, 0)
    b.invoke()
    np.testing.assert_array_equal(a.get_output(0), b.get_output(0))


def test_graph_is_small_and_allocates_a_small_arena():
    from tinykd.tflite.arena import allocations_report, arena_bytes
    from tflite_micro.python.tflite_micro import runtime

    fb = build_signal_frontend(SIGNAL_SPEC)
    arena = arena_bytes(allocations_report(runtime.Interpreter.from_bytes(fb, arena_size=ARENA)))
    # micro_speech's front end (a converted graph with names and zeroing ops): 8 772 B, about 10 KB of arena.
    assert len(fb) < 5000 and arena < 9000, (len(fb), arena)
    # it runs in an arena of exactly that size
    interp = runtime.Interpreter.from_bytes(fb, arena_size=arena)
    interp.set_input(np.zeros(SIGNAL_SPEC.win_length, np.int16), 0)
    interp.invoke()
    assert (interp.get_output(0) == -128).all()  # digital silence sits at the floor


def test_resolver_methods_exist_in_tflm():
    if not TFLM_REF.is_file():
        pytest.skip(f"vendored TFLM tree not found at {TFLM_REF} (set TINYKD_VENDOR)")
    with tarfile.open(TFLM_REF) as tar:
        header = tar.extractfile("tflm-90b983c2-reference/tensorflow/lite/micro/micro_mutable_op_resolver.h").read().decode()
    for name, method in {**TFLM_CUSTOM_ADD_METHODS, "QUANTIZE": TFLM_ADD_METHODS["QUANTIZE"]}.items():
        match = re.search(rf"TfLiteStatus {method}\(.*?\n  }}", header, re.S)
        assert match, method
        registered = f'"{name}"' if name.startswith("Signal") else f"BuiltinOperator_{name}"
        assert registered in match.group(0), (name, method)


def test_graph_needs_a_signal_spec():
    with pytest.raises(TinykdError, match="kind='signal'"):
        build_signal_frontend(DEFAULT_SPEC)
    with pytest.raises(TinykdError, match="kind='signal'"):
        signal_op_names(DEFAULT_SPEC)
    with pytest.raises(TinykdError, match="cannot load"):
        tflm_signal_features(np.zeros(16000), SIGNAL_SPEC, b"not a model")


# -- parity: TFLM vs numpy twin vs Keras twin -------------------------------------------------------------
@pytest.mark.parametrize("name", list(SPECS))
def test_tflm_and_numpy_twin_agree_exactly_on_generated_audio(name):
    spec = SPECS[name]
    x = generated_audio(spec.sample_rate, spec.sample_rate)
    feats = sn.signal_features(x, spec)
    assert feats.dtype == np.float32 and np.array_equal(feats, np.round(feats))
    assert feats.min() >= -128 and feats.max() <= 127
    share, worst = parity(feats, tflm_run(build_signal_frontend(spec), x, spec))
    assert share == 1.0 and worst == 0, (share, worst)
    # before the int8 offset and clamp too (the clamp would hide differences)
    log = sn.signal_log(x, spec)
    share, worst = parity(log, tflm_run(build_signal_frontend(spec, log_output=True), x, spec))
    assert share == 1.0 and worst == 0, (share, worst)
    assert len(np.unique(log)) > 50  # the audio exercises the range


@pytest.mark.parametrize("name", ["default", "noise-pcan", "8k"])
def test_keras_twin_equals_numpy_twin(name):
    spec = SPECS[name]
    x = generated_audio(spec.sample_rate, spec.sample_rate, seed=1)
    np.testing.assert_array_equal(keras_features(x, spec), sn.signal_features(x, spec))


def test_noise_reduction_state_runs_across_frames_from_a_reset():
    spec = SPECS["noise-pcan"]
    x = generated_audio(16000, 16000, seed=2)[:3]
    plain = sn.signal_features(x, dataclasses.replace(spec, noise_reduction=False, pcan=False))
    feats = sn.signal_features(x, spec)
    assert not np.array_equal(plain, feats)
    # The state matters: a clip's frames computed from a reset differ from the same frames after another clip.
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(build_signal_frontend(spec), arena_size=ARENA)
    frames = sn.pcm_frames(sn.pcm16(x), spec)
    for k in range(frames.shape[1]):  # clip 0, then clip 1 without a reset
        interp.set_input(frames[0, k], 0)
        interp.invoke()
    carried = []
    for k in range(frames.shape[1]):
        interp.set_input(frames[1, k], 0)
        interp.invoke()
        carried.append(interp.get_output(0).copy())
    assert not np.array_equal(np.array(carried), feats[1])
    np.testing.assert_array_equal(tflm_run(build_signal_frontend(spec), x, spec), feats)


def test_twins_reject_bad_input_in_one_line():
    for bad, words in [(np.full(16000, np.nan), "NaN"), (np.zeros((2, 2, 16000)), "shape"), (np.zeros(100), "shorter")]:
        with pytest.raises(TinykdError, match=words) as err:
            sn.signal_features(bad, SIGNAL_SPEC)
        assert "\n" not in str(err.value)
    with pytest.raises(TinykdError, match="kind='signal'"):
        sn.signal_features(np.zeros(16000), DEFAULT_SPEC)
    from tinykd.frontend.signal_keras import SignalFrontEnd

    with pytest.raises(TinykdError, match="kind='signal'"):
        SignalFrontEnd(DEFAULT_SPEC)
    with pytest.raises(TinykdError, match="shorter"):
        SignalFrontEnd(SIGNAL_SPEC)(np.zeros((1, 100), np.float32))


def test_pcm_rounding_is_the_firmwares():
    x = np.array([0.5 / 32768, 1.5 / 32768, -0.5 / 32768, 1.0, -1.0, -1.2, 32767.4 / 32768])
    np.testing.assert_array_equal(sn.pcm16(x), [0, 2, 0, 32767, -32768, -32768, 32767])


def test_keras_layer_saves_and_loads_safely(tmp_path):
    import keras

    from tinykd.frontend.signal_keras import SignalFrontEnd

    spec = SPECS["noise"]
    inp = keras.Input((16000,))
    feats = SignalFrontEnd(spec, name="frontend")(inp)
    out = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(feats))
    model = keras.Model(inp, out)
    assert model.get_layer("frontend").compute_output_shape((None, 16000)) == (None, 49, 40)
    assert not model.get_layer("frontend").weights and not model.get_layer("frontend").trainable
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    layer = loaded.get_layer("frontend")
    assert type(layer).__name__ == "SignalFrontEnd" and layer.spec == spec
    assert keras.saving.get_registered_name(SignalFrontEnd) == "tinykd>SignalFrontEnd"
    x = generated_audio(16000, 16000, seed=4)[:2]
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


# -- FSDD ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fsdd_16k(fsdd_root):
    from tinykd.data import DataConfig, load_dataset

    ds = load_dataset(fsdd_root, DataConfig(sample_rate=16000, val_fraction=0))
    return ds.load_split("test").x


@pytest.mark.fsdd
@pytest.mark.parametrize("gain_db", [-12, 0, 12])
def test_fsdd_parity_and_level(fsdd_16k, gain_db):
    x = np.clip(fsdd_16k * np.float32(10 ** (gain_db / 20)), -1.0, 1.0)
    spec = SIGNAL_SPEC
    feats = sn.signal_features(x, spec)
    share, worst = parity(feats, tflm_run(build_signal_frontend(spec), x, spec))
    assert share == 1.0 and worst == 0, (share, worst)
    np.testing.assert_array_equal(keras_features(x[:64], spec), feats[:64])
    # The int8 scale (log_scale 16, offset -128): speech 12 dB louder than recorded does not reach the top
    # code, the padding's digital silence sits at -128, and the loud frames use the upper half of the range.
    assert feats.max() < 127
    assert (feats == -128).mean() > 0.2
    assert np.percentile(feats.reshape(len(x), -1).max(axis=1), 50) > {-12: 45, 0: 65, 12: 85}[gain_db]


def test_layers_of_one_spec_share_one_compiled_pipeline():
    """Every SignalFrontEnd of a spec reuses the first one's compiled pipeline (a student trained after another
    compiles nothing again); another spec gets its own, and each layer computes its own spec's features."""
    from tinykd.frontend.signal_keras import SignalFrontEnd

    other = dataclasses.replace(SIGNAL_SPEC, noise_reduction=True)
    x = generated_audio(16000, 16000, seed=5)[:3]
    a, b, c = SignalFrontEnd(SIGNAL_SPEC), SignalFrontEnd(SIGNAL_SPEC.to_dict()), SignalFrontEnd(other)
    outs = [np.asarray(layer(x)) for layer in (a, b, c)]
    assert a._pipeline is b._pipeline and a._pipeline is not c._pipeline
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], sn.signal_features(x, SIGNAL_SPEC))
    np.testing.assert_array_equal(outs[2], sn.signal_features(x, other))
