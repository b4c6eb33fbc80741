"""The packages import downwards only, as the README's package layout says (lazy imports too)."""

from __future__ import annotations

import ast
from pathlib import Path

import synthkit

PACKAGE = Path(synthkit.__file__).parent
# a package may import those of a lower rank and the shared modules, never its own rank or above
RANK = {"traces": 0, "rubrics": 1, "collect": 2, "judging": 2, "filtering": 2, "inspection": 3, "cli": 4}
SHARED = {"errors", "checks", "providers", "resources"}


def imported(path: Path) -> set[str]:
    """The synthkit packages and modules one file imports, at its top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "synthkit":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("synthkit."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("synthkit."))
    return found


def test_every_package_imports_only_lower_ones_and_the_shared_modules():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        own = parts[0] if len(parts) > 1 else path.stem
        if own == "__init__":
            continue  # the public facade names everything
        allowed = SHARED | {"errors"} if own in SHARED else SHARED | {
            p for p, rank in RANK.items() if rank < RANK[own]} | {own} | ({"__version__"} if own == "cli" else set())
        wrong += [f"{path.relative_to(PACKAGE)} imports {name}" for name in sorted(imported(path) - allowed)]
    assert not wrong


def test_every_package_has_a_rank():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(RANK)
