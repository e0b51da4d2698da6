"""ESP32 numerics on the host: the firmware application (board core + TFLM glue + model, firmware/host) built
against esp-tflite-micro 1.4.0 with its ESP-NN kernels and ESP-NN's portable C code
(`build_host_firmware(flavour="esp-nn")`: the generic optimisations a classic ESP32 runs; "esp-nn-ansi": ESP-NN's
ANSI C versions), compared with the Python TFLM interpreter (`tflite_micro`) bit for bit:

- a waveform int8 model (tests/device_support: CONV_2D and FULLY_CONNECTED run by ESP-NN), with int8 and float
  input/output, verify clips and stream windows;
- the signal pair (tinykd's Signal-op front end + a small int8 body: CONV_2D, MAX_POOL_2D, FULLY_CONNECTED by
  ESP-NN), every front-end frame of verify clips, the body's output, and stream windows;
- the wav2small preset, untrained, as a signal deployment (its attention head adds SOFTMAX and MUL, which
  ESP-NN also replaces).

Measured here: 0 LSB difference on every output compared (the tests assert equality). The ESP32-S3's
assembly kernels and the Xtensa compiler are NOT exercised: no Xtensa toolchain or ESP32 emulator is
reachable (../shared/FIELD-NOTES.md); this is the closest check of ESP32 numerics possible without one.
The first build compiles esp-tflite-micro's framework and kernels (minutes of CPU); later ones reuse the
object cache (TINYKD_CACHE).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinykd.device import protocol as P

from test_qemu_helpers import (SIGNAL_LABELS, audio_frames, read_dump, require, require_host_compiler, require_vendor,
                               run_host, signal_clips, signal_pair, waveform_dir)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def esp_pieces():
    require_host_compiler()
    require_vendor("esp-tflite-micro", "esp-nn")
    if shutil.which("nm") is None:
        require("needs nm (binutils) to check which ESP-NN kernels are linked")


def linked_esp_nn(exe: Path) -> set[str]:
    """The ESP-NN functions defined in an executable: proof the ESP-NN code is what ran, not TFLM's reference."""
    out = subprocess.run(["nm", "--defined-only", str(exe)], capture_output=True, text=True, check=True).stdout
    return {ln.split()[-1] for ln in out.splitlines() if ln.split() and ln.split()[-1].startswith("esp_nn_")}


def lsb(got: np.ndarray, want: np.ndarray) -> float:
    """Largest difference (in LSB for an integer tensor)."""
    return float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) if want.size else 0.0


def _clips(n: int, window: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clips = (rng.standard_normal((n, window)) * 6000).clip(-32768, 32767).astype(np.int16)
    clips[-1] = np.clip(clips[-1].astype(np.int32) * 8, -32768, 32767)  # a clipped, full-scale one
    return clips


@pytest.mark.parametrize("flavour, int8_io", [("esp-nn", True), ("esp-nn", False), ("esp-nn-ansi", True)],
                         ids=["generic-opt-int8-io", "generic-opt-float-io", "ansi-int8-io"])
def test_waveform_model_on_esp_nn_is_bit_identical_to_python_tflm(tmp_path_factory, tmp_path, flavour, int8_io):
    from tinykd.device.qemu.build import build_host_firmware
    from tinykd.device.qemu.reference import WaveformReference

    folder = waveform_dir(tmp_path_factory.mktemp("wave"), int8_io)
    ref = WaveformReference((folder / "model_int8.tflite").read_bytes())
    exe = build_host_firmware(folder, mode="verify", flavour=flavour)
    kernels = linked_esp_nn(exe)
    conv = "esp_nn_conv_s8_opt" if flavour == "esp-nn" else "esp_nn_conv_s8_ansi"
    assert {conv, "esp_nn_fully_connected_s8_ansi"} <= kernels, sorted(kernels)
    if flavour == "esp-nn-ansi":
        assert "esp_nn_conv_s8_opt" not in kernels
    clips = _clips(8, ref.window, seed=7)
    run_host(exe, b"".join(P.clip_frame(i + 1, i, c) for i, c in enumerate(clips)), tmp_path / "dump.bin")
    records = read_dump(tmp_path / "dump.bin")
    assert [t for t, _ in records] == ["W"] * len(clips)
    for clip, (_, raw) in zip(clips, records):
        want = ref.clip(clip).raw
        got = np.frombuffer(raw, want.dtype)
        assert lsb(got, want) == 0, f"ESP-NN differs from TFLM by {lsb(got, want)} (output {got} vs {want})"
    # Stream mode: every window at a hop of a quarter window.
    hop = ref.window // 4
    stream_exe = build_host_firmware(folder, mode="stream", hop_samples=hop, flavour=flavour)
    pcm = clips[:4].reshape(-1)
    lines = run_host(stream_exe, audio_frames(pcm, [hop + 1, 911]), tmp_path / "stream.bin")  # hop + 1: the largest
    assert not [r for r in map(P.parse_line, lines) if isinstance(r, (P.Nak, P.BoardError))]
    want = ref.stream(pcm, hop)
    got = [raw for _, raw in read_dump(tmp_path / "stream.bin")]
    assert len(got) == len(want) == (len(pcm) - ref.window) // hop + 1
    assert got == [a.raw.tobytes() for a in want]


def _signal_bit_exact(folder: Path, ref, clips: dict[str, np.ndarray], tmp_path: Path, every: int) -> set[str]:
    """Verify clips (every front-end frame and the body's output) and a stream (the body every `every` hops)
    through the esp-nn host build, against the Python TFLM reference. Returns the ESP-NN functions linked."""
    from tinykd.device.qemu.build import build_host_firmware

    exe = build_host_firmware(folder, mode="verify", flavour="esp-nn")
    names = list(clips)
    run_host(exe, b"".join(P.clip_frame(i + 1, 100 + i, clips[n]) for i, n in enumerate(names)), tmp_path / "d.bin")
    records = read_dump(tmp_path / "d.bin")
    per_clip = ref.frames + 1
    assert [t for t, _ in records] == (["F"] * ref.frames + ["B"]) * len(names)
    for i, name in enumerate(names):
        block = records[i * per_clip : (i + 1) * per_clip]
        features = np.stack([np.frombuffer(b, np.int8) for _, b in block[:-1]])
        want_features = ref.features(clips[name], ref.frames)
        assert lsb(features, want_features) == 0, f"{name}: front end differs by {lsb(features, want_features)} LSB"
        body = np.frombuffer(block[-1][1], np.int8)
        want = ref.clip(clips[name]).raw
        assert lsb(body, want) == 0, f"{name}: body differs by {lsb(body, want)} LSB ({body} vs {want})"
    stream_exe = build_host_firmware(folder, mode="stream", body_every=every, flavour="esp-nn")
    pcm = np.concatenate([clips[n] for n in names])
    lines = run_host(stream_exe, audio_frames(pcm, [1280, 77, 640]), tmp_path / "s.bin")
    assert not [r for r in map(P.parse_line, lines) if isinstance(r, (P.Nak, P.BoardError))]
    got = [raw for tag, raw in read_dump(tmp_path / "s.bin") if tag == "B"]
    want = ref.stream(pcm, every)
    assert len(got) == len(want) > 10
    assert got == [a.raw.tobytes() for a in want]
    return linked_esp_nn(exe)


def test_signal_pair_on_esp_nn_is_bit_identical_to_python_tflm(tmp_path_factory, tmp_path):
    folder, ref, clips = signal_pair(tmp_path_factory.mktemp("signal"))
    kernels = _signal_bit_exact(folder, ref, clips, tmp_path, every=1)
    assert {"esp_nn_conv_s8_opt", "esp_nn_max_pool_s8_ansi", "esp_nn_fully_connected_s8_ansi"} <= kernels


def _preset_deployment(base: Path, preset: str, labels: tuple[str, ...]) -> Path:
    """An untrained `preset` student converted by tinykd (front end + int8 body) with its C sources, as
    tests/device_support.make_signal_int8_run does for its small body (no quantize.json: the host build needs
    only the C sources)."""
    import os

    from device_support import QUIET_TF

    os.environ.update(QUIET_TF)
    import keras

    from tinykd.emit.write import model_source_from_report, write_c_sources
    from tinykd.frontend.signal_graph import signal_op_names
    from tinykd.students import build_student
    from tinykd.students.tflm_arena import example_clips, measure_conversion
    from tinykd.tflite.convert import convert_student
    from tinykd.tflite.graph import read_graph

    keras.utils.set_random_seed(0)
    clips = example_clips(6, 16000, 16000, seed=0)
    conv = convert_student(build_student(preset, len(labels), 16000), clips)
    arena = measure_conversion(conv, clips[0])
    graph, spec = read_graph(conv.model), conv.spec

    def tensor(t) -> dict:
        return {"dtype": t.dtype, "shape": list(t.shape), "scale": t.scale[0] if t.scale else 0.0,
                "zero_point": t.zero_point[0] if t.zero_point else 0}

    report = {
        "kind": "signal", "labels": list(labels), "sample_rate": 16000,
        "input": tensor(graph.io(graph.inputs[0])), "output": tensor(graph.io(graph.outputs[0])),
        "frontend": {"input": {"dtype": "int16", "shape": [spec.win_length], "scale": 0.0, "zero_point": 0},
                     "output": {"dtype": "int8", "shape": [spec.n_mels], "scale": 1.0, "zero_point": 0}},
        "stream": {"hop_samples": spec.hop_length, "clip_samples": 16000},
        "arena": {"measured_bytes": arena.arena_bytes, "frontend_measured_bytes": arena.frontend_arena_bytes,
                  "body_measured_bytes": arena.body_arena_bytes, "bytes": int(arena.arena_bytes * 1.25) // 1024 * 1024 + 1024},
    }
    out = base / preset
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_int8.tflite").write_bytes(conv.model)
    (out / "frontend.tflite").write_bytes(conv.frontend)
    write_c_sources(model_source_from_report(report, conv.model, frontend=conv.frontend),
                    [*graph.op_names(), *signal_op_names(spec)], out)
    return out


def test_wav2small_preset_on_esp_nn_is_bit_identical_to_python_tflm(tmp_path_factory, tmp_path):
    """The default Wav2Small deployment's body: conv blocks, attention pooling (SOFTMAX, MUL by ESP-NN),
    Gram matrix (BATCH_MATMUL), dense."""
    from tinykd.device.qemu.reference import SignalReference

    folder = _preset_deployment(tmp_path_factory.mktemp("preset"), "wav2small", SIGNAL_LABELS)
    ops = (folder / "model_ops.h").read_text()
    assert "AddSoftmax" in ops and "AddMul" in ops and "AddBatchMatMul" in ops
    ref = SignalReference((folder / "frontend.tflite").read_bytes(), (folder / "model_int8.tflite").read_bytes(), 320)
    clips = signal_clips()
    kernels = _signal_bit_exact(folder, ref, clips, tmp_path, every=10)
    assert {"esp_nn_softmax_s8_opt", "esp_nn_mul_elementwise_s8_ansi", "esp_nn_conv_s8_opt"} <= kernels, sorted(kernels)


def test_unknown_flavour_and_esp_nn_on_the_emulated_board_are_one_line_errors(tmp_path):
    from tinykd.device.qemu.build import build_firmware, build_host_firmware
    from tinykd.errors import TinykdError

    with pytest.raises(TinykdError, match="flavour must be one of") as err:
        build_host_firmware(tmp_path, flavour="xtensa")
    assert "\n" not in str(err.value)
    folder = waveform_dir(tmp_path / "wave")
    with pytest.raises(TinykdError, match="host only"):
        build_firmware(folder, kernels="esp-nn")
    with pytest.raises(TinykdError, match="not an ESP-NN folder"):
        build_host_firmware(folder, flavour="esp-nn", esp_nn=tmp_path)
