"""Proof in the real TFLite Micro interpreter: allocate, invoke every example, measure the arena.

The work happens in `tinykd.tflite.worker` (a child process): TFLM prints its arena report and its
kernel errors on the C-level stderr, which a child's pipe captures whole, and a crashing kernel cannot take
the quantizer down. A failure becomes a `TflmError` naming the op, its node number and its dtypes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tinykd.errors import TinykdError
from tinykd.tflite.graph import Graph
from tinykd.tflite.arena import arena_bytes
from tinykd.tflite.run import HOST_ARENA_BYTES

_NODE_FAIL = re.compile(r"Node (\S+) \(number (\d+)\) failed to (prepare|invoke|init)")
_NO_OP = re.compile(r"Didn't find op for builtin opcode '([^']+)'")
_NO_REG = re.compile(r"Failed to get registration from op code (\S+)")


class TflmError(TinykdError):
    """The TFLite Micro interpreter cannot allocate or run the model."""


@dataclass(frozen=True)
class TflmRun:
    outputs: np.ndarray  # [n, n_outputs] in the output tensor's dtype
    arena_bytes: int  # "Arena allocation total" (RecordingMicroAllocator)
    allocations: str  # the full print_allocations() report
    invoke_seconds: tuple[float, ...]
    exact_arena_ok: bool  # a fresh interpreter with exactly arena_bytes allocated and invoked


def _describe_failure(stderr: str, graph: Graph) -> str:
    """One line naming the op TFLM rejected and its dtypes, from TFLM's own messages."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    m = _NO_OP.search(stderr) or _NO_REG.search(stderr)
    if m:
        op = m.group(1)
        nodes = [o for o in graph.ops if o.name == op]
        dtypes = sorted({graph.tensors[i].dtype for o in nodes for i in o.inputs if i >= 0 and not graph.tensors[i].constant})
        where = f" (node {nodes[0].index}, input {'/'.join(dtypes)})" if nodes else ""
        return f"TFLite Micro has no kernel for op {op}{where}; remove or replace that layer"
    m = _NODE_FAIL.search(stderr)
    if m:
        op, node, stage = m.group(1), int(m.group(2)), m.group(3)
        cause = ""
        for i, ln in enumerate(lines):
            if _NODE_FAIL.search(ln) and i > 0:
                cause = lines[i - 1]
                break
        cause = re.sub(r"^\S+\.cc:\d+\s*", "", cause)
        dtypes = ""
        if 0 <= node < len(graph.ops):
            o = graph.ops[node]
            ins = [graph.tensors[i].dtype for i in o.inputs if i >= 0 and not graph.tensors[i].constant]
            outs = [graph.tensors[i].dtype for i in o.outputs]
            dtypes = f" with {'/'.join(ins) or 'no'} input and {'/'.join(outs)} output"
        return f"TFLite Micro cannot {stage} op {op} (node {node}){dtypes}: {cause or 'see TFLM log'}"
    tail = lines[-1] if lines else "no message"
    return f"TFLite Micro rejected the model: {tail}"


def _child(cmd: list[str], graph: Graph, progress: Callable[[int, int], None] | None) -> tuple[dict, str]:
    """Run a worker command, relaying its progress; (final JSON record, its stderr). TflmError on failure."""
    with tempfile.TemporaryFile(mode="w+b") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        result: dict = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("progress ") and progress is not None:
                done, total = line.split()[1:3]
                progress(int(done), int(total))
            elif line.startswith("{"):
                result = json.loads(line)
        proc.wait()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if proc.returncode != 0 or result.get("stage") != "done":
        if result.get("stage") in ("allocate", "invoke"):
            raise TflmError(_describe_failure(stderr, graph))
        raise TflmError(f"TFLite Micro interpreter process failed (exit {proc.returncode}): {_describe_failure(stderr, graph)}")
    return result, stderr


def _arena(allocations: str) -> int:
    try:
        return arena_bytes(allocations)
    except TinykdError as exc:
        raise TflmError(str(exc)) from None


def _exact_arena_runs(model: Path, inputs: Path, arena: int) -> bool:
    """A fresh interpreter with exactly `arena` bytes allocates and invokes the first input."""
    exact = subprocess.run([sys.executable, "-m", "tinykd.tflite.worker", "--exact", str(model), str(inputs), str(arena)],
                           capture_output=True, text=True)
    return exact.returncode == 0


def run_tflm(
    flatbuffer: bytes,
    inputs: np.ndarray,
    graph: Graph,
    progress: Callable[[int, int], None] | None = None,
) -> TflmRun:
    """Invoke the model on every row of `inputs` (already in the input tensor's dtype) in TFLM."""
    with tempfile.TemporaryDirectory(prefix="tinykd_tflm_") as tmp:
        tmp = Path(tmp)
        (tmp / "model.tflite").write_bytes(flatbuffer)
        np.save(tmp / "inputs.npy", np.ascontiguousarray(inputs), allow_pickle=False)
        cmd = [sys.executable, "-m", "tinykd.tflite.worker", str(tmp / "model.tflite"), str(tmp / "inputs.npy"),
               str(tmp / "outputs.npy"), str(HOST_ARENA_BYTES)]
        result, stderr = _child(cmd, graph, progress)
        allocations = stderr.split("---allocations---", 1)[-1].strip()
        arena = _arena(allocations)
        outputs = np.load(tmp / "outputs.npy", allow_pickle=False)
        exact_ok = _exact_arena_runs(tmp / "model.tflite", tmp / "inputs.npy", arena)
    return TflmRun(outputs, arena, allocations, tuple(result["invoke_seconds"]), exact_ok)


@dataclass(frozen=True)
class StreamRun:
    """The signal pipeline over every clip, in TFLM, in the firmware's order (tinykd.tflite.stream)."""

    outputs: np.ndarray  # [n, classes] raw body outputs
    features: np.ndarray  # int8 [n, frames, bins] the front end's outputs
    arena_bytes: int  # front end + body in one shared arena (tinykd.tflite.arena.shared_arena_bytes)
    frontend_arena_bytes: int
    body_arena_bytes: int
    frontend_allocations: str
    allocations: str  # the body's report
    hop_seconds: tuple[float, ...]  # one front-end invoke
    invoke_seconds: tuple[float, ...]  # one body invoke
    exact_arena_ok: bool  # fresh interpreters with exactly the measured arenas ran


def run_tflm_stream(frontend: bytes, body: bytes, pcm: np.ndarray, window: int, hop: int, graph: Graph,
                    progress: Callable[[int, int], None] | None = None) -> StreamRun:
    """Every int16 clip of `pcm` [n, samples] through front end (per hop) and body (per clip) in a TFLM child."""
    from tinykd.tflite.arena import shared_arena_bytes

    with tempfile.TemporaryDirectory(prefix="tinykd_tflm_") as tmp:
        tmp = Path(tmp)
        (tmp / "frontend.tflite").write_bytes(frontend)
        (tmp / "body.tflite").write_bytes(body)
        np.save(tmp / "pcm.npy", np.ascontiguousarray(pcm, dtype=np.int16), allow_pickle=False)
        cmd = [sys.executable, "-m", "tinykd.tflite.worker", "--stream", str(tmp / "frontend.tflite"),
               str(tmp / "body.tflite"), str(tmp / "pcm.npy"), str(tmp / "outputs.npy"), str(tmp / "features.npy"),
               str(window), str(hop)]
        result, stderr = _child(cmd, graph, progress)
        reports = stderr.split("---allocations---", 1)[-1]
        fe_text, body_text = (part.strip() for part in reports.split("---body allocations---", 1))
        fe_arena, body_arena = _arena(fe_text), _arena(body_text)
        outputs = np.load(tmp / "outputs.npy", allow_pickle=False)
        features = np.load(tmp / "features.npy", allow_pickle=False)
        np.save(tmp / "frame.npy", np.asarray(pcm, dtype=np.int16)[:1, :window], allow_pickle=False)
        np.save(tmp / "feat.npy", features[:1], allow_pickle=False)
        exact_ok = (_exact_arena_runs(tmp / "frontend.tflite", tmp / "frame.npy", fe_arena)
                    and _exact_arena_runs(tmp / "body.tflite", tmp / "feat.npy", body_arena))
    return StreamRun(outputs, features, shared_arena_bytes([fe_text, body_text]), fe_arena, body_arena, fe_text,
                     body_text, tuple(result["hop_seconds"]), tuple(result["invoke_seconds"]), exact_ok)
