"""C emission: identifiers, string escaping, byte round trip, and the emitted files compiled and run by g++."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tinykd.emit import ModelSource, TensorSpec, c_identifier, c_string_literal, parse_labels, parse_model_array
from tinykd.emit.identifiers import parse_c_string_literal
from tinykd.emit.op_resolver import render_model_ops_h, resolver_methods
from tinykd.emit.write import write_c_sources
from tinykd.errors import TinykdError

NASTY_LABELS = ('a"b', "1st", "naïve", "back\\slash", "tab\there", "??=trigraph", "7", "日本")
GXX = shutil.which("g++")


def sine_model() -> bytes:
    """A real .tflite flatbuffer shipped with the tflite-micro package."""
    import tflite_micro

    path = Path(tflite_micro.__file__).parent / "python" / "tflite_micro" / "sine_float.tflite"
    return path.read_bytes()


def make_source(labels=NASTY_LABELS, prefix="tinykd", data: bytes | None = None) -> ModelSource:
    return ModelSource(
        flatbuffer=sine_model() if data is None else data,
        labels=tuple(labels),
        sample_rate=16000,
        input=TensorSpec("float32", (1, 16000), 0.0, 0),
        output=TensorSpec("int8", (1, len(labels)), 0.125, -3),
        arena_measured_bytes=60000,
        arena_bytes=63488,
        prefix=prefix,
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("kws model", "kws_model"),
        ("1st", "m1st"),
        ("naïve", "naive"),
        ('a"b', "a_b"),
        ("__init__", "init"),
        ("my--model..v2", "my_model_v2"),
        ("int", "int_"),
        ("class", "class_"),
        ("tinykd", "tinykd"),
    ],
)
def test_c_identifier_sanitises(text, expected):
    assert c_identifier(text) == expected


@pytest.mark.parametrize("text", ["", "!!!", "日本"])
def test_c_identifier_refuses_names_without_letters(text):
    with pytest.raises(TinykdError, match="C identifier"):
        c_identifier(text)


@pytest.mark.parametrize("label", NASTY_LABELS + ("", "x\n\"y\"\\z\x01", "0123"))
def test_string_literal_round_trip(label):
    literal = c_string_literal(label)
    assert literal.isascii()
    assert parse_c_string_literal(literal) == label


def test_octal_escape_is_not_extended_by_following_digits():
    # "\303\257" followed by "1": a \x escape would swallow hex digits; 3-digit octal stops by itself.
    assert c_string_literal("ï1") == '"\\303\\2571"'


def test_model_array_round_trip_and_label_parse(tmp_path):
    data = sine_model()
    write_c_sources(make_source(), ["FULLY_CONNECTED", "QUANTIZE"], tmp_path)
    text = (tmp_path / "model_data.cc").read_text()
    assert "alignas(16) const unsigned char tinykd_model_data[]" in text
    assert parse_model_array(text) == data
    assert parse_labels(text) == list(NASTY_LABELS)
    header = (tmp_path / "model_data.h").read_text()
    for needle in (
        "#define TINYKD_NUM_LABELS 8",
        "#define TINYKD_SAMPLE_RATE 16000",
        "#define TINYKD_INPUT_SAMPLES 16000",
        "#define TINYKD_INPUT_TYPE_FLOAT32 1",
        "#define TINYKD_OUTPUT_TYPE_INT8 1",
        "#define TINYKD_ARENA_BYTES 63488",
        "extern const char tinykd_model_hash[];",
        "#include",
    ):
        assert needle in header
    assert "tensorflow" not in header  # model_data.h must not need TFLM headers


def test_model_ops_header_registers_exactly_the_ops():
    text = render_model_ops_h(["CONV_2D", "LOG", "CONV_2D", "BATCH_MATMUL", "QUANTIZE"])
    assert "constexpr int kTinykdNumOps = 4;" in text
    assert "tinykd_register_ops(tflite::MicroMutableOpResolver<kTinykdNumOps>& r)" in text
    calls = [line.split("r.")[1].split("(")[0] for line in text.splitlines() if "r.Add" in line]
    assert calls == ["AddBatchMatMul", "AddConv2D", "AddLog", "AddQuantize"]


def test_op_without_tflm_kernel_is_refused_by_name():
    with pytest.raises(TinykdError, match="RFFT2D"):
        resolver_methods(["CONV_2D", "RFFT2D"])


DUMP_MAIN = r"""
#include <cstdio>
#include <cstdint>
#include "model_data.h"
// Writes the array, then each label and the metadata, so the test can compare them with the inputs.
int main(int argc, char** argv) {
  if (argc != 3) return 2;
  FILE* f = std::fopen(argv[1], "wb");
  std::fwrite(PREFIX_model_data, 1, PREFIX_model_data_len, f);
  std::fclose(f);
  FILE* g = std::fopen(argv[2], "wb");
  for (int i = 0; i < NUM_LABELS; ++i) std::fprintf(g, "%s\n", PREFIX_labels[i]);
  std::fprintf(g, "aligned=%d\n", (int)(reinterpret_cast<uintptr_t>(PREFIX_model_data) % 16 == 0));
  std::fprintf(g, "hash=%s\n", PREFIX_model_hash);
  std::fprintf(g, "in=%d,%d scale=%g zp=%d\n", (int)PREFIX_input_shape[0], (int)PREFIX_input_shape[1],
               (double)PREFIX_input_scale, (int)PREFIX_input_zero_point);
  std::fprintf(g, "out=%d scale=%g zp=%d\n", (int)PREFIX_output_shape[1], (double)PREFIX_output_scale,
               (int)PREFIX_output_zero_point);
  return 0;
}
"""


def compile_and_dump(folder: Path, prefix: str, n_labels_macro: str) -> tuple[bytes, str]:
    main = folder / "main.cc"
    main.write_text(DUMP_MAIN.replace("PREFIX", prefix).replace("NUM_LABELS", n_labels_macro))
    flags = ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic"]
    subprocess.run([GXX, *flags, "-c", "model_data.cc", "-o", "model_data.o"], cwd=folder, check=True)
    subprocess.run([GXX, *flags, "main.cc", "model_data.o", "-o", "dump"], cwd=folder, check=True)
    subprocess.run([str(folder / "dump"), "bytes.bin", "meta.txt"], cwd=folder, check=True)
    return (folder / "bytes.bin").read_bytes(), (folder / "meta.txt").read_bytes().decode("utf-8")


@pytest.mark.skipif(GXX is None, reason="g++ not installed")
@pytest.mark.parametrize("name, prefix", [("tinykd", "tinykd"), ("1st naïve-model", "m1st_naive_model")])
def test_emitted_files_compile_strict_and_hold_the_exact_bytes(tmp_path, name, prefix):
    data = sine_model()
    src = make_source(prefix=name)
    write_c_sources(src, ["FULLY_CONNECTED"], tmp_path)
    raw, meta = compile_and_dump(tmp_path, prefix, f"{prefix.upper()}_NUM_LABELS")
    assert raw == data
    lines = meta.splitlines()
    assert lines[: len(NASTY_LABELS)] == list(NASTY_LABELS)
    assert "aligned=1" in lines
    assert f"hash={src.model_hash}" in lines
    assert "in=1,16000 scale=0 zp=0" in lines
    assert f"out={len(NASTY_LABELS)} scale=0.125 zp=-3" in lines


# -- byte-identical output for waveform models, and the two-model ("signal") kind ---------------------

def test_waveform_output_is_byte_identical_to_before_the_signal_kind():
    """Digests of the files tinykd emitted before the signal kind existed (same source, same ops)."""
    import hashlib

    src = ModelSource(sine_model(), ('a"b', "1st", "naïve", "x"), 16000, TensorSpec("float32", (1, 16000), 0.0, 0),
                      TensorSpec("int8", (1, 4), 0.125, -3), 60000, 63488)
    from tinykd.emit.c_model import render_header, render_source

    assert hashlib.sha256((render_header(src) + render_source(src)).encode()).hexdigest() == \
        "b175821102aefbc82492aec17136ce49d49ba094464c3f6b7008ef35b6e0fe6e"
    ops = render_model_ops_h(["CONV_2D", "LOG", "CONV_2D", "BATCH_MATMUL", "QUANTIZE"])
    assert hashlib.sha256(ops.encode()).hexdigest() == "db92a4c6b53c16dcd07bdcd98270860322d077dc01cd2b35385881043ba83a3a"


def test_signal_custom_ops_map_to_their_resolver_methods():
    ops = ["CUSTOM:SignalWindow", "SignalRfft", "SignalFftAutoScale", "SignalEnergy", "SignalFilterBank",
           "SignalFilterBankSquareRoot", "SignalFilterBankSpectralSubtraction", "SignalPCAN", "SignalFilterBankLog",
           "RESHAPE", "SignalWindow"]
    assert resolver_methods(ops) == ["AddReshape", "AddEnergy", "AddFftAutoScale", "AddFilterBank", "AddFilterBankLog",
                                     "AddFilterBankSpectralSubtraction", "AddFilterBankSquareRoot", "AddPCAN",
                                     "AddRfft", "AddWindow"]
    text = render_model_ops_h(ops)
    assert "constexpr int kTinykdNumOps = 10;" in text and "CUSTOM:" not in text
    with pytest.raises(TinykdError, match="SignalTeleport"):
        resolver_methods(["CUSTOM:SignalTeleport"])


def test_signal_custom_op_names_exist_in_the_vendored_resolver():
    """Every Signal method tinykd emits is an Add method of the pinned TFLM's resolver, registering the
    custom name tinykd maps to it."""
    import re

    from test_qemu_helpers import require_vendor
    from tinykd.emit.op_resolver import TFLM_CUSTOM_ADD_METHODS

    require_vendor()
    from tinykd.device.qemu.tree import resolve_tree

    header = (resolve_tree(None, "reference").root / "tensorflow/lite/micro/micro_mutable_op_resolver.h").read_text()
    for custom, method in TFLM_CUSTOM_ADD_METHODS.items():
        m = re.search(rf"TfLiteStatus {method}\(.*?\n  }}", header, re.S)
        assert m and f'"{custom}"' in m.group(0), (custom, method)


def _signal_source(frontend: bytes, body: bytes, **kw):
    from tinykd.emit.c_model import SignalModelSource

    args = dict(frontend=frontend, body=body, labels=("silence", "unknown", 'ye"s', "no"), sample_rate=16000,
                clip_samples=16000, hop_samples=320, frontend_input=TensorSpec("int16", (1, 480), 0.0, 0),
                frontend_output=TensorSpec("int8", (40,), 0.0, 0), input=TensorSpec("int8", (1, 49, 40, 1), 1.0, 0),
                output=TensorSpec("int8", (1, 4), 0.00390625, -128), frontend_arena_measured_bytes=10000,
                body_arena_measured_bytes=7000, arena_measured_bytes=17000, arena_bytes=21264)
    args.update(kw)
    return SignalModelSource(**args)


SIGNAL_DUMP_MAIN = r"""
#include <cstdio>
#include "model_data.h"
static_assert(TINYKD_MODEL_KIND_SIGNAL == 1, "kind");
static_assert(TINYKD_FEATURE_FRAMES * TINYKD_FEATURE_BINS == 1960, "frames x bins");
static_assert(TINYKD_FRONTEND_WINDOW_SAMPLES + (TINYKD_FEATURE_FRAMES - 1) * TINYKD_FRONTEND_HOP_SAMPLES <= TINYKD_INPUT_SAMPLES, "clip");
int main() {
  FILE* f = std::fopen("fe.bin", "wb");
  std::fwrite(tinykd_frontend_model_data, 1, tinykd_frontend_model_data_len, f);
  std::fclose(f);
  f = std::fopen("body.bin", "wb");
  std::fwrite(tinykd_model_data, 1, tinykd_model_data_len, f);
  std::fclose(f);
  std::printf("%s %d %d %d %d %d %g %d %d\n", tinykd_model_hash, TINYKD_INPUT_SAMPLES, TINYKD_FRONTEND_WINDOW_SAMPLES,
              TINYKD_FRONTEND_HOP_SAMPLES, TINYKD_FEATURE_FRAMES, TINYKD_FEATURE_BINS, (double)tinykd_output_scale,
              (int)tinykd_output_zero_point, (int)((uintptr_t)tinykd_frontend_model_data % 16));
#if defined(TINYKD_FRONTEND_INPUT_TYPE_INT16) && defined(TINYKD_FRONTEND_OUTPUT_TYPE_INT8) && defined(TINYKD_INPUT_TYPE_INT8)
  return 0;
#else
  return 1;
#endif
}
"""


@pytest.mark.skipif(GXX is None, reason="g++ not installed")
def test_signal_model_emits_both_arrays_and_the_framing_macros(tmp_path):
    import hashlib

    fe, body = sine_model(), sine_model()[::-1] + b"\x01"
    src = _signal_source(fe, body)
    assert src.feature_frames == 49 and src.window_samples == 480 and src.feature_bins == 40
    assert src.model_hash == hashlib.sha256(fe + body).hexdigest()[:16]
    write_c_sources(src, ["CUSTOM:SignalWindow", "DEPTHWISE_CONV_2D", "SignalRfft"], tmp_path)
    text = (tmp_path / "model_data.cc").read_text()
    assert parse_model_array(text) == body and parse_model_array(text, "tinykd_frontend") == fe
    assert parse_labels(text) == ["silence", "unknown", 'ye"s', "no"]
    assert "tensorflow" not in (tmp_path / "model_data.h").read_text()
    (tmp_path / "main.cc").write_text(SIGNAL_DUMP_MAIN)
    flags = ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic"]
    subprocess.run([GXX, *flags, "main.cc", "model_data.cc", "-o", "dump"], cwd=tmp_path, check=True)
    out = subprocess.run([str(tmp_path / "dump")], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.split() == [src.model_hash, "16000", "480", "320", "49", "40", "0.00390625", "-128", "0"]
    assert (tmp_path / "fe.bin").read_bytes() == fe and (tmp_path / "body.bin").read_bytes() == body
    ops = (tmp_path / "model_ops.h").read_text()
    assert "r.AddWindow()" in ops and "r.AddRfft()" in ops and "r.AddDepthwiseConv2D()" in ops


def test_signal_model_that_does_not_fit_together_is_refused_in_one_line():
    from tinykd.emit.c_model import render_header

    with pytest.raises(TinykdError, match=r"1960 elements but 50 frames x 40 bins") as err:
        render_header(_signal_source(b"x", b"y", clip_samples=16320, input=TensorSpec("int8", (1, 1960), 0.1, -128)))
    assert "\n" not in str(err.value)
    with pytest.raises(TinykdError, match="int16"):
        render_header(_signal_source(b"x", b"y", frontend_input=TensorSpec("float32", (1, 480), 0.0, 0)))
    with pytest.raises(TinykdError, match="labels"):
        render_header(_signal_source(b"x", b"y", output=TensorSpec("int8", (1, 5), 0.1, 0)))
