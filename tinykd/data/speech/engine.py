"""eSpeak NG through ctypes, one fresh library instance per utterance (see tinykd.data.speech)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from tinykd.errors import DatasetError, TinykdError
from tinykd.data.speech.config import ENV_DATA, ENV_LIBRARY, INSTALL_HINT

# -- the synthesizer ---------------------------------------------------------------------------------------
class _Event(ctypes.Structure):  # espeak_EVENT (speak_lib.h); only its size matters here
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of exiting the process when the data is missing
ESPEAK_CHARS_UTF8 = 1
POS_CHARACTER = 1
PARAM_RATE, PARAM_VOLUME, PARAM_PITCH, PARAM_RANGE = 1, 2, 3, 4
# One utterance at a time in the whole process: libc's rand() (seeded per utterance) is process-wide.
_ESPEAK_LOCK = threading.Lock()


def espeak_paths(library: str | Path | None = None, data: str | Path | None = None) -> tuple[Path, Path]:
    """(libespeak-ng, espeak-ng-data): the arguments, else $TINYKD_ESPEAK_LIBRARY/DATA, else the wheel's."""
    library = library or os.environ.get(ENV_LIBRARY) or None
    data = data or os.environ.get(ENV_DATA) or None
    if library is None or data is None:
        try:
            import espeakng_loader
        except ImportError:
            raise TinykdError(f"the speech generator needs eSpeak NG: {INSTALL_HINT} "
                              f"(or set {ENV_LIBRARY} and {ENV_DATA})") from None
        library = library or espeakng_loader.get_library_path()
        data = data or Path(espeakng_loader.__file__).parent / "espeak-ng-data"
    library, data = Path(library), Path(data)
    if not library.is_file():
        raise TinykdError(f"{library}: no libespeak-ng library there; {INSTALL_HINT} (or set {ENV_LIBRARY})")
    if not (data / "phontab").is_file() or not (data / "voices" / "!v").is_dir():
        raise TinykdError(f"{data}: not an espeak-ng-data folder (no phontab or voices/!v); {INSTALL_HINT} "
                          f"(or set {ENV_DATA})")
    return library, data


def _unload(handle: int) -> None:
    import _ctypes

    if sys.platform == "win32":
        _ctypes.FreeLibrary(handle)
    else:
        _ctypes.dlclose(handle)


class Espeak:
    """libespeak-ng through ctypes; every utterance in a fresh library instance, so it is reproducible.

    The library is copied once into a private temporary folder (a file of its own, so no other user of
    libespeak-ng in this process shares the instance) and loaded, used and unloaded per utterance.
    Use as a context manager, or call `close()`.
    """

    def __init__(self, library: str | Path | None = None, data: str | Path | None = None):
        self.library_source, self.data = espeak_paths(library, data)
        self._tmp = tempfile.mkdtemp(prefix="tinykd-espeak-")
        self._lib_path = Path(self._tmp) / self.library_source.name
        shutil.copyfile(self.library_source, self._lib_path)
        self._chunks: list[np.ndarray] = []
        self._callback = _SYNTH_CALLBACK(self._on_audio)
        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or ("msvcrt" if sys.platform == "win32" else None))
        self.sample_rate = 0
        self.version = ""
        try:
            self._with_instance(self._probe)
            self._check_fresh()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "Espeak":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _on_audio(self, wav, n, events) -> int:
        if wav and n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        return 0

    def _with_instance(self, use):
        with _ESPEAK_LOCK:
            return self._with_instance_locked(use)

    def _with_instance_locked(self, use):
        try:
            lib = ctypes.CDLL(str(self._lib_path))
        except OSError as exc:
            raise TinykdError(f"{self.library_source}: cannot load libespeak-ng ({exc}); {INSTALL_HINT}") from None
        try:
            lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
            lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                         ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            lib.espeak_Info.restype = ctypes.c_char_p
            rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data).encode(), INITIALIZE_DONT_EXIT)
            if rate <= 0:
                raise TinykdError(f"{self.data}: libespeak-ng could not initialise with this data folder; {INSTALL_HINT}")
            lib.espeak_SetSynthCallback(self._callback)
            try:
                return use(lib, rate)
            finally:
                lib.espeak_Terminate()
        finally:
            _unload(lib._handle)

    def _probe(self, lib, rate: int) -> None:
        self.sample_rate = int(rate)
        self.version = (lib.espeak_Info(None) or b"").decode("ascii", "replace")

    def _check_fresh(self) -> None:
        """The same utterance before and after another must be identical, or the output is not reproducible."""
        args = dict(rate=175, pitch=50, pitch_range=50, seed=1)
        first = self.say("yes", "en-us+m2", **args)
        self.say("no", "en+f4", **args)
        if not np.array_equal(first, self.say("yes", "en-us+m2", **args)):
            raise TinykdError(f"{self.library_source}: libespeak-ng keeps state between utterances here (it could not be "
                              f"unloaded), so clips would not be reproducible; use the {INSTALL_HINT} library")

    def say(self, text: str, voice: str, *, rate: int, pitch: int, pitch_range: int, seed: int) -> np.ndarray:
        """`text` in `voice` ("accent+variant") as int16 at `self.sample_rate`; same arguments, same samples."""

        def run(lib, _rate):
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise DatasetError(f"voice {voice!r}: espeak has no such voice; check the accent name (e.g. en-us)")
            for param, value in ((PARAM_RATE, rate), (PARAM_VOLUME, 100), (PARAM_PITCH, pitch), (PARAM_RANGE, pitch_range)):
                lib.espeak_SetParameter(param, int(value), 0)
            lib.espeak_ng_SetRandSeed(int(seed))  # breath/aspiration noise
            self._libc.srand(ctypes.c_uint(int(seed)))  # the klatt3 engine (speechPlayer) uses libc rand()
            self._chunks = []
            buf = text.encode("utf-8") + b"\0"
            status = lib.espeak_Synth(buf, len(buf), 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None)
            if status != 0:
                raise TinykdError(f"espeak_Synth failed (status {status}) for {text!r} with voice {voice}")
            lib.espeak_Synchronize()
            return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)

        return self._with_instance(run)

    # -- voices -----------------------------------------------------------------------------------
    def variant_names(self) -> list[str]:
        folder = self.data / "voices" / "!v"
        return sorted((p.name for p in folder.iterdir() if p.is_file()), key=str.lower)

    def accent_exists(self, accent: str) -> bool:
        return self._with_instance(lambda lib, _r: lib.espeak_SetVoiceByName(accent.encode()) == 0)
