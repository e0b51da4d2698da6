"""`StudentConfig`: everything that defines a student model, and the preset files in `models/`.

A preset is one JSON file, `models/<name>.json`, holding a `StudentConfig` with its full front-end spec.
The folder is `$TINYKD_MODELS` when set, else the presets shipped with the package, `tinykd/_models` (a
symlink to the top-level `models/` in a source checkout, a copy in an installed wheel).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from tinykd.configio import from_dict, load_json, save_json
from tinykd.errors import TinykdError
from tinykd.frontend.spec import FrontEndSpec

HEADS = ("attention_gram", "mean")
PRESET_SUFFIX = ".json"


@dataclass
class StudentConfig:
    """A student architecture: log-mel front end -> `depth` x [conv k x k, no bias -> BN -> ReLU] -> head.

    `channels` is one width for every block or a list with one width per block. `pool_after` is the block
    (1-based), or a list of blocks, after which a MaxPool(pool_size, pool_stride, "same") shrinks time and
    frequency by `pool_stride`; 0 or an empty list: no pooling.
    `head`: "attention_gram" (Wav2Small: values x softmax-over-time weights summed over time, concatenated with
    their channel Gram matrix, Dense) or "mean" (mean over time, Dense). `frontend` holds `FrontEndSpec`
    fields; missing ones take the spec defaults. A kind="signal" front end makes the student deployable
    (TFLM's integer Signal ops per hop, an all-int8 body); a kind="logmel" one is the papers' float front end.
    """

    name: str = "custom"
    description: str = ""
    depth: int = 7
    channels: int | tuple[int, ...] = 13
    kernel_size: int = 3
    pool_after: int | tuple[int, ...] = 3
    pool_size: int = 3
    pool_stride: int = 2
    dropout: float = 0.0
    head: str = "attention_gram"
    clip_seconds: float = 1.0
    frontend: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.channels, list):
            self.channels = tuple(self.channels)
        if isinstance(self.pool_after, list):
            self.pool_after = tuple(self.pool_after)
        self.validate()

    # -- derived ------------------------------------------------------------------------------------
    @property
    def block_channels(self) -> tuple[int, ...]:
        if isinstance(self.channels, int):
            return (self.channels,) * self.depth
        return tuple(self.channels)

    @property
    def pool_blocks(self) -> tuple[int, ...]:
        """Blocks (1-based, ascending) followed by a max-pool."""
        if isinstance(self.pool_after, int):
            return () if self.pool_after == 0 else (self.pool_after,)
        return tuple(sorted(self.pool_after))

    def spec(self) -> FrontEndSpec:
        return FrontEndSpec.from_dict(dict(self.frontend))

    def clip_samples(self, clip_seconds: float | None = None) -> int:
        seconds = self.clip_seconds if clip_seconds is None else clip_seconds
        return int(round(seconds * self.spec().sample_rate))

    def validate(self) -> None:
        where = f"student {self.name!r}"
        if not isinstance(self.depth, int) or self.depth < 1:
            raise TinykdError(f"{where}: depth must be an integer >= 1, got {self.depth!r}")
        chans = self.channels
        if isinstance(chans, bool) or not (
            isinstance(chans, int) or (isinstance(chans, tuple) and all(isinstance(c, int) for c in chans))
        ):
            raise TinykdError(f"{where}: channels must be an integer or a list of integers, got {chans!r}")
        if isinstance(chans, tuple) and len(chans) != self.depth:
            raise TinykdError(f"{where}: channels lists {len(chans)} widths but depth is {self.depth}")
        if min(self.block_channels) < 1:
            raise TinykdError(f"{where}: every channel count must be >= 1, got {list(self.block_channels)}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise TinykdError(f"{where}: kernel_size must be a positive odd integer, got {self.kernel_size}")
        pools = self.pool_after
        if isinstance(pools, bool) or not (
            isinstance(pools, int) or (isinstance(pools, tuple) and all(isinstance(p, int) for p in pools))
        ):
            raise TinykdError(f"{where}: pool_after must be a block number or a list of them, got {pools!r}")
        if isinstance(pools, int) and not (0 <= pools <= self.depth):
            raise TinykdError(f"{where}: pool_after must be between 0 (no pool) and depth {self.depth}, got {pools}")
        if isinstance(pools, tuple) and (
            len(set(pools)) != len(pools) or any(not (1 <= p <= self.depth) for p in pools)
        ):
            raise TinykdError(f"{where}: pool_after lists must hold distinct blocks 1..{self.depth}, got {list(pools)}")
        if self.pool_size < 1 or self.pool_stride < 1:
            raise TinykdError(f"{where}: pool_size and pool_stride must be >= 1")
        if not (0.0 <= float(self.dropout) < 1.0):
            raise TinykdError(f"{where}: dropout must be in [0, 1), got {self.dropout}")
        if self.head not in HEADS:
            raise TinykdError(f"{where}: head must be one of {', '.join(HEADS)}, got {self.head!r}")
        if not (self.clip_seconds > 0):
            raise TinykdError(f"{where}: clip_seconds must be > 0, got {self.clip_seconds}")
        if not isinstance(self.frontend, dict):
            raise TinykdError(f"{where}: frontend must be a JSON object of front-end fields")
        self.spec()  # validates the front-end fields

    def with_spec(self, spec: FrontEndSpec) -> "StudentConfig":
        """The same student with its front end replaced by `spec` (stored in full)."""
        return dataclasses.replace(self, frontend=spec.to_dict())

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["channels"] = self.channels if isinstance(self.channels, int) else list(self.channels)
        data["pool_after"] = self.pool_after if isinstance(self.pool_after, int) else list(self.pool_after)
        data["frontend"] = self.spec().to_dict()  # a saved preset carries the full spec
        return data


# -- presets ----------------------------------------------------------------------------------------
def models_dir() -> Path:
    """The preset folder (see the module docstring for the search order)."""
    env = os.environ.get("TINYKD_MODELS")
    if env:
        path = Path(env)
        if not path.is_dir():
            raise TinykdError(f"TINYKD_MODELS={env} is not a folder; point it at a folder of preset JSON files")
        return path
    path = Path(__file__).resolve().parents[1] / "_models"
    if not path.is_dir():
        raise TinykdError(f"{path}: no preset folder (reinstall tinykd, or set TINYKD_MODELS to a folder of presets)")
    return path


def preset_names(directory: str | os.PathLike | None = None) -> list[str]:
    folder = Path(directory) if directory is not None else models_dir()
    return sorted(p.stem for p in folder.glob(f"*{PRESET_SUFFIX}") if not p.name.startswith("."))


def load_student_config(preset: "str | os.PathLike | StudentConfig", directory: str | os.PathLike | None = None) -> StudentConfig:
    """A preset name (`wav2small`), a path to a preset JSON file, or a `StudentConfig` (returned as is)."""
    if isinstance(preset, StudentConfig):
        return preset
    text = os.fspath(preset)
    path = Path(text)
    if not (text.endswith(PRESET_SUFFIX) or os.sep in text or path.is_file()):
        folder = Path(directory) if directory is not None else models_dir()
        path = folder / f"{text}{PRESET_SUFFIX}"
        if not path.is_file():
            known = ", ".join(preset_names(folder)) or "none"
            raise TinykdError(f"unknown student preset {text!r}; presets in {folder}: {known}")
    data = load_json(path)
    if isinstance(data, dict):
        # Retired: the int8-waveform front end of the old `-64k` presets (it lost 16-25 points); ignored.
        data.pop("frontend_int8", None)
    try:
        return from_dict(StudentConfig, data)
    except TinykdError as exc:
        raise TinykdError(f"{path}: {exc}") from None
    except TypeError as exc:
        raise TinykdError(f"{path}: not a student preset ({exc})") from None


def save_student_config(path: str | os.PathLike, config: StudentConfig) -> None:
    save_json(path, config.to_dict())
