"""Flash and RAM of a linked firmware, by section and by part, measured from the ELF and its link map.

Sections come from `size -A`; parts from the linker's map file, which names the object (or archive member)
every input section came from: model data, TFLM framework, TFLM kernels, Signal library, CMSIS-NN, tinykd
core and glue, the board's start-up and drivers, and libc/libm/libgcc/libstdc++. The big RAM items are
named by symbol (`nm`): the tensor arena and the application's buffers (upload, audio ring, features).
Flash is what is loaded (text, read-only data, the .data image); RAM is .data + .bss + the reserved heap
and stack.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tinykd.device.qemu.toolchain import Toolchain

FLASH_SECTIONS = (".isr_vector", ".text", ".ARM.extab", ".ARM.exidx", ".preinit_array", ".init_array", ".fini_array")
RAM_SECTIONS = (".bss", ".heap", ".stack")
LIBC = "libc/libm/libgcc/libstdc++"
BOARD = "board (start-up, drivers, main)"
FILL = "alignment padding"
# Symbols named in the RAM table (the rest of .bss/.data is attributed by object).
RAM_SYMBOLS = {"g_arena": "tensor arena", "g_app": "app buffers + board state"}


@dataclass
class FirmwareSizes:
    sections: dict[str, int]  # size -A: section -> bytes (debug and comment sections left out)
    flash_bytes: int
    ram_bytes: int
    flash_budget: int
    ram_budget: int
    flash_by_part: dict[str, int] = field(default_factory=dict)
    ram_by_part: dict[str, int] = field(default_factory=dict)
    largest: list[tuple[str, int]] = field(default_factory=list)  # the 12 largest symbols (nm)

    @property
    def flash_free(self) -> int:
        return self.flash_budget - self.flash_bytes

    @property
    def ram_free(self) -> int:
        return self.ram_budget - self.ram_bytes


def section_sizes(elf: Path, tc: Toolchain) -> dict[str, int]:
    out = subprocess.run([tc.size or "size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            if not parts[0].startswith((".debug", ".comment", ".ARM.attributes")):  # not loaded, not in RAM
                sizes[parts[0]] = int(parts[1])
    return sizes


def symbol_sizes(elf: Path, tc: Toolchain) -> dict[str, int]:
    out = subprocess.run([tc.nm or "nm", "-S", "-C", "--size-sort", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    sizes = {}
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ ([0-9a-f]+) \w (.+)$", line)
        if m:
            sizes[m.group(2)] = int(m.group(1), 16)
    return sizes


_INPUT_ONE_LINE = re.compile(r"^ (\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_INPUT_NAME = re.compile(r"^ (\S+)\s*$")
_INPUT_REST = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_OUTPUT = re.compile(r"^(\.\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)")
_FILL = re.compile(r"^ \*fill\*\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)")


def map_contributions(map_text: str) -> list[tuple[str, str, int]]:
    """(output section, input file, bytes) for every input section the link kept, fill included.

    Sizes come from addresses: an input section ends where the next one starts (or where its output
    section ends), so merged sections (strings shared between objects) are not counted twice."""
    start = map_text.find("Linker script and memory map")
    lines = map_text[start:].splitlines() if start >= 0 else []
    raw: list[tuple[str, int, int, str]] = []  # section, address, size, file
    bounds: dict[str, tuple[int, int]] = {}
    section = ""
    pending = False
    for line in lines:
        m = _OUTPUT.match(line)
        if m:
            section, pending = m.group(1), False
            bounds[section] = (int(m.group(2), 16), int(m.group(2), 16) + int(m.group(3), 16))
            continue
        if line.startswith("."):  # an output section whose numbers are on the next line
            section, pending = line.split()[0], False
            continue
        m = _FILL.match(line)
        if m:
            raw.append((section, int(m.group(1), 16), int(m.group(2), 16), "*fill*"))
            continue
        m = _INPUT_ONE_LINE.match(line)
        if m and not m.group(1).startswith("0x") and m.group(1) != "*fill*":
            raw.append((section, int(m.group(2), 16), int(m.group(3), 16), m.group(4).strip()))
            pending = False
            continue
        if _INPUT_NAME.match(line) and not line.strip().startswith(("*", "0x")):
            pending = True
            continue
        if pending:
            m = _INPUT_REST.match(line)
            if m:
                raw.append((section, int(m.group(1), 16), int(m.group(2), 16), m.group(3).strip()))
            pending = False
    out: list[tuple[str, str, int]] = []
    for sec in dict.fromkeys(s for s, *_ in raw):
        items = sorted((r for r in raw if r[0] == sec and r[2] > 0), key=lambda r: r[1])
        lo, hi = bounds.get(sec, (0, 1 << 62))
        for i, (_, addr, size, path) in enumerate(items):
            nxt = items[i + 1][1] if i + 1 < len(items) else hi
            size = max(0, min(size, nxt - addr, hi - addr))
            if size:
                out.append((sec, path, size))
    return out


def classify(path: str, parts: dict[str, str]) -> str:
    """The part an input file belongs to: by object name (the build's record), else by library."""
    if path == "*fill*":
        return FILL
    member = re.search(r"\(([^()]+)\)$", path)
    name = member.group(1) if member else Path(path).name
    if name in parts:
        return parts[name]
    lib = Path(path.split("(")[0]).name
    if lib.startswith(("libc", "libm", "libg", "libstdc++", "libsupc++", "libnosys")) or "crt" in lib:
        return LIBC
    return "other (linker)"


def measure_elf(elf: Path, map_file: Path, tc: Toolchain, flash_budget: int, ram_budget: int,
                parts: dict[str, str]) -> FirmwareSizes:
    sections = section_sizes(elf, tc)
    symbols = symbol_sizes(elf, tc)
    flash = sum(sections.get(s, 0) for s in (*FLASH_SECTIONS, ".data"))
    ram = sum(sections.get(s, 0) for s in (".data", *RAM_SECTIONS))
    flash_parts: dict[str, int] = {}
    ram_parts: dict[str, int] = {}
    for section, path, size in map_contributions(map_file.read_text(errors="replace")):
        part = classify(path, parts)
        if section in FLASH_SECTIONS or section == ".data":
            flash_parts[part] = flash_parts.get(part, 0) + size
        if section in (".data", ".bss"):
            ram_parts[part] = ram_parts.get(part, 0) + size
    # The big RAM users by name, taken out of the part that defines them (the board's main).
    for symbol, label in RAM_SYMBOLS.items():
        size = symbols.get(symbol, 0)
        if size and ram_parts.get(BOARD, 0) >= size:
            ram_parts[BOARD] -= size
            ram_parts[label] = size
    if sections.get(".heap"):
        ram_parts["heap (newlib, reserved)"] = sections[".heap"]
    if sections.get(".stack"):
        ram_parts["stack (reserved)"] = sections[".stack"]
    ram_parts = {k: v for k, v in ram_parts.items() if v > 0}
    flash_parts = {k: v for k, v in flash_parts.items() if v > 0}
    largest = sorted(symbols.items(), key=lambda kv: -kv[1])[:12]
    return FirmwareSizes(sections, flash, ram, flash_budget, ram_budget, flash_parts, ram_parts, largest)
