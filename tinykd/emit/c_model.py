"""`model_data.h` / `model_data.cc`: the .tflite flatbuffer(s) and their metadata as C++ source.

The layout is the "Emitted C API" of docs/architecture.md (firmware/ codes against it). The array is
`alignas(16) const`: const keeps it in flash on MCUs that map flash into the address space (plain `xxd -i`
output is neither const nor aligned; TFLM reads the flatbuffer in place and Cortex-M faults on misaligned
wide loads).

Two kinds of deployment: `ModelSource`, one waveform model on raw PCM (its output is unchanged byte for
byte), and `SignalModelSource`, a front end run once per hop (TFLM Signal ops: int16 [1, W] PCM -> int8 [B]
features) plus a body on the newest F frames. The second emits both arrays, `TINYKD_MODEL_KIND_SIGNAL`,
the framing macros and one deployment hash over both flatbuffers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tinykd.artifacts import deployment_hash, model_hash  # noqa: F401  (model_hash: public here)
from tinykd.emit.identifiers import c_identifier, c_string_literal, parse_c_string_literal
from tinykd.errors import TinykdError

MODEL_DATA_VERSION = 1
BYTES_PER_LINE = 12
_TYPE_MACROS = {"float32": "FLOAT32", "int8": "INT8", "int16": "INT16", "uint8": "UINT8"}


@dataclass(frozen=True)
class TensorSpec:
    """What firmware needs to know about the model's input or output tensor."""

    dtype: str  # "float32" | "int8" | "int16"
    shape: tuple[int, ...]
    scale: float  # 0.0 when the tensor is not quantized (TFLite's convention)
    zero_point: int


@dataclass(frozen=True)
class ModelSource:
    """Everything model_data.h/.cc state about one model."""

    flatbuffer: bytes
    labels: tuple[str, ...]
    sample_rate: int
    input: TensorSpec
    output: TensorSpec
    arena_measured_bytes: int  # what TFLM allocated for this model (RecordingMicroAllocator)
    arena_bytes: int  # measured + margin: what the firmware should allocate
    prefix: str = "tinykd"

    @property
    def model_hash(self) -> str:
        return model_hash(self.flatbuffer)


def _elements(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape)) if shape else 1


@dataclass(frozen=True)
class SignalModelSource:
    """Everything model_data.h/.cc state about a front end + body ("signal") deployment.

    Frame k of a clip covers samples [k*hop, k*hop + W); a clip of `clip_samples` samples has
    F = 1 + (clip_samples - W) // hop frames, and the body takes exactly those F frames of B features
    (its input has F * B int8 elements, copied bit for bit from the front end's outputs)."""

    frontend: bytes  # the front end's .tflite (TFLM Signal ops)
    body: bytes  # the classifier's .tflite
    labels: tuple[str, ...]
    sample_rate: int
    clip_samples: int  # n: samples of a verify clip (and of the model's training clips)
    hop_samples: int  # H: samples between front-end runs
    frontend_input: TensorSpec  # int16 [1, W]
    frontend_output: TensorSpec  # int8 [B] (or [1, B])
    input: TensorSpec  # the body's input: int8 with F * B elements
    output: TensorSpec  # the body's output: class scores
    frontend_arena_measured_bytes: int  # TFLM arena of the front end alone (host)
    body_arena_measured_bytes: int  # TFLM arena of the body alone (host)
    arena_measured_bytes: int  # what both need in one shared arena (measured, or the two added up)
    arena_bytes: int  # measured + margin: what the firmware should allocate
    prefix: str = "tinykd"

    @property
    def window_samples(self) -> int:
        return _elements(self.frontend_input.shape)

    @property
    def feature_bins(self) -> int:
        return _elements(self.frontend_output.shape)

    @property
    def feature_frames(self) -> int:
        return 1 + (self.clip_samples - self.window_samples) // self.hop_samples

    @property
    def model_hash(self) -> str:
        return deployment_hash(self.frontend, self.body)

    def check(self) -> None:
        """One-line TinykdError when the two models and the framing do not fit together."""
        w, h, n = self.window_samples, self.hop_samples, self.clip_samples
        if self.frontend_input.dtype != "int16":
            raise TinykdError(f"front end input must be int16 PCM, got {self.frontend_input.dtype}")
        if self.frontend_output.dtype != "int8" or self.input.dtype != "int8":
            raise TinykdError(f"front end output and body input must be int8 features, got "
                              f"{self.frontend_output.dtype} and {self.input.dtype}")
        if h <= 0 or w <= 0 or n < w:
            raise TinykdError(f"signal framing: window {w}, hop {h} and clip {n} samples do not make a frame")
        f, b = self.feature_frames, self.feature_bins
        if _elements(self.input.shape) != f * b:
            raise TinykdError(f"body input {list(self.input.shape)} has {_elements(self.input.shape)} elements but "
                              f"{f} frames x {b} bins = {f * b} (clip {n}, window {w}, hop {h})")
        if _elements(self.output.shape) != len(self.labels):
            raise TinykdError(f"body output {list(self.output.shape)} does not match the {len(self.labels)} labels")


def _float_literal(value: float) -> str:
    text = repr(float(np.float32(value)))
    if "e" not in text and "." not in text and "inf" not in text and "nan" not in text:
        text += ".0"
    return text + "f"



def _header_open(P: str) -> list[str]:
    """The include guard, includes and version macro every emitted model_data.h starts with."""
    return [f"#ifndef {P}_MODEL_DATA_H_", f"#define {P}_MODEL_DATA_H_", "", "#include <stddef.h>",
            "#include <stdint.h>", "", f"#define {P}_MODEL_DATA_VERSION {MODEL_DATA_VERSION}"]

def render_header(src: ModelSource | SignalModelSource) -> str:
    if isinstance(src, SignalModelSource):
        return render_signal_header(src)
    p = c_identifier(src.prefix, what="--name")
    P = p.upper()
    if src.input.dtype not in _TYPE_MACROS or src.output.dtype not in _TYPE_MACROS:
        raise TinykdError(f"unsupported tensor types {src.input.dtype}/{src.output.dtype} for the C header")
    in_samples = int(np.prod(src.input.shape[1:])) if len(src.input.shape) > 1 else int(src.input.shape[0])
    lines = [
        "// Generated by tinykd: the int8 model and what firmware needs to run it. Do not edit.",
        f"// Model sha256 prefix {src.model_hash}; {len(src.flatbuffer)} bytes; {len(src.labels)} classes.",
        *_header_open(P),
        "",
        f"extern const unsigned char {p}_model_data[];  // alignas(16), the .tflite flatbuffer",
        f"extern const unsigned int {p}_model_data_len;",
        f"extern const char* const {p}_labels[];  // class names, index = class id",
        f"#define {P}_NUM_LABELS {len(src.labels)}",
        "",
        f"#define {P}_SAMPLE_RATE {int(src.sample_rate)}",
        f"#define {P}_INPUT_SAMPLES {in_samples}  // window length the model takes",
        "// Waveform input: int16 PCM scaled by 1/32768 to float in [-1, 1), then, for an int8 input,",
        "// quantized with the scale and zero point below: q = round(x / scale) + zero_point.",
        f"#define {P}_INPUT_TYPE_{_TYPE_MACROS[src.input.dtype]} 1",
        f"#define {P}_INPUT_RANK {len(src.input.shape)}",
        f"extern const int32_t {p}_input_shape[{P}_INPUT_RANK];",
        f"extern const float {p}_input_scale;  // 0 when the input is float (not quantized)",
        f"extern const int32_t {p}_input_zero_point;",
        "// Output: class scores (logits); for an int8 output, score = (q - zero_point) * scale.",
        f"#define {P}_OUTPUT_TYPE_{_TYPE_MACROS[src.output.dtype]} 1",
        f"#define {P}_OUTPUT_RANK {len(src.output.shape)}",
        f"extern const int32_t {p}_output_shape[{P}_OUTPUT_RANK];",
        f"extern const float {p}_output_scale;  // 0 when the output is float (not quantized)",
        f"extern const int32_t {p}_output_zero_point;",
        "",
        f"#define {P}_ARENA_MEASURED_BYTES {src.arena_measured_bytes}  // TFLM RecordingMicroAllocator, on the host",
        f"#define {P}_ARENA_BYTES {src.arena_bytes}  // measured + margin: allocate this much",
        f"extern const char {p}_model_hash[];  // first 16 hex chars of sha256(.tflite)",
        "",
        f"#endif  // {P}_MODEL_DATA_H_",
        "",
    ]
    return "\n".join(lines)


def _shape_init(shape: tuple[int, ...]) -> str:
    return "{" + ", ".join(str(int(d)) for d in shape) + "}"


def render_source(src: ModelSource | SignalModelSource) -> str:
    if isinstance(src, SignalModelSource):
        return render_signal_source(src)
    p = c_identifier(src.prefix, what="--name")
    P = p.upper()
    if not src.flatbuffer:
        raise TinykdError("empty model: nothing to emit")
    body = []
    data = src.flatbuffer
    for start in range(0, len(data), BYTES_PER_LINE):
        chunk = data[start : start + BYTES_PER_LINE]
        body.append("    " + ", ".join(f"0x{b:02x}" for b in chunk) + ",")
    labels = ",\n".join(f"    {c_string_literal(label)}" for label in src.labels)
    lines = [
        "// Generated by tinykd. Do not edit.",
        '#include "model_data.h"',
        "",
        f"alignas(16) const unsigned char {p}_model_data[] = {{",
        *body,
        "};",
        f"const unsigned int {p}_model_data_len = {len(data)};",
        "",
        f"const char* const {p}_labels[{P}_NUM_LABELS] = {{",
        labels,
        "};",
        "",
        f"const int32_t {p}_input_shape[{P}_INPUT_RANK] = {_shape_init(src.input.shape)};",
        f"const float {p}_input_scale = {_float_literal(src.input.scale)};",
        f"const int32_t {p}_input_zero_point = {int(src.input.zero_point)};",
        f"const int32_t {p}_output_shape[{P}_OUTPUT_RANK] = {_shape_init(src.output.shape)};",
        f"const float {p}_output_scale = {_float_literal(src.output.scale)};",
        f"const int32_t {p}_output_zero_point = {int(src.output.zero_point)};",
        "",
        f'const char {p}_model_hash[] = "{src.model_hash}";',
        "",
    ]
    return "\n".join(lines)


def _array_lines(data: bytes) -> list[str]:
    return ["    " + ", ".join(f"0x{b:02x}" for b in data[i : i + BYTES_PER_LINE]) + ","
            for i in range(0, len(data), BYTES_PER_LINE)]


def _tensor_decls(p: str, P: str, what: str, Pwhat: str, spec: TensorSpec, comment: str) -> list[str]:
    return [
        comment,
        f"#define {P}_{Pwhat}_TYPE_{_TYPE_MACROS[spec.dtype]} 1",
        f"#define {P}_{Pwhat}_RANK {len(spec.shape)}",
        f"extern const int32_t {p}_{what}_shape[{P}_{Pwhat}_RANK];",
        f"extern const float {p}_{what}_scale;  // 0 when not quantized",
        f"extern const int32_t {p}_{what}_zero_point;",
    ]


def render_signal_header(src: SignalModelSource) -> str:
    """model_data.h of a front end + body deployment (the waveform names keep their meaning for the body)."""
    src.check()
    p = c_identifier(src.prefix, what="--name")
    P = p.upper()
    for spec in (src.frontend_input, src.frontend_output, src.input, src.output):
        if spec.dtype not in _TYPE_MACROS:
            raise TinykdError(f"unsupported tensor type {spec.dtype} for the C header")
    lines = [
        "// Generated by tinykd: a front end run once per hop and the int8 body, and what firmware needs to run",
        "// them. Do not edit.",
        f"// Deployment hash {src.model_hash} (sha256 of front end + body); front end {len(src.frontend)} bytes, "
        f"body {len(src.body)} bytes; {len(src.labels)} classes.",
        *_header_open(P),
        f"#define {P}_MODEL_KIND_SIGNAL 1  // two models: front end per hop, body per window",
        "",
        f"extern const unsigned char {p}_frontend_model_data[];  // alignas(16), the front end's .tflite",
        f"extern const unsigned int {p}_frontend_model_data_len;",
        f"extern const unsigned char {p}_model_data[];  // alignas(16), the body's .tflite",
        f"extern const unsigned int {p}_model_data_len;",
        f"extern const char* const {p}_labels[];  // class names, index = class id",
        f"#define {P}_NUM_LABELS {len(src.labels)}",
        "",
        f"#define {P}_SAMPLE_RATE {int(src.sample_rate)}",
        "// Frame k covers samples [k * HOP, k * HOP + WINDOW); a verify clip of INPUT_SAMPLES samples has",
        "// FEATURE_FRAMES = 1 + (INPUT_SAMPLES - WINDOW) / HOP frames: the body's input, oldest frame first.",
        f"#define {P}_INPUT_SAMPLES {int(src.clip_samples)}  // samples of a verify clip",
        f"#define {P}_FRONTEND_WINDOW_SAMPLES {src.window_samples}",
        f"#define {P}_FRONTEND_HOP_SAMPLES {int(src.hop_samples)}",
        f"#define {P}_FEATURE_FRAMES {src.feature_frames}",
        f"#define {P}_FEATURE_BINS {src.feature_bins}",
        "",
        *_tensor_decls(p, P, "frontend_input", "FRONTEND_INPUT", src.frontend_input,
                       "// Front end input: WINDOW int16 PCM samples as they are (no scaling)."),
        *_tensor_decls(p, P, "frontend_output", "FRONTEND_OUTPUT", src.frontend_output,
                       "// Front end output: BINS int8 features, copied bit for bit into the body's input."),
        *_tensor_decls(p, P, "input", "INPUT", src.input,
                       "// Body input: FEATURE_FRAMES * FEATURE_BINS int8 features (its quantization is not applied)."),
        *_tensor_decls(p, P, "output", "OUTPUT", src.output,
                       "// Body output: class scores; for an int8 output, score = (q - zero_point) * scale."),
        "",
        f"#define {P}_FRONTEND_ARENA_MEASURED_BYTES {src.frontend_arena_measured_bytes}  // front end alone (host TFLM)",
        f"#define {P}_BODY_ARENA_MEASURED_BYTES {src.body_arena_measured_bytes}  // body alone (host TFLM)",
        f"#define {P}_ARENA_MEASURED_BYTES {src.arena_measured_bytes}  // both in one shared arena",
        f"#define {P}_ARENA_BYTES {src.arena_bytes}  // measured + margin: allocate this much",
        f"extern const char {p}_model_hash[];  // first 16 hex chars of sha256(front end + body)",
        "",
        f"#endif  // {P}_MODEL_DATA_H_",
        "",
    ]
    return "\n".join(lines)


def render_signal_source(src: SignalModelSource) -> str:
    src.check()
    p = c_identifier(src.prefix, what="--name")
    P = p.upper()
    if not src.frontend or not src.body:
        raise TinykdError("empty front end or body: nothing to emit")
    labels = ",\n".join(f"    {c_string_literal(label)}" for label in src.labels)
    tensors = []
    for what, spec in (("frontend_input", src.frontend_input), ("frontend_output", src.frontend_output),
                       ("input", src.input), ("output", src.output)):
        W = what.upper()
        tensors += [
            f"const int32_t {p}_{what}_shape[{P}_{W}_RANK] = {_shape_init(spec.shape)};",
            f"const float {p}_{what}_scale = {_float_literal(spec.scale)};",
            f"const int32_t {p}_{what}_zero_point = {int(spec.zero_point)};",
        ]
    lines = [
        "// Generated by tinykd. Do not edit.",
        '#include "model_data.h"',
        "",
        f"alignas(16) const unsigned char {p}_frontend_model_data[] = {{",
        *_array_lines(src.frontend),
        "};",
        f"const unsigned int {p}_frontend_model_data_len = {len(src.frontend)};",
        "",
        f"alignas(16) const unsigned char {p}_model_data[] = {{",
        *_array_lines(src.body),
        "};",
        f"const unsigned int {p}_model_data_len = {len(src.body)};",
        "",
        f"const char* const {p}_labels[{P}_NUM_LABELS] = {{",
        labels,
        "};",
        "",
        *tensors,
        "",
        f'const char {p}_model_hash[] = "{src.model_hash}";',
        "",
    ]
    return "\n".join(lines)


def parse_model_array(source: str, prefix: str = "tinykd") -> bytes:
    """The bytes of `<prefix>_model_data` read back from emitted (or `xxd -i`) source, checked against its length.

    A signal deployment's front end is `<prefix>_frontend_model_data` (pass prefix + "_frontend")."""
    m = re.search(rf"\b{re.escape(prefix)}_model_data\s*\[\s*\]\s*=\s*\{{(.*?)\}};", source, re.S)
    if not m:
        raise TinykdError(f"no {prefix}_model_data array in the source")
    values = re.findall(r"0[xX]([0-9a-fA-F]{1,2})\b", m.group(1))
    data = bytes(int(v, 16) for v in values)
    n = re.search(rf"\b{re.escape(prefix)}_model_data_len\s*=\s*(\d+)", source)
    if not n or int(n.group(1)) != len(data):
        raise TinykdError(f"{prefix}_model_data_len does not match the {len(data)} bytes of the array")
    return data


def parse_labels(source: str, prefix: str = "tinykd") -> list[str]:
    """The label strings read back from an emitted model_data.cc."""
    m = re.search(rf"\b{re.escape(prefix)}_labels\s*\[[^\]]*\]\s*=\s*\{{(.*?)\}};", source, re.S)
    if not m:
        raise TinykdError(f"no {prefix}_labels array in the source")
    return [parse_c_string_literal(lit) for lit in re.findall(r'"(?:[^"\\]|\\.)*"', m.group(1))]
