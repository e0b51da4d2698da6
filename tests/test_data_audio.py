"""Decoding, mono mix, polyphase resampling, pad/crop placement and content hashing (tinykd.data.audio)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import soundfile as sf

from data_helpers import noise_clip, write_wav
from tinykd.data import audio
from tinykd.errors import AudioError


@pytest.mark.parametrize(
    "subtype,fmt,tol",
    [
        ("PCM_U8", "WAV", 1 / 64),  # 8-bit WAV is unsigned
        ("PCM_16", "WAV", 1 / 16000),
        ("PCM_24", "WAV", 1e-6),
        ("PCM_32", "WAV", 1e-7),
        ("FLOAT", "WAV", 0.0),
        ("DOUBLE", "WAV", 1e-7),
        ("PCM_16", "FLAC", 1 / 16000),
        ("PCM_24", "FLAC", 1e-6),
    ],
)
def test_decode_bit_depths_and_flac(tmp_path, subtype, fmt, tol):
    x = noise_clip("depth", seconds=0.1)
    suffix = ".flac" if fmt == "FLAC" else ".wav"
    p = write_wav(tmp_path / f"clip_{subtype}{suffix}", x, rate=22050, subtype=subtype, fmt=fmt)
    d = audio.decode(p)
    assert d.rate == 22050 and d.channels == 1 and d.subtype == subtype
    assert d.samples.dtype == np.float32 and d.samples.shape == x.shape
    assert np.max(np.abs(d.samples - x)) <= tol + 1e-9


def test_stereo_is_mixed_to_mono(tmp_path):
    left = noise_clip("left", seconds=0.1)
    right = noise_clip("right", seconds=0.1)
    p = write_wav(tmp_path / "st.wav", np.stack([left, right], axis=1), subtype="FLOAT")
    d = audio.decode(p)
    assert d.channels == 2
    np.testing.assert_allclose(d.samples, (left + right) / 2, atol=1e-7)


def _tone_peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("src,dst", [(8000, 16000), (44100, 16000), (22050, 16000), (48000, 16000), (16000, 8000)])
def test_resample_keeps_tone_frequency_and_length(src, dst):
    t = np.arange(src) / src  # 1 s
    x = np.sin(2 * np.pi * 1000.0 * t).astype(np.float32)
    y = audio.resample(x, src, dst)
    assert y.dtype == np.float32 and len(y) == dst
    assert abs(_tone_peak_hz(y, dst) - 1000.0) <= 1.0
    # amplitude is kept in the passband (away from the filter's edge effects)
    mid = y[dst // 4 : 3 * dst // 4]
    assert np.sqrt(np.mean(mid**2)) == pytest.approx(1 / np.sqrt(2), rel=0.01)


def test_resample_attenuates_above_new_nyquist():
    src, dst = 44100, 16000
    t = np.arange(src) / src
    passband = np.sin(2 * np.pi * 3000.0 * t)
    alias = np.sin(2 * np.pi * 11000.0 * t)  # above 8 kHz: would alias to 5 kHz if merely decimated
    y = audio.resample((passband + alias).astype(np.float32), src, dst)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    freqs = np.fft.rfftfreq(len(y), 1 / dst)
    p_pass = spectrum[np.argmin(np.abs(freqs - 3000.0))]
    p_alias = spectrum[np.argmin(np.abs(freqs - 5000.0))]
    assert 20 * np.log10(p_pass / p_alias) > 60.0
    # naive decimation by index picking would have kept the alias: the test can tell the difference
    naive = (passband + alias)[(np.arange(dst) * src // dst)]
    s2 = np.abs(np.fft.rfft(naive * np.hanning(dst)))
    assert 20 * np.log10(s2[np.argmin(np.abs(freqs - 3000.0))] / s2[np.argmin(np.abs(freqs - 5000.0))]) < 20.0


@pytest.mark.parametrize("src,dst", [(8000, 16000), (44100, 16000), (16000, 22050)])
def test_resample_is_scipys_default_polyphase_filter(src, dst):
    from math import gcd

    from scipy.signal import resample_poly

    x = noise_clip("poly", seconds=0.3, rate=src)
    g = gcd(src, dst)
    expected = resample_poly(x.astype(np.float64), dst // g, src // g).astype(np.float32)
    np.testing.assert_array_equal(audio.resample(x, src, dst), expected)


def test_same_rate_is_untouched():
    x = noise_clip("same")
    np.testing.assert_array_equal(audio.resample(x, 16000, 16000), x)


@pytest.mark.parametrize(
    "pad,expected",
    [("center", [0, 1, 2, 3, 0]), ("start", [1, 2, 3, 0, 0]), ("end", [0, 0, 1, 2, 3])],
)
def test_pad_placement(pad, expected):
    np.testing.assert_array_equal(audio.fit_length(np.array([1, 2, 3], np.float32), 5, pad), expected)


@pytest.mark.parametrize(
    "pad,expected", [("center", [2, 3, 4]), ("start", [1, 2, 3]), ("end", [4, 5, 6])]
)
def test_crop_keeps_the_placed_part(pad, expected):
    x = np.arange(1, 7, dtype=np.float32)
    np.testing.assert_array_equal(audio.fit_length(x, 3, pad), expected)


def test_center_pad_of_odd_difference_and_exact_length():
    np.testing.assert_array_equal(audio.fit_length(np.ones(2, np.float32), 5, "center"), [0, 1, 1, 0, 0])
    x = noise_clip("exact")
    out = audio.fit_length(x, len(x))
    np.testing.assert_array_equal(out, x)
    assert out is not x


def test_content_hash_is_stable_and_keyed_on_audio_and_rate(tmp_path):
    x = noise_clip("hash", seconds=0.1)
    a = write_wav(tmp_path / "a.wav", x, subtype="FLOAT")
    b = write_wav(tmp_path / "copy" / "b.flac", x, subtype="PCM_24", fmt="FLAC")
    da, db = audio.decode(a), audio.decode(b)
    ha = audio.content_hash(da.samples, da.rate)
    assert ha == audio.content_hash(audio.decode(a).samples, 16000)  # same file, same hash
    assert len(ha) == 64 and int(ha, 16) >= 0
    # the documented definition, spelled out: changing it would silently invalidate every teacher cache
    pcm = np.array([0.0, 0.5, -1.0], np.float32)
    expected = hashlib.sha256(pcm.astype("<f4").tobytes() + b"|rate=8000").hexdigest()
    assert audio.content_hash(pcm, 8000) == expected
    assert audio.content_hash(da.samples, 8000) != ha  # the rate is part of the key
    # 24-bit FLAC of the same float signal decodes to slightly different PCM: a different clip
    assert audio.content_hash(db.samples, db.rate) != ha
    same = write_wav(tmp_path / "c.wav", da.samples, subtype="FLOAT")
    assert audio.content_hash(audio.decode(same).samples, 16000) == ha  # re-written copy hashes the same


# -- bad input: one line naming the file and the problem ---------------------------------------------------
def _one_line_error(path, *words):
    with pytest.raises(AudioError) as info:
        audio.decode(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg
    for w in words:
        assert w in msg
    return msg


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    _one_line_error(p, "empty file")


def test_text_named_wav(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("this is not audio at all\n" * 20)
    _one_line_error(p, "not a readable audio file")


def test_corrupt_header(tmp_path):
    p = write_wav(tmp_path / "x.wav")
    p.write_bytes(p.read_bytes()[:30])  # cut inside the header
    _one_line_error(p, "not a readable audio file")


def test_truncated_data(tmp_path):
    p = write_wav(tmp_path / "cut.wav")
    p.write_bytes(p.read_bytes()[:3000])  # header intact, audio cut short
    _one_line_error(p, "truncated")


def test_zero_length_audio(tmp_path):
    p = write_wav(tmp_path / "zero.wav", np.zeros(0, np.float32))
    _one_line_error(p, "zero-length")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_samples(tmp_path, bad):
    x = noise_clip("nan", seconds=0.05).astype(np.float32)
    x[10] = bad
    p = write_wav(tmp_path / "nan.wav", x, subtype="FLOAT")
    _one_line_error(p, "NaN or infinite")


def test_missing_file(tmp_path):
    _one_line_error(tmp_path / "nope.wav", "not found")


def test_odd_sized_chunks_before_data_are_not_truncation(tmp_path):
    # A WAV with a LIST chunk before `data` (as many editors write) must not be misread as truncated.
    x = noise_clip("list", seconds=0.05)
    p = write_wav(tmp_path / "tagged.wav", x)
    with sf.SoundFile(str(p), "r+") as fh:
        fh.title = "abc"  # odd-length text: exercises RIFF pad bytes
    d = audio.decode(p)
    assert len(d.samples) == len(x)
