"""The tiny teacher's mel filterbank start (`TinyTeacherSize(filterbank="mel")`): the first conv layer of the
feature encoder holds quadrature pairs at mel-spaced centres, so a tone excites the band at its frequency most,
at any phase; the learned default is left as Wav2Vec2 draws it; the setting is checked and travels by override."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch  # noqa: E402

from tinykd.errors import TinykdError  # noqa: E402
from tinykd.teacher.config import Masking, TinyTeacherSize  # noqa: E402
from tinykd.teacher.model import init_filterbank, load_for_finetuning  # noqa: E402

pytestmark = pytest.mark.teacher

RATE = 8000
SIZE = TinyTeacherSize(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                       conv_dim=(32, 16), conv_kernel=(200, 2), conv_stride=(80, 2), num_conv_pos_embedding_groups=4,
                       filterbank="mel")


def _band_envelopes(model, x: np.ndarray) -> np.ndarray:
    """Quadrature magnitude per band, mean over frames, of the first conv layer (before its norm)."""
    conv = model.wav2vec2.feature_extractor.conv_layers[0].conv
    with torch.no_grad():
        out = conv(torch.as_tensor(x, dtype=torch.float32)[None, None, :])[0].numpy()  # [channels, frames]
    bands = out.reshape(-1, 4, out.shape[-1])
    return np.sqrt(bands[:, 0] ** 2 + bands[:, 2] ** 2).mean(axis=1)


def test_a_tone_excites_the_band_at_its_frequency_most_at_any_phase():
    model, _, _ = load_for_finetuning("tiny", ["a", "b"], SIZE, RATE, Masking())
    conv = model.wav2vec2.feature_extractor.conv_layers[0].conv
    w = conv.weight[:, 0].detach().numpy()
    assert np.allclose(w[0::4], -w[1::4]) and np.allclose(w[2::4], -w[3::4])  # both signs of each phase
    assert np.allclose(np.linalg.norm(w, axis=1), 1.0, atol=1e-5)
    centres = np.fft.rfftfreq(4096, 1 / RATE)[np.argmax(np.abs(np.fft.rfft(w[0::4], 4096)), axis=1)]
    assert np.all(np.diff(centres) > 0) and 40 < centres[0] < 200 and 2500 < centres[-1] < 3800
    assert np.all(np.diff(np.diff(centres)) > -30)  # spacing widens upwards (mel), up to the FFT's resolution
    t = np.arange(RATE) / RATE
    for band in (2, 5):
        for phase in (0.0, 1.1):
            env = _band_envelopes(model, np.sin(2 * np.pi * centres[band] * t + phase))
            assert int(np.argmax(env)) == band
            # a quadrature pair: the envelope is steady over the frames, whatever the tone's phase at each frame
            conv_out = conv(torch.as_tensor(np.sin(2 * np.pi * centres[band] * t + phase), dtype=torch.float32)[None, None])[0]
            mag = torch.sqrt(conv_out[4 * band] ** 2 + conv_out[4 * band + 2] ** 2).detach().numpy()
            assert mag.min() > 0.9 * mag.max()


def test_the_learned_default_is_wav2vec2s_own_draw():
    learned = TinyTeacherSize(**{**SIZE.__dict__, "filterbank": "learned"})
    torch.manual_seed(0)
    model, _, _ = load_for_finetuning("tiny", ["a", "b"], learned, RATE, Masking())
    torch.manual_seed(0)
    again, _, _ = load_for_finetuning("tiny", ["a", "b"], learned, RATE, Masking())
    before = model.wav2vec2.feature_extractor.conv_layers[0].conv.weight.detach().clone()
    init_filterbank(model, learned, RATE)
    assert torch.equal(before, model.wav2vec2.feature_extractor.conv_layers[0].conv.weight)
    assert torch.equal(before, again.wav2vec2.feature_extractor.conv_layers[0].conv.weight)
    w = before[:, 0].numpy()
    assert not np.allclose(w[0::4], -w[1::4])


def test_the_setting_is_checked_and_set_by_override():
    assert TinyTeacherSize().with_overrides(["filterbank=mel", "conv_dim=160,128", "conv_kernel=400,2",
                                             "conv_stride=160,2"]).filterbank == "mel"
    with pytest.raises(TinykdError, match="filterbank must be one of learned, mel"):
        TinyTeacherSize(filterbank="gammatone")
    with pytest.raises(TinykdError, match="divisible by 4"):
        TinyTeacherSize(filterbank="mel", conv_dim=(30, 16), conv_kernel=(200, 2), conv_stride=(80, 2))
    with pytest.raises(TinykdError, match="conv_kernel\\[0\\] >= 32"):
        TinyTeacherSize(filterbank="mel")  # the default encoder's 20-tap first layer is too short for a band
