"""The TensorFlow Lite Micro source tree a firmware build compiles against.

`tflm=None` means a pinned archive from the shared vendor folder (`<checkout>/../shared/vendor`, or
$TINYKD_VENDOR): the Cortex-M4F tree with CMSIS-NN kernels, or the reference-kernel tree beside it.
An archive is unpacked once into the cache (TINYKD_CACHE, else ~/.cache/tinykd) under a folder named by
the archive's hash, so every build (and every test) shares it. A directory (for example one made with
TFLM's `create_tflm_tree.py`) is used in place.

The boards' own TFLM libraries are vendored beside them and unpacked the same way (`vendored_library`):
esp-tflite-micro (what arduino-esp32 3.x bundles) with ESP-NN, and the Arduino mbed library
Chirale_TensorFlowLite. `resolve_esp_tree` gives esp-tflite-micro plus ESP-NN as one tree, for the host build
with ESP-NN's portable C kernels (tinykd.device.qemu.build.build_host_firmware(flavour="esp-nn")).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tinykd.device.native import cache_dir
from tinykd.errors import TinykdError

KERNEL_KINDS = ("cmsis-nn", "reference")
ARCHIVES = {
    "cmsis-nn": "tflm-90b983c2-cortex-m4f-cmsis-nn.tar.gz",
    "reference": "tflm-90b983c2-reference.tar.gz",
}
_MARKER = "tensorflow/lite/micro/micro_interpreter.h"
ESP_NN_KERNELS = "esp-nn"
# The boards' TFLM libraries and ESP-NN: name -> (archive in the vendor folder, a file its top folder must hold).
LIBRARY_ARCHIVES = {
    "esp-tflite-micro": ("esp-tflite-micro-1.4.0-99f49e14.tar.gz", _MARKER),
    "esp-nn": ("esp-nn-d45b843c.tar.gz", "include/esp_nn.h"),
    "chirale": ("Chirale_TensorFlowLite-2.0.0-46da2f98.tar.gz", "src/" + _MARKER),
}
_ESP_NN_MARKER = LIBRARY_ARCHIVES["esp-nn"][1]


@dataclass(frozen=True)
class TflmTree:
    """A TFLM tree on disk, which kernels it carries, and a digest that keys every object built from it."""

    root: Path
    kernels: str  # "cmsis-nn", "reference" or "esp-nn"
    digest: str  # sha256 of the archive, or of the directory's files (16 hex characters)
    origin: str  # the archive or directory it came from
    esp_nn: Path | None = None  # kernels "esp-nn": the ESP-NN library (include/, src/) the kernels call

    @property
    def has_signal(self) -> bool:
        return (self.root / "signal" / "micro" / "kernels").is_dir()


def vendor_dir() -> Path | None:
    """$TINYKD_VENDOR, else `shared/vendor` beside the checkout; None when neither exists."""
    env = os.environ.get("TINYKD_VENDOR")
    if env:
        return Path(env) if Path(env).is_dir() else None
    cand = Path(__file__).resolve().parents[3].parent / "shared" / "vendor"
    return cand if cand.is_dir() else None


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _dir_digest(root: Path) -> str:
    """Every file's relative path and content: a tree edited in place gets new objects."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _kernels_of(root: Path) -> str:
    return "cmsis-nn" if (root / "tensorflow" / "lite" / "micro" / "kernels" / "cmsis_nn").is_dir() else "reference"


def _unpack(archive: Path, digest: str, marker: str = _MARKER) -> Path:
    """The archive's single top folder, unpacked once under the cache (atomic rename: no half trees)."""
    dest = cache_dir() / "tflm" / digest
    if dest.is_dir():
        tops = [p for p in dest.iterdir() if p.is_dir()]
        if len(tops) == 1 and (tops[0] / marker).is_file():
            return tops[0]
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{digest}.", dir=dest.parent))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")  # no absolute paths, no links out of the folder
        tops = [p for p in tmp.iterdir() if p.is_dir()]
        if len(tops) != 1 or not (tops[0] / marker).is_file():
            what = "a TFLM tree archive" if marker == _MARKER else "the archive expected"
            raise TinykdError(f"{archive}: not {what} (no single folder with {marker})")
        try:
            os.replace(tmp, dest)
        except OSError:  # another process unpacked it first
            shutil.rmtree(tmp, ignore_errors=True)
        tops = [p for p in dest.iterdir() if p.is_dir()]
        return tops[0]
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def resolve_tree(tflm: str | os.PathLike | None = None, kernels: str = "cmsis-nn") -> TflmTree:
    """The tree to build with: a vendored archive (tflm=None), an archive path, or a directory."""
    if kernels not in KERNEL_KINDS:
        raise TinykdError(f"kernels must be one of {', '.join(KERNEL_KINDS)}, got {kernels!r}")
    if tflm is None:
        vendor = vendor_dir()
        if vendor is None:
            raise TinykdError("no TFLM tree: the pinned archives live in ../shared/vendor beside the checkout "
                              "(or set TINYKD_VENDOR to that folder), or pass a TFLM tree folder")
        archive = vendor / ARCHIVES[kernels]
        if not archive.is_file():
            raise TinykdError(f"{archive}: missing from the vendor folder; restore it or pass a TFLM tree folder")
        digest = _file_digest(archive)
        return TflmTree(_unpack(archive, digest), kernels, digest, str(archive))
    path = Path(tflm)
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar")):
        digest = _file_digest(path)
        root = _unpack(path, digest)
    elif path.is_dir():
        if not (path / _MARKER).is_file():
            raise TinykdError(f"{path}: not a TFLM tree (no {_MARKER}); make one with TFLM's create_tflm_tree.py")
        root, digest = path, _dir_digest(path)
    else:
        raise TinykdError(f"{path}: no such TFLM tree folder or archive")
    found = _kernels_of(root)
    if kernels != found:
        has = "CMSIS-NN kernels (tensorflow/lite/micro/kernels/cmsis_nn)" if found == "cmsis-nn" else "reference kernels only"
        raise TinykdError(f"{path}: this tree has {has}; pass kernels={found!r} or a tree built for {kernels}")
    return TflmTree(root, kernels, digest, str(path))


def vendored_library(name: str) -> tuple[Path, str]:
    """(unpacked top folder, digest) of a board library archive of the vendor folder (LIBRARY_ARCHIVES)."""
    if name not in LIBRARY_ARCHIVES:
        raise TinykdError(f"unknown vendored library {name!r}; known: {', '.join(LIBRARY_ARCHIVES)}")
    file, marker = LIBRARY_ARCHIVES[name]
    vendor = vendor_dir()
    if vendor is None:
        raise TinykdError(f"no {file}: the pinned archives live in ../shared/vendor beside the checkout "
                          "(or set TINYKD_VENDOR to that folder)")
    archive = vendor / file
    if not archive.is_file():
        raise TinykdError(f"{archive}: missing from the vendor folder; restore it")
    digest = _file_digest(archive)
    return _unpack(archive, digest, marker), digest


def resolve_esp_tree(tflm: str | os.PathLike | None = None, esp_nn: str | os.PathLike | None = None) -> TflmTree:
    """esp-tflite-micro (with its ESP-NN kernel glue, tensorflow/lite/micro/kernels/esp_nn) and the ESP-NN
    library as one tree with kernels "esp-nn": the vendored archives by default, or folders (an
    esp-tflite-micro checkout, an esp-nn checkout)."""
    if tflm is None:
        root, tree_digest = vendored_library("esp-tflite-micro")
        origin = str(vendor_dir() / LIBRARY_ARCHIVES["esp-tflite-micro"][0])
    else:
        root, origin = Path(tflm), str(tflm)
        if not (root / _MARKER).is_file():
            raise TinykdError(f"{root}: not a TFLM tree (no {_MARKER}); pass an esp-tflite-micro folder")
        tree_digest = _dir_digest(root)
    if not (root / "tensorflow" / "lite" / "micro" / "kernels" / "esp_nn").is_dir():
        raise TinykdError(f"{origin}: no ESP-NN kernels (tensorflow/lite/micro/kernels/esp_nn); pass an "
                          "esp-tflite-micro tree")
    if esp_nn is None:
        nn_root, nn_digest = vendored_library("esp-nn")
    else:
        nn_root = Path(esp_nn)
        if not (nn_root / _ESP_NN_MARKER).is_file():
            raise TinykdError(f"{nn_root}: not an ESP-NN folder (no {_ESP_NN_MARKER})")
        nn_digest = _dir_digest(nn_root)
    digest = hashlib.sha256(f"{tree_digest}+{nn_digest}".encode()).hexdigest()[:16]
    return TflmTree(root, ESP_NN_KERNELS, digest, origin, esp_nn=nn_root)
