"""The one table of boards tinykd targets, and the check that a model fits one.

Read by `tinykd quantize` (warns, and names what would fit), `tinykd boards` (lists) and `tinykd flash`
(refuses). Numbers are bytes.

Where the figures come from:
- `flash_bytes`, `ram_bytes`: the board package's own limits, `upload.maximum_size` and
  `upload.maximum_data_size` in its `boards.txt` (what arduino-cli checks a sketch against). For the ESP32
  boards that is the app partition of the default partition scheme (1.25 MB), not the whole flash chip.
- `arena_limit_bytes`: the largest single block the firmware can give the tensor arena. On the classic ESP32
  the linker caps statically allocated DRAM at 160 KB (ESP-IDF "Memory Types" guide: the rest of the 320 KB
  DRAM is heap only, in smaller regions), so a bigger arena needs PSRAM. On a PSRAM board the firmware puts
  the arena there (`TINYKD_ARENA_PLACEMENT`, `heap_caps_malloc(..., MALLOC_CAP_SPIRAM)`) and internal RAM
  keeps everything else.
- `firmware_flash_bytes`, `firmware_ram_bytes`: what the firmware needs besides the model's flatbuffers, the
  arena and the model-sized buffers of the application (the verify upload, the audio ring, the feature ring:
  tinykd.emit.project.firmware_buffer_bytes, computed per model, counted by `check_fit`). The emulated board's
  are MEASURED from its linked ELF (tinykd.device.qemu, wav2tiny with CMSIS-NN kernels: 128 041 B of flash
  besides the model, 21 020 B of RAM besides the arena and the app buffers, stack and newlib heap included).
  The real boards' are ESTIMATES: that measured TFLM + tinykd part plus the Arduino core's published
  blank-sketch size, rounded up; no real board build was run on these machines.
- `clock_hz` and `cycles_per_mac`: to estimate a model's time. The ESP32 figures are Espressif's published
  person-detection invoke times with ESP-NN (esp-tflite-micro README: ESP32 380 ms, ESP32-S3 54 ms at 240 MHz)
  over that model's 7 157 888 MACs (tensorflow/lite/micro/models/person_detect.tflite, counted by
  tinykd.tflite.graph): 12.7 and 1.8 cycles per MAC. ESTIMATES: our layers are not person detection's. The
  Cortex-M4F figure is measured (instructions per inference on the emulated board, bench_emulated_board.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinykd.errors import TinykdError

KB = 1024
# The serial rate every tinykd firmware and host tool uses (tinykd_config.h TINYKD_BAUD); host and firmware
# both read it from here.
DEFAULT_BAUD = 921_600
PLACEMENTS = ("static", "internal", "psram")
# The TFLM + tinykd part of the firmware, measured on the emulated Cortex-M4F (see the module docstring).
MEASURED_TFLM_FLASH = 128_041
MEASURED_TFLM_RAM = 21_020  # stack (16 KB) and newlib heap (4 KB) included
PERSON_DETECT_MACS = 7_157_888  # tensorflow/lite/micro/models/person_detect.tflite
ESP32_CLOCK = 240_000_000


def _cycles(invoke_ms: float, clock_hz: int) -> float:
    """Cycles per MAC from Espressif's person-detection invoke time."""
    return invoke_ms / 1000.0 * clock_hz / PERSON_DETECT_MACS


@dataclass(frozen=True)
class Board:
    name: str  # the id users type: `--board esp32`
    title: str  # human name
    mcu: str
    flash_bytes: int  # room for the sketch (app partition / upload.maximum_size)
    ram_bytes: int  # internal RAM for the sketch's data (upload.maximum_data_size)
    arena_limit_bytes: int  # largest single arena the firmware can allocate (in PSRAM on a PSRAM board)
    firmware_flash_bytes: int  # the firmware without the model
    firmware_ram_bytes: int  # the firmware's RAM without the arena and the model-sized app buffers
    fqbn: str = ""  # arduino-cli fully qualified board name (with the PSRAM option where needed)
    pio_board: str = ""  # PlatformIO `board =`
    pio_platform: str = ""  # PlatformIO `platform =`
    pio_build_flags: tuple[str, ...] = ()  # extra PlatformIO build flags (PSRAM)
    psram_bytes: int = 0
    arena_placement: str = "static"  # static | internal | psram: TINYKD_ARENA_PLACEMENT in the firmware
    clock_hz: int = 0
    cycles_per_mac: float = 0.0  # int8 kernels of the board's TFLM build; 0: unknown
    # The TFLM libraries the board's toolchain builds with, oldest first (names of tinykd.tflite.ops
    # TFLM_TARGET_ADD_METHODS): a model whose ops the newest lacks cannot build there; one the oldest lacks
    # needs a recent enough core.
    tflm_libraries: tuple[str, ...] = ("tflm",)
    emulated: bool = False  # runs in QEMU (tinykd.device.qemu), never on hardware
    measured: bool = False  # the firmware figures come from a linked build of this board
    sources: tuple[str, ...] = field(default=())
    notes: str = ""

    def __post_init__(self) -> None:
        if self.arena_placement not in PLACEMENTS:
            raise TinykdError(f"board {self.name}: arena_placement must be one of {', '.join(PLACEMENTS)}")

    @property
    def model_flash_budget(self) -> int:
        """Bytes of flash left for the model after the firmware."""
        return self.flash_bytes - self.firmware_flash_bytes

    @property
    def arena_budget(self) -> int:
        """Bytes the arena may take (before the model's app buffers): in PSRAM, or RAM left after the firmware,
        capped by the largest allocatable block."""
        if self.arena_placement == "psram":
            return self.arena_limit_bytes
        return min(self.ram_bytes - self.firmware_ram_bytes, self.arena_limit_bytes)

    def estimate_ms(self, macs: int) -> float | None:
        """Milliseconds for `macs` multiply-accumulates at the board's stated cycles per MAC (None: unknown)."""
        if not (self.cycles_per_mac and self.clock_hz):
            return None
        return macs * self.cycles_per_mac / self.clock_hz * 1000.0


# The PlatformIO platform that ships Arduino core 3.x (which bundles TFLite Micro); the official
# `espressif32` platform stays on core 2.0.x (see ../shared/FIELD-NOTES.md).
PIOARDUINO = "https://github.com/pioarduino/platform-espressif32/releases/download/stable/platform-espressif32.zip"
ESP32_CORE = "estimate: arduino-esp32 3.x blank sketch ~300 KB flash / ~20 KB RAM + the measured TFLM/tinykd part"
ESP_NN = ("esp-tflite-micro README, person detection with ESP-NN: ESP32 380 ms, ESP32-S3 54 ms at 240 MHz; "
          "7 157 888 MACs in person_detect.tflite")
# arduino-esp32 core 3.x bundles esp-tflite-micro 1.2.0 to 1.4.0 depending on the core release.
ESP32_TFLM = ("esp-tflite-micro-1.2.0", "esp-tflite-micro-1.4.0")
ESP32_FLASH = 300 * KB + MEASURED_TFLM_FLASH
ESP32_RAM = 20 * KB + MEASURED_TFLM_RAM + 1536  # + the sketch's microphone buffers (g_mic, g_i2s_raw)

BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board(
            name="esp32", title="ESP32 Dev Module (ESP32-WROOM-32, 4 MB flash, no PSRAM)", mcu="esp32",
            flash_bytes=1_310_720, ram_bytes=327_680,
            arena_limit_bytes=160 * KB - 40 * KB,  # static DRAM cap minus the core's own static data
            firmware_flash_bytes=ESP32_FLASH, firmware_ram_bytes=ESP32_RAM,
            fqbn="esp32:esp32:esp32", pio_board="esp32dev", pio_platform=PIOARDUINO,
            clock_hz=ESP32_CLOCK, cycles_per_mac=_cycles(380, ESP32_CLOCK), tflm_libraries=ESP32_TFLM,
            sources=("arduino-esp32 boards.txt: esp32.upload.maximum_size=1310720, maximum_data_size=327680",
                     "ESP-IDF API guide 'Memory Types': at most 160 KB of DRAM can be statically allocated on ESP32",
                     ESP32_CORE, ESP_NN),
            notes="larger arenas: esp32-wrover (PSRAM)",
        ),
        Board(
            name="esp32-wrover", title="ESP32 Wrover Module (ESP32-WROVER, 4 MB flash, 4 MB PSRAM)", mcu="esp32",
            flash_bytes=1_310_720, ram_bytes=327_680, arena_limit_bytes=4 * 1024 * KB - 64 * KB,
            firmware_flash_bytes=ESP32_FLASH, firmware_ram_bytes=ESP32_RAM,
            fqbn="esp32:esp32:esp32wrover", pio_board="esp-wrover-kit", pio_platform=PIOARDUINO,
            pio_build_flags=("-DBOARD_HAS_PSRAM", "-mfix-esp32-psram-cache-issue"),
            psram_bytes=4 * 1024 * KB, arena_placement="psram",
            clock_hz=ESP32_CLOCK, cycles_per_mac=_cycles(380, ESP32_CLOCK), tflm_libraries=ESP32_TFLM,
            sources=("arduino-esp32 boards.txt: esp32wrover (PSRAM enabled)", ESP32_CORE, ESP_NN),
            notes="the arena lives in PSRAM (heap_caps_malloc MALLOC_CAP_SPIRAM): slower than internal RAM",
        ),
        Board(
            name="esp32s3", title="ESP32-S3 Dev Module (ESP32-S3, default 4 MB partition scheme, no PSRAM)",
            mcu="esp32s3", flash_bytes=1_310_720, ram_bytes=327_680, arena_limit_bytes=327_680,
            firmware_flash_bytes=ESP32_FLASH, firmware_ram_bytes=ESP32_RAM,
            fqbn="esp32:esp32:esp32s3", pio_board="esp32-s3-devkitc-1", pio_platform=PIOARDUINO,
            arena_placement="internal", clock_hz=ESP32_CLOCK, cycles_per_mac=_cycles(54, ESP32_CLOCK),
            tflm_libraries=ESP32_TFLM,
            sources=("arduino-esp32 boards.txt: esp32s3.upload.maximum_size=1310720, maximum_data_size=327680",
                     ESP32_CORE, ESP_NN),
            notes="ESP-NN accelerates int8 conv on the S3 (Espressif: person detection 2300 ms -> 54 ms)",
        ),
        Board(
            name="esp32s3-psram", title="ESP32-S3 with 8 MB octal PSRAM (e.g. ESP32-S3-DevKitC-1 N8R8)",
            mcu="esp32s3", flash_bytes=1_310_720, ram_bytes=327_680, arena_limit_bytes=8 * 1024 * KB - 64 * KB,
            firmware_flash_bytes=ESP32_FLASH, firmware_ram_bytes=ESP32_RAM,
            fqbn="esp32:esp32:esp32s3:PSRAM=opi", pio_board="esp32-s3-devkitc-1", pio_platform=PIOARDUINO,
            pio_build_flags=("-DBOARD_HAS_PSRAM",), psram_bytes=8 * 1024 * KB, arena_placement="psram",
            clock_hz=ESP32_CLOCK, cycles_per_mac=_cycles(54, ESP32_CLOCK), tflm_libraries=ESP32_TFLM,
            sources=("arduino-esp32 boards.txt: esp32s3 PSRAM=opi", ESP32_CORE, ESP_NN),
            notes="the arena lives in PSRAM (heap_caps_malloc MALLOC_CAP_SPIRAM)",
        ),
        Board(
            name="nano33ble", title="Arduino Nano 33 BLE / BLE Sense (nRF52840, Cortex-M4F 64 MHz)", mcu="nrf52840",
            flash_bytes=983_040, ram_bytes=262_144, arena_limit_bytes=262_144,
            firmware_flash_bytes=80 * KB + MEASURED_TFLM_FLASH, firmware_ram_bytes=45 * KB + MEASURED_TFLM_RAM,
            fqbn="arduino:mbed_nano:nano33ble", pio_board="nano33ble", pio_platform="nordicnrf52",
            clock_hz=64_000_000, tflm_libraries=("chirale-2.0.0",),
            sources=("ArduinoCore-mbed boards.txt: nano33ble.upload.maximum_size=983040, maximum_data_size=262144",
                     "estimate: Mbed OS core blank sketch ~80 KB flash / ~45 KB RAM + the measured TFLM/tinykd part"),
            notes="TFLite Micro comes from the Chirale_TensorFlowLite library, which has no Signal ops: the deployable "
                  "(signal) students do not build there; waveform models do (qemu-nano33ble runs signal models "
                  "with upstream TFLM)",
        ),
        Board(
            name="qemu-nano33ble",
            title="EMULATED: the Nano 33 BLE's budget (1 MB flash, 256 KB RAM, Cortex-M4F 64 MHz) on QEMU mps2-an386",
            mcu="cortex-m4f", flash_bytes=1024 * KB, ram_bytes=256 * KB, arena_limit_bytes=256 * KB,
            firmware_flash_bytes=MEASURED_TFLM_FLASH, firmware_ram_bytes=MEASURED_TFLM_RAM, clock_hz=64_000_000,
            emulated=True, measured=True,
            sources=("measured: the linked ELF of the emulated firmware (tinykd.device.qemu, bench_emulated_board.py)",),
            notes="`tinykd sim --board qemu-nano33ble`: the real firmware cross-compiled with TFLM + CMSIS-NN, in QEMU",
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
    ram_needed: int  # internal RAM: firmware + app buffers (+ the arena unless it lives in PSRAM)
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


def check_fit(board: Board | str, model_bytes: int, arena_bytes: int, buffer_bytes: int = 0) -> Fit:
    """Check the model's flatbuffers, its arena and its app buffers (tinykd.emit.project.firmware_buffer_bytes)
    plus the board's firmware against its limits."""
    if isinstance(board, str):
        board = get_board(board)
    if model_bytes < 0 or arena_bytes < 0 or buffer_bytes < 0:
        raise TinykdError(f"model, arena and buffer bytes must be >= 0, got {model_bytes}, {arena_bytes}, {buffer_bytes}")
    flash_needed = model_bytes + board.firmware_flash_bytes
    in_psram = board.arena_placement == "psram"
    ram_needed = board.firmware_ram_bytes + buffer_bytes + (0 if in_psram else arena_bytes)
    problems = []
    if flash_needed > board.flash_bytes:
        problems.append(f"flash: model {model_bytes} B + firmware ~{board.firmware_flash_bytes} B > {board.flash_bytes} B")
    if ram_needed > board.ram_bytes:
        parts = f"buffers {buffer_bytes} B + firmware ~{board.firmware_ram_bytes} B"
        problems.append(f"RAM: {'' if in_psram else f'arena {arena_bytes} B + '}{parts} > {board.ram_bytes} B")
    if arena_bytes > board.arena_limit_bytes:
        where = "PSRAM" if in_psram else "largest allocatable block"
        problems.append(f"arena {arena_bytes} B > {where} {board.arena_limit_bytes} B")
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


def fitting_boards(model_bytes: int, arena_bytes: int, buffer_bytes: int = 0) -> list[str]:
    """Names of the boards the model fits, in table order."""
    return [name for name in BOARDS if check_fit(name, model_bytes, arena_bytes, buffer_bytes).fits]
