"""Print one of the README's two Quickstart commands: `install` (first line) or `test` (second)."""

import re
import sys
from pathlib import Path


def quickstart(readme: Path) -> list[str]:
    match = re.search(r"^## Quickstart\n+```[a-z]*\n(.*?)\n```", readme.read_text(encoding="utf-8"),
                      re.MULTILINE | re.DOTALL)
    if match is None:
        raise SystemExit("README.md has no fenced code block under '## Quickstart'")
    lines = [line for line in match.group(1).splitlines() if line.strip()]
    if len(lines) != 2:
        raise SystemExit(f"the Quickstart block must hold two commands, not {len(lines)}")
    return lines


if __name__ == "__main__":
    install, test = quickstart(Path(__file__).resolve().parents[1] / "README.md")
    print({"install": install, "test": test}[sys.argv[1]])
