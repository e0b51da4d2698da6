"""The one table of boards tinykd targets, and the check that a model fits one.

Read by `tinykd quantize` (warns), `tinykd boards` (lists) and `tinykd flash` (refuses). Numbers are bytes.

Where the figures come from:
- `flash_bytes`, `ram_bytes`: the board package's own limits, `upload.maximum_size` and
  `upload.maximum_data_size` in its `boards.txt` (what arduino-cli checks a sketch against). For the ESP32
  boards that is the app partition of the default partition scheme (1.25 MB), not the whole flash chip.
- `arena_limit_bytes`: the largest single block the firmware can give the tensor arena. On the classic ESP32
  the linker caps statically allocated DRAM at 160 KB (ESP-IDF "Memory Types" guide: the rest of the 320 KB
  DRAM is heap only, in smaller regions), so a bigger arena needs PSRAM.
- `firmware_flash_bytes`, `firmware_ram_bytes`: what the tinykd sketch needs besides the model and the arena
  (Arduino core, the TFLite Micro interpreter and kernels, serial protocol, a 1 s int16 audio buffer at 16 kHz,
  stack). These are ESTIMATES, rounded up from published blank-sketch sizes of each core plus the TFLM
  library; they were not measured on these machines (no board toolchain here). The firmware build prints
  the real figures; update the table when it has been run on a board.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinykd.errors import TinykdError

KB = 1024
# int16 PCM for one 1 s window at 16 kHz: the firmware keeps one window of audio besides the arena
# (the arena holds the float32 input tensor).
AUDIO_BUFFER_BYTES = 16000 * 2


@dataclass(frozen=True)
class Board:
    name: str  # the id users type: `--board esp32`
    title: str  # human name
    mcu: str
    flash_bytes: int  # room for the sketch (app partition / upload.maximum_size)
    ram_bytes: int  # RAM for the sketch's data (upload.maximum_data_size)
    arena_limit_bytes: int  # largest single arena the firmware can allocate
    firmware_flash_bytes: int  # estimated sketch size without the model
    firmware_ram_bytes: int  # estimated RAM use without the arena
    fqbn: str  # arduino-cli fully qualified board name
    pio_board: str  # PlatformIO `board =`
    pio_platform: str  # PlatformIO `platform =`
    sources: tuple[str, ...] = field(default=())
    notes: str = ""

    @property
    def model_flash_budget(self) -> int:
        """Bytes of flash left for the model after the firmware."""
        return self.flash_bytes - self.firmware_flash_bytes

    @property
    def arena_budget(self) -> int:
        """Bytes the arena may take: RAM left after the firmware, capped by the largest allocatable block."""
        return min(self.ram_bytes - self.firmware_ram_bytes, self.arena_limit_bytes)


# The PlatformIO platform that ships Arduino core 3.x (which bundles TFLite Micro); the official
# `espressif32` platform stays on core 2.0.x (see ../shared/FIELD-NOTES.md).
PIOARDUINO = "https://github.com/pioarduino/platform-espressif32/releases/download/stable/platform-espressif32.zip"

BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board(
            name="esp32",
            title="ESP32 Dev Module (ESP32-WROOM-32, 4 MB flash, no PSRAM)",
            mcu="esp32",
            flash_bytes=1_310_720,
            ram_bytes=327_680,
            arena_limit_bytes=160 * KB - 40 * KB,  # static DRAM cap minus the core's own static data
            firmware_flash_bytes=480 * KB,
            firmware_ram_bytes=40 * KB + AUDIO_BUFFER_BYTES,
            fqbn="esp32:esp32:esp32",
            pio_board="esp32dev",
            pio_platform=PIOARDUINO,
            sources=(
                "arduino-esp32 boards.txt: esp32.upload.maximum_size=1310720, maximum_data_size=327680",
                "ESP-IDF API guide 'Memory Types': at most 160 KB of DRAM can be statically allocated on ESP32",
                "estimate: arduino-esp32 3.x blank sketch ~300 KB flash / ~20 KB RAM + TFLite Micro ~180 KB",
            ),
            notes="larger arenas need a board with PSRAM (heap_caps_malloc(MALLOC_CAP_SPIRAM)), at a speed cost",
        ),
        Board(
            name="esp32s3",
            title="ESP32-S3 Dev Module (ESP32-S3, default 4 MB partition scheme, no PSRAM)",
            mcu="esp32s3",
            flash_bytes=1_310_720,
            ram_bytes=327_680,
            arena_limit_bytes=327_680,
            firmware_flash_bytes=480 * KB,
            firmware_ram_bytes=40 * KB + AUDIO_BUFFER_BYTES,
            fqbn="esp32:esp32:esp32s3",
            pio_board="esp32-s3-devkitc-1",
            pio_platform=PIOARDUINO,
            sources=(
                "arduino-esp32 boards.txt: esp32s3.upload.maximum_size=1310720, maximum_data_size=327680",
                "estimate: arduino-esp32 3.x blank sketch ~300 KB flash / ~20 KB RAM + TFLite Micro ~180 KB",
            ),
            notes="ESP-NN accelerates int8 conv on the S3 (Espressif: person detection 2300 ms -> 54 ms)",
        ),
        Board(
            name="nano33ble",
            title="Arduino Nano 33 BLE / BLE Sense (nRF52840, Cortex-M4F 64 MHz)",
            mcu="nrf52840",
            flash_bytes=983_040,
            ram_bytes=262_144,
            arena_limit_bytes=262_144,
            firmware_flash_bytes=240 * KB,
            firmware_ram_bytes=64 * KB + AUDIO_BUFFER_BYTES,
            fqbn="arduino:mbed_nano:nano33ble",
            pio_board="nano33ble",
            pio_platform="nordicnrf52",
            sources=(
                "ArduinoCore-mbed boards.txt: nano33ble.upload.maximum_size=983040, maximum_data_size=262144",
                "estimate: Mbed OS core blank sketch ~80 KB flash / ~45 KB RAM + TFLite Micro (CMSIS-NN) ~150 KB",
            ),
            notes="TFLite Micro comes from the Arduino_TensorFlowLite / Chirale_TensorFlowLite library here",
        ),
    )
}


def get_board(name: str) -> Board:
    """The board called `name`, or a one-line error listing the known ones."""
    try:
        return BOARDS[name]
    except KeyError:
        raise TinykdError(f"unknown board {name!r}; known boards: {', '.join(BOARDS)}") from None


@dataclass(frozen=True)
class Fit:
    """Whether a model fits a board, with the figures behind the answer."""

    board: str
    fits: bool
    flash_needed: int  # model + firmware
    flash_available: int
    ram_needed: int  # arena + firmware
    ram_available: int
    arena_bytes: int
    arena_limit: int
    problems: tuple[str, ...]

    def summary(self) -> str:
        state = "fits" if self.fits else "does NOT fit"
        return (
            f"{self.board}: {state} (flash {self.flash_needed}/{self.flash_available} B, "
            f"RAM {self.ram_needed}/{self.ram_available} B, arena {self.arena_bytes}/{self.arena_limit} B max)"
        )


def check_fit(board: Board | str, model_bytes: int, arena_bytes: int) -> Fit:
    """Check model flatbuffer + arena + the board's stated firmware overhead against its limits."""
    if isinstance(board, str):
        board = get_board(board)
    if model_bytes < 0 or arena_bytes < 0:
        raise TinykdError(f"model_bytes and arena_bytes must be >= 0, got {model_bytes} and {arena_bytes}")
    flash_needed = model_bytes + board.firmware_flash_bytes
    ram_needed = arena_bytes + board.firmware_ram_bytes
    problems = []
    if flash_needed > board.flash_bytes:
        problems.append(
            f"flash: model {model_bytes} B + firmware ~{board.firmware_flash_bytes} B > {board.flash_bytes} B"
        )
    if ram_needed > board.ram_bytes:
        problems.append(f"RAM: arena {arena_bytes} B + firmware ~{board.firmware_ram_bytes} B > {board.ram_bytes} B")
    if arena_bytes > board.arena_limit_bytes:
        problems.append(f"arena {arena_bytes} B > largest allocatable block {board.arena_limit_bytes} B")
    return Fit(
        board=board.name,
        fits=not problems,
        flash_needed=flash_needed,
        flash_available=board.flash_bytes,
        ram_needed=ram_needed,
        ram_available=board.ram_bytes,
        arena_bytes=arena_bytes,
        arena_limit=board.arena_limit_bytes,
        problems=tuple(problems),
    )


def fitting_boards(model_bytes: int, arena_bytes: int) -> list[str]:
    """Names of the boards the model fits, in table order."""
    return [name for name in BOARDS if check_fit(name, model_bytes, arena_bytes).fits]
