"""The Signal front end as a TFLite Micro graph: one hop in (int16 PCM), one frame of int8 features out.

The graph is written directly with TensorFlow's flatbuffer schema object API (`schema_py_generated`):
the Signal ops are TFLM custom ops that no converter emits from Keras, and writing them by hand keeps the
graph as small as the maths allows. Op by op (constants from `tinykd.frontend.signal_tables`):

    pcm int16 [win]                     the newest win_length samples (the firmware slides by hop_length)
    SignalWindow(shift=window_bits)     (pcm * hann_q) >> window_bits, saturated to int16
    SignalFftAutoScale                  << s so the frame's peak uses 15 bits; s (int32 scalar) kept
    SignalRfft(int16, n_fft)            kissfft fixed16, zero-padded, output = DFT / n_fft, [2 * n_bins]
    SignalEnergy(start, end)            re^2 + im^2 (uint32) for bins [start, end) only
    SignalFilterBank(n_mels)            Q12 triangular weights, uint64 sums
    SignalFilterBankSquareRoot          rounded sqrt, >> s (undoes the auto-scale)
    [SignalFilterBankSpectralSubtraction, SignalPCAN]   noise reduction and gain control, when enabled
    SignalFilterBankLog(scale, bits)    round(log_scale * ln(x << bits)), 0 for x << bits <= 1, int16
    QUANTIZE int16 -> int8              feature = clamp(log + feature_offset, -128, 127)

Three choices differ from micro_speech's converted graph (audio_preprocessor_int8.tflite):
- The Hann weights are capped at 2**window_bits - 1 (`signal_tables.capped_window`): with upstream's weights
  a full-scale negative sample at the window's centre breaks SignalFftAutoScale (see there).
- No CAST/STRIDED_SLICE/CONCATENATION/CAST zeroing the energy outside [start, end): SignalEnergy leaves
  those bins unwritten, but the filter bank multiplies every bin outside the range by a zero weight (its
  only non-zero weights lie inside it, `FilterBankTables.bins_read`, asserted in the tests), and an integer
  product with zero is zero whatever the stale value. With micro_speech's window and settings the outputs are
  bit-identical to micro_speech's model (tests/test_frontend_signal.py).
- One QUANTIZE (int16 in with scale 1 and zero point -feature_offset, int8 out with scale 1 and zero
  point 0) replaces CAST/MUL/ADD/DIV/ADD/MINIMUM/MAXIMUM/CAST: TFLM's int16->int8 requantize with a unit
  scale ratio is exactly x - zero_point, clamped to int8 (reference_ops::Requantize). The output tensor
  therefore carries scale 1.0 / zero point 0, the int8 input a body trained on the twins expects.
"""

from __future__ import annotations

import numpy as np

from tinykd.errors import TinykdError
from tinykd.frontend.signal_tables import SignalTables, signal_tables
from tinykd.frontend.spec import FrontEndSpec


BUFFER_ALIGNMENT = 16  # constant data aligned as TFLite's converter aligns it (force_align: 16)


def signal_op_names(spec: FrontEndSpec) -> list[str]:
    """The ops of `spec`'s graph in execution order (custom names as registered, builtins by name)."""
    _check(spec)
    names = ["SignalWindow", "SignalFftAutoScale", "SignalRfft", "SignalEnergy", "SignalFilterBank",
             "SignalFilterBankSquareRoot"]
    if spec.noise_reduction:
        names.append("SignalFilterBankSpectralSubtraction")
    if spec.pcan:
        names.append("SignalPCAN")
    names += ["SignalFilterBankLog", "QUANTIZE"]
    return names


def _check(spec: FrontEndSpec) -> None:
    if not isinstance(spec, FrontEndSpec) or spec.kind != "signal":
        kind = getattr(spec, "kind", type(spec).__name__)
        raise TinykdError(f"front end: a Signal graph needs a FrontEndSpec with kind='signal', got {kind!r}")


class _Graph:
    """Accumulates tensors, buffers and operators for one subgraph."""

    def __init__(self, schema):
        self.s = schema
        self.tensors: list = []
        self.buffers: list = [schema.BufferT()]  # buffer 0: the empty sentinel every non-constant uses
        self.operators: list = []
        self.codes: list = []
        self._code_index: dict[str, int] = {}

    def tensor(self, shape: list[int], ttype: int, data: np.ndarray | None = None, name: str = "",
               quant: tuple[float, int] | None = None) -> int:
        s = self.s
        t = s.TensorT()
        t.shape = list(shape)
        t.type = ttype
        t.name = name or None
        t.buffer = 0
        if data is not None:
            b = _AlignedBufferT()
            b.data = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<"), copy=False).tobytes()
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        if quant is not None:
            q = s.QuantizationParametersT()
            q.scale = [float(quant[0])]
            q.zeroPoint = [int(quant[1])]
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def const(self, array: np.ndarray, ttype: int) -> int:
        return self.tensor([int(array.size)], ttype, data=array)

    def op(self, name: str, inputs: list[int], outputs: list[int], options: dict | None = None) -> None:
        from flatbuffers import flexbuffers

        s = self.s
        if name not in self._code_index:
            code = s.OperatorCodeT()
            if name.startswith("Signal"):
                code.builtinCode = s.BuiltinOperator.CUSTOM
                code.customCode = name
            else:
                code.builtinCode = getattr(s.BuiltinOperator, name)
            code.deprecatedBuiltinCode = min(code.builtinCode, 127)
            code.version = 1
            self._code_index[name] = len(self.codes)
            self.codes.append(code)
        o = s.OperatorT()
        o.opcodeIndex = self._code_index[name]
        o.inputs = list(inputs)
        o.outputs = list(outputs)
        if options is not None:
            o.customOptions = list(flexbuffers.Dumps(options))
            o.customOptionsFormat = s.CustomOptionsFormat.FLEXBUFFERS
        self.operators.append(o)


class _AlignedBufferT:
    """A schema BufferT whose bytes start on a BUFFER_ALIGNMENT boundary (the generated Pack aligns to 1,
    which would leave int16/int32 constants unaligned on a microcontroller)."""

    def __init__(self):
        self.data: bytes | None = None

    def Pack(self, builder):
        from tensorflow.lite.python import schema_py_generated as s

        vec = None
        if self.data:
            n = len(self.data)
            builder.StartVector(1, n, BUFFER_ALIGNMENT)
            builder.head = builder.head - n
            builder.Bytes[builder.head : builder.head + n] = self.data
            vec = builder.EndVector()
        s.BufferStart(builder)
        if vec is not None:
            s.BufferAddData(builder, vec)
        return s.BufferEnd(builder)


def build_signal_frontend(spec: FrontEndSpec, *, log_output: bool = False, tables: SignalTables | None = None) -> bytes:
    """The TFLM flatbuffer of `spec`'s front end: int16 [win_length] in, int8 [n_mels] out, one hop per invoke.

    With noise_reduction the graph keeps a noise estimate across invokes (reset with the interpreter's
    reset()). `log_output=True` ends the graph at SignalFilterBankLog (int16 [n_mels], before the int8
    offset and clamp) and `tables` replaces `signal_tables(spec)`: both for checks (against micro_speech's
    model, upstream's uncapped window, the twins), not for deployment.
    """
    _check(spec)
    from flatbuffers import builder as fb_builder
    from tensorflow.lite.python import schema_py_generated as s

    tables = tables or signal_tables(spec)
    fb = tables.filter_bank
    T = s.TensorType
    n_bins, n_mels = spec.n_bins, spec.n_mels
    g = _Graph(s)

    pcm = g.tensor([spec.win_length], T.INT16, name="pcm")
    window = g.const(tables.window, T.INT16)
    windowed = g.tensor([spec.win_length], T.INT16)
    g.op("SignalWindow", [pcm, window], [windowed], {"shift": tables.window_bits})

    scaled = g.tensor([spec.win_length], T.INT16)
    scale_bits = g.tensor([], T.INT32)
    g.op("SignalFftAutoScale", [windowed], [scaled, scale_bits], None)

    spectrum = g.tensor([2 * n_bins], T.INT16)
    g.op("SignalRfft", [scaled], [spectrum], {"T": int(T.INT16), "fft_length": tables.fft_length})

    energy = g.tensor([n_bins], T.UINT32)
    g.op("SignalEnergy", [spectrum], [energy], {"end_index": fb.end_index, "start_index": fb.start_index})

    bank_inputs = [g.const(fb.weights, T.INT16), g.const(fb.unweights, T.INT16),
                   g.const(fb.channel_frequency_starts, T.INT16), g.const(fb.channel_weight_starts, T.INT16),
                   g.const(fb.channel_widths, T.INT16)]
    bank = g.tensor([n_mels], T.UINT64)
    g.op("SignalFilterBank", [energy] + bank_inputs, [bank], {"num_channels": n_mels})

    amplitude = g.tensor([n_mels], T.UINT32)
    g.op("SignalFilterBankSquareRoot", [bank, scale_bits], [amplitude], None)

    if spec.noise_reduction:
        cleaned = g.tensor([n_mels], T.UINT32)
        noise = g.tensor([n_mels], T.UINT32)
        g.op("SignalFilterBankSpectralSubtraction", [amplitude], [cleaned, noise], tables.spectral_subtraction)
        amplitude = cleaned
        if spec.pcan:
            lut = g.const(tables.pcan_lut, T.INT16)
            gained = g.tensor([n_mels], T.UINT32)
            g.op("SignalPCAN", [amplitude, noise, lut], [gained], {"snr_shift": tables.pcan_snr_shift})
            amplitude = gained

    log_quant = (1.0, -tables.feature_offset)  # real value of the int16 log = log + feature_offset
    log = g.tensor([n_mels], T.INT16, name="log" if log_output else "", quant=log_quant)
    g.op("SignalFilterBankLog", [amplitude], [log],
         {"input_correction_bits": tables.correction_bits, "output_scale": tables.log_scale})
    out = log
    if not log_output:
        out = g.tensor([n_mels], T.INT8, name="features", quant=(1.0, 0))
        g.op("QUANTIZE", [log], [out], None)

    sub = s.SubGraphT()
    sub.tensors = g.tensors
    sub.inputs = [pcm]
    sub.outputs = [out]
    sub.operators = g.operators
    model = s.ModelT()
    model.version = 3
    model.description = "tinykd signal front end"
    model.operatorCodes = g.codes
    model.subgraphs = [sub]
    model.buffers = g.buffers
    builder = fb_builder.Builder(4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def tflm_signal_features(x, spec: FrontEndSpec, flatbuffer: bytes | None = None,
                         arena_size: int = 1 << 20) -> np.ndarray:
    """Run the graph as the firmware does, in the real TFLM interpreter: hop by hop over each clip of a
    float waveform [n] or [batch, n] in [-1, 1) (rounded to int16 as the twins do), with a reset() at every
    clip start. Returns the outputs as float32 [batch, frames, n_mels] (int8 codes; the int16 log for a
    `log_output` graph). `flatbuffer` defaults to `build_signal_frontend(spec)`; any graph with one int16
    input of win_length samples works (micro_speech's [1, 480] too)."""
    from tflite_micro.python.tflite_micro import runtime

    from tinykd.frontend.signal_numpy import checked_batch, pcm16, pcm_frames

    x = checked_batch(x, spec, "tflm_signal_features")
    if flatbuffer is None:
        flatbuffer = build_signal_frontend(spec)
    try:
        interp = runtime.Interpreter.from_bytes(flatbuffer, arena_size=arena_size)
    except Exception as exc:  # the binding raises RuntimeError after printing the cause on stderr
        raise TinykdError(f"front end: TFLite Micro cannot load the Signal graph ({str(exc).strip()[:200]})") from None
    shape = tuple(int(d) for d in interp.get_input_details(0)["shape"])
    frames = pcm_frames(pcm16(x), spec)
    out = None
    for b in range(frames.shape[0]):
        interp.reset()
        for k in range(frames.shape[1]):
            interp.set_input(frames[b, k].reshape(shape), 0)
            interp.invoke()
            y = interp.get_output(0).reshape(-1)
            if out is None:
                out = np.zeros(frames.shape[:2] + y.shape, dtype=np.float32)
            out[b, k] = y
    return out


__all__ = ["build_signal_frontend", "signal_op_names", "tflm_signal_features"]
