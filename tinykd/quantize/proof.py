"""The quantizer's proof: the test split through the float Keras model, the int8 model in TFLM (in a child
process that also measures the arena, tinykd.tflite.proof) and in LiteRT, on identical PCM-rounded input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from tinykd.tflite.graph import Graph
from tinykd.tflite.io import TensorQuant, dequantize, quantize
from tinykd.tflite.proof import TflmRun, run_tflm
from tinykd.tflite.run import run_litert


@dataclass
class ProofRun:
    float_scores: np.ndarray  # float32 [n, classes] (Keras)
    tflm: TflmRun
    tflm_scores: np.ndarray
    litert_scores: np.ndarray


def prove(flatbuffer: bytes, graph: Graph, model, x_test: np.ndarray, step: Callable[..., None],
          advance: Callable[[int, int], None] | None = None) -> ProofRun:
    """`x_test` float32 [n, samples] already rounded to int16 PCM (tinykd.tflite.io.as_pcm16)."""
    q_in, q_out = TensorQuant.of(graph.io(graph.inputs[0])), TensorQuant.of(graph.io(graph.outputs[0]))
    step("float Keras model on the test split")
    float_scores = np.asarray(model.predict(x_test, batch_size=32, verbose=0), dtype=np.float32)
    inputs = quantize(x_test, q_in)
    step("TFLite Micro on the test split", total=len(inputs))
    tflm = run_tflm(flatbuffer, inputs, graph, progress=advance)
    step("LiteRT on the test split")
    litert = run_litert(flatbuffer, inputs)
    return ProofRun(float_scores, tflm, dequantize(tflm.outputs, q_out), dequantize(litert, q_out))
