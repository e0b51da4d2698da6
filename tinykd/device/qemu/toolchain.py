"""Finding the compilers, binutils and QEMU the emulated board needs, with one-line errors that name the fix.

Nothing is downloaded: the Arm toolchain and QEMU come from the system's packages (Debian:
`apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm`).
`TINYKD_ARM_PREFIX` (e.g. `/opt/arm/bin/arm-none-eabi-`) and `TINYKD_QEMU` point at other installs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from tinykd.errors import TinykdError

APT_INSTALL = ("apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib "
               "qemu-system-arm")


class ToolchainMissing(TinykdError):
    """A compiler, binutil or emulator the emulated board needs is not installed."""


@dataclass(frozen=True)
class Toolchain:
    """One compiler family: C and C++ compilers, ar, and the binutils that measure an ELF."""

    name: str  # "arm-none-eabi" or "host"
    cc: str
    cxx: str
    ar: str
    nm: str | None = None
    size: str | None = None
    readelf: str | None = None
    version: str = ""  # first line of `cxx --version`: part of every cache key


def _version(exe: str) -> str:
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolchainMissing(f"{exe} does not run ({exc}); reinstall it: {APT_INSTALL}") from None
    return (out.splitlines() or [""])[0].strip()


@lru_cache(maxsize=None)
def arm_toolchain() -> Toolchain:
    """arm-none-eabi-gcc/g++ with newlib and libstdc++ (found on PATH or via TINYKD_ARM_PREFIX)."""
    prefix = os.environ.get("TINYKD_ARM_PREFIX", "arm-none-eabi-")
    tools = {}
    for tool in ("gcc", "g++", "ar", "nm", "size", "readelf"):
        path = shutil.which(prefix + tool)
        if path is None:
            raise ToolchainMissing(f"{prefix}{tool} not found: the emulated board needs the Arm GNU toolchain; "
                                   f"install it (Debian/Ubuntu: {APT_INSTALL}) or set TINYKD_ARM_PREFIX")
        tools[tool] = path
    # newlib and libstdc++ are separate packages: a compiler without them fails at the first #include.
    probe = subprocess.run([tools["g++"], "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
                            "-print-file-name=libstdc++.a"], capture_output=True, text=True, timeout=30)
    libc = subprocess.run([tools["gcc"], "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
                           "-print-file-name=libc_nano.a"], capture_output=True, text=True, timeout=30)
    if not os.path.isabs(probe.stdout.strip()) or not os.path.isabs(libc.stdout.strip()):
        raise ToolchainMissing(f"{tools['g++']} has no newlib/libstdc++ for Cortex-M4F; install them "
                               f"(Debian/Ubuntu: {APT_INSTALL})")
    return Toolchain("arm-none-eabi", tools["gcc"], tools["g++"], tools["ar"], tools["nm"], tools["size"],
                     tools["readelf"], _version(tools["g++"]))


@lru_cache(maxsize=None)
def host_toolchain() -> Toolchain:
    """The host's C/C++ compiler (CC/CXX, else gcc/g++), for the host build of the TFLM glue."""
    cxx = next((shutil.which(c) for c in (os.environ.get("CXX"), "g++", "c++", "clang++") if c and shutil.which(c)), None)
    cc = next((shutil.which(c) for c in (os.environ.get("CC"), "gcc", "cc", "clang") if c and shutil.which(c)), None)
    ar = shutil.which("ar")
    if cxx is None or cc is None or ar is None:
        raise ToolchainMissing("no host C/C++ compiler (gcc/g++ and ar) found: install one (Debian/Ubuntu: "
                               "apt-get install -y g++) or set CC/CXX")
    return Toolchain("host", cc, cxx, ar, version=_version(cxx))


@lru_cache(maxsize=None)
def qemu_system_arm() -> str:
    """The qemu-system-arm executable (TINYKD_QEMU, else on PATH)."""
    exe = os.environ.get("TINYKD_QEMU") or shutil.which("qemu-system-arm")
    if exe is None or not os.path.isfile(exe):
        raise ToolchainMissing(f"qemu-system-arm not found: the emulated board runs in QEMU; install it "
                               f"(Debian/Ubuntu: {APT_INSTALL}) or set TINYKD_QEMU")
    return exe
