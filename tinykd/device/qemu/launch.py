"""`tinykd sim --board qemu-nano33ble`: the int8 model of a run (or an int8 folder) built into the real firmware
for an emulated board and started in QEMU, its UART on a pseudo-terminal, exactly like the virtual board."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from tinykd.artifacts import Int8Dir
from tinykd.emit.project import check_labels_fit_firmware, stream_hop
from tinykd.errors import TinykdError


def build_for(model: str | os.PathLike, board: str, *, tflm: str | os.PathLike | None = None,
              kernels: str = "cmsis-nn", mode: str = "stream", hop_ms: int = 500):
    """Cross-compile and link the firmware for `model`'s int8 folder (its C sources, emitted now when absent)."""
    from tinykd.device.qemu.build import TARGETS, build_firmware
    from tinykd.emit.write import export_c

    if board not in TARGETS:
        raise TinykdError(f"{board!r} is not an emulated board; emulated: {', '.join(TARGETS)} (`tinykd boards`)")
    if mode not in ("stream", "verify"):
        raise TinykdError(f"mode must be stream or verify, got {mode!r}")
    folder = Int8Dir.find(model)
    folder.flatbuffer()  # refused when it is not the model quantize.json describes
    report = folder.report()
    check_labels_fit_firmware(folder.labels(), str(folder.path))
    hop, every = stream_hop(report, hop_ms)
    options = dict(board=board, tflm=tflm, kernels=kernels, mode=mode,
                   hop_samples=None if report.get("kind") == "signal" else hop, body_every=every)
    if all((folder / name).is_file() for name in Int8Dir.C_FILES):
        return build_firmware(folder.path, **options)
    tmp = Path(tempfile.mkdtemp(prefix="tinykd-emit-"))
    try:
        export_c(folder.path, tmp)
        return build_firmware(tmp, **options)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
