"""The quantizer's proof: the test split through the float Keras model and the converted model in TFLM (in a
child process that also measures the arena, tinykd.tflite.proof) and in LiteRT, on identical int16 input.

A waveform model runs whole in TFLM and LiteRT. A signal model runs as the firmware runs it: the Signal-op
front end once per hop, the int8 body once per clip (tinykd.tflite.stream); LiteRT, which has no Signal ops,
runs the body on TFLM's features; and TFLM's features are compared code for code with the Keras twin's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from tinykd.tflite.graph import Graph
from tinykd.tflite.io import TensorQuant, dequantize, float_to_pcm, quantize
from tinykd.tflite.proof import StreamRun, TflmRun, run_tflm, run_tflm_stream
from tinykd.tflite.run import run_litert


@dataclass
class ProofRun:
    float_scores: np.ndarray  # float32 [n, classes] (Keras)
    tflm: TflmRun | StreamRun
    tflm_scores: np.ndarray
    litert_scores: np.ndarray
    feature_mismatches: int | None = None  # signal: TFLM features that differ from the Keras twin's


def prove(conversion, graph: Graph, model, x_test: np.ndarray, step: Callable[..., None],
          advance: Callable[[int, int], None] | None = None) -> ProofRun:
    """`x_test` float32 [n, samples] already rounded to int16 PCM (tinykd.tflite.io.as_pcm16); `graph` is the
    named flatbuffer the device runs (the body of a signal model)."""
    from tinykd.tflite.convert import body_features

    q_in, q_out = TensorQuant.of(graph.io(graph.inputs[0])), TensorQuant.of(graph.io(graph.outputs[0]))
    step("float Keras model on the test split")
    float_scores = np.asarray(model.predict(x_test, batch_size=32, verbose=0), dtype=np.float32)
    if conversion.kind == "signal":
        spec = conversion.spec
        step("TFLite Micro: front end per hop, body per clip", total=len(x_test))
        tflm = run_tflm_stream(conversion.frontend, conversion.model, float_to_pcm(x_test), spec.win_length,
                               spec.hop_length, graph, progress=advance)
        twin = body_features(model, x_test)[:, : tflm.features.shape[1]]
        mismatches = int(np.count_nonzero(twin.astype(np.int16) != tflm.features.astype(np.int16)))
        step("LiteRT: the body on TFLM's features")
        litert = run_litert(conversion.model, tflm.features)
        return ProofRun(float_scores, tflm, dequantize(tflm.outputs, q_out), dequantize(litert, q_out), mismatches)
    inputs = quantize(x_test, q_in)
    step("TFLite Micro on the test split", total=len(inputs))
    tflm = run_tflm(conversion.model, inputs, graph, progress=advance)
    step("LiteRT on the test split")
    litert = run_litert(conversion.model, inputs)
    return ProofRun(float_scores, tflm, dequantize(tflm.outputs, q_out), dequantize(litert, q_out))
