"""The tinykd firmware on an emulated Cortex-M4F (QEMU mps2-an386) with the real TFLM.

    from tinykd.device.qemu import build_firmware, EmulatedBoard

    build = build_firmware("RUN/int8", board="qemu-nano33ble")   # model_data.h/.cc + model_ops.h
    print(build.sizes.flash_by_part, build.sizes.ram_by_part)
    with EmulatedBoard(build) as board:
        ...  # board.port speaks the tinykd protocol (tinykd verify / monitor / stream_audio)

Modules: toolchain (compilers, QEMU), tree (the TFLM source tree), kernels (op list -> sources), objects
(compile cache), build (firmware and host builds), elf (sizes), run (QEMU), stream (AUDIO-frame
streaming), reference (host answers).
"""

from tinykd.device.qemu.build import (TARGETS, EmulatedTarget, FirmwareBuild, FirmwareTooLarge, build_firmware,
                                      build_host_firmware)
from tinykd.device.qemu.run import BoardDied, EmulatedBoard
from tinykd.device.qemu.stream import StreamRun, stream_audio
from tinykd.device.qemu.toolchain import ToolchainMissing

__all__ = [
    "TARGETS",
    "BoardDied",
    "EmulatedBoard",
    "EmulatedTarget",
    "FirmwareBuild",
    "FirmwareTooLarge",
    "StreamRun",
    "ToolchainMissing",
    "build_firmware",
    "build_host_firmware",
    "stream_audio",
]
