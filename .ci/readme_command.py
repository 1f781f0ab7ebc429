"""Print one of README's two commands exactly as a user copies it.

Usage: python .ci/readme_command.py {bench|test}

The commands are the first two fenced code blocks under README's "Two commands" heading (the
benchmark, then the tests), each joined into one line as a shell runs it; this is the rule
``shared/tools/fresh-machine-check`` uses, so ``.ci/run`` runs what README says, verbatim, and
the two cannot drift apart (``tests/test_packaging.py`` checks the section's shape).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

WHICH = {"bench": 0, "test": 1}
README = Path(__file__).resolve().parent.parent / "README.md"


def readme_commands(text: str) -> list[str]:
    """The fenced blocks under the "Two commands" heading, each as one command line."""
    section = re.search(r"^##+ [^\n]*[Tt]wo commands[^\n]*\n(.*?)(?=^## )", text, re.S | re.M)
    if section is None:
        raise SystemExit("README.md has no 'Two commands' section")
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", section.group(1), re.S)
    if len(blocks) < 2:
        raise SystemExit("README's 'Two commands' section has fewer than two code blocks")
    return [
        " ".join(line.strip().rstrip("\\") for line in block.strip().splitlines())
        for block in blocks[:2]
    ]


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in WHICH:
        print(f"usage: python {Path(__file__).name} {{{'|'.join(WHICH)}}}", file=sys.stderr)
        return 2
    print(readme_commands(README.read_text(encoding="utf-8"))[WHICH[argv[0]]])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
