"""End to end with the real pipeline: a Keras student with tinykd's log-mel front end -> `tinykd quantize`
(int8, TFLM-checked, C files emitted by tinykd.emit) -> `tinykd flash --dry-run` -> the virtual board ->
`verify` on FSDD clips. Slow (a real conversion and TFLM check): marked slow and fsdd."""

from __future__ import annotations

import json

import pytest

from device_support import DIGITS, QUIET_TF, VirtualBoard

pytestmark = [pytest.mark.slow, pytest.mark.fsdd]


@pytest.fixture(scope="module")
def quantized_run(tmp_path_factory, fsdd_root):
    import os

    os.environ.update(QUIET_TF)
    import keras

    from tinykd.frontend.keras_layer import LogMelFrontEnd
    from tinykd.frontend.spec import FrontEndSpec
    from tinykd.quantize.config import QuantizeConfig
    from tinykd.quantize.pipeline import quantize_run

    run = tmp_path_factory.mktemp("pipeline") / "run"
    run.mkdir()
    keras.utils.set_random_seed(0)
    spec = FrontEndSpec(sample_rate=8000, win_length=256, n_fft=256, hop_length=128, n_mels=20)
    inp = keras.Input(shape=(8000,))
    x = LogMelFrontEnd(spec)(inp)
    x = keras.layers.Reshape((-1, 20, 1))(x)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(len(DIGITS))(x)
    keras.Model(inp, out).save(run / "model.keras")
    (run / "labels.json").write_text(json.dumps(list(DIGITS)))
    (run / "config.json").write_text(json.dumps({"data": {"sample_rate": 8000, "clip_seconds": 1.0}}))
    quantize_run(run, fsdd_root, config=QuantizeConfig(representative_size=16, max_test_clips=8), show_progress=False)
    return run


def test_quantized_run_flashes_and_verifies_on_the_virtual_board(quantized_run, fsdd_root, tmp_path):
    from tinykd.device.flash import FlashOptions, flash
    from tinykd.device.model import load_device_model
    from tinykd.device.verify import VerifyOptions, verify

    for tool in ("arduino-cli", "pio"):
        res = flash(FlashOptions(board="esp32s3", model=quantized_run, port="/dev/ttyUSB0", tool=tool,
                                 out=tmp_path / tool, dry_run=True), echo=lambda s: None)
        assert "fits" in res.fit
    model = load_device_model(quantized_run)
    assert model.sample_rate == 8000 and model.input_samples == 8000
    with VirtualBoard(quantized_run, "--mode", "verify") as vb:
        rep = verify(vb.port, quantized_run, fsdd_root, "test", VerifyOptions(limit=16), tmp_path / "v.json")
    assert rep.passed and rep.agreement == 1.0 and rep.score_parity == 1.0 and rep.answered == 16
    assert rep.board["arena_bytes"] == model.arena_bytes  # TINYKD_ARENA_BYTES from the emitted header
