"""The package's layering, checked on every import statement (module level or inside functions): a module
imports only from its own layer or the layers below it (docs/architecture.md, "Layers")."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tinykd"

# Lowest first. A module may import from its own layer and the ones before it, never from a later one.
LAYERS = [
    ("tinykd", "tinykd.errors", "tinykd.configio"),
    ("tinykd.frontend", "tinykd.boards", "tinykd.tflite"),
    ("tinykd.data",),
    ("tinykd.artifacts",),
    ("tinykd.emit",),
    ("tinykd.teacher",),
    ("tinykd.students",),
    ("tinykd.distill",),
    ("tinykd.quantize",),
    ("tinykd.device",),
    ("tinykd.demo", "tinykd.cli"),
]


def layer_of(module: str) -> int:
    best, rank = "", None
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > len(best):
                best, rank = name, i
    assert rank is not None, f"{module} is in no layer; add it to LAYERS and docs/architecture.md"
    return rank


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("tinykd")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("tinykd"):
            if node.module == "tinykd":  # `from tinykd import x`: x may be a subpackage
                found += [(node.lineno, f"tinykd.{a.name}") if a.name not in ("__version__", "TinykdError")
                          else (node.lineno, "tinykd") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_every_import_runs_down_the_layers():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "_firmware" in path.parts or "_models" in path.parts:
            continue
        mine = module_name(path)
        for line, target in imports(path):
            if layer_of(target) > layer_of(mine):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({mine}) imports {target}")
    assert not bad, "imports that run back up the layers:\n" + "\n".join(bad)
