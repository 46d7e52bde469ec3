#!/usr/bin/env python3
"""Keep reserved_package_names (includes/names.yml) sorted, wrapped and complete.

    python3 scripts/reserved_names.py [--write] [NAME ...]

Prints the question's `default:` block with the NAMEs added, sorted and wrapped at 100
columns; --write puts it into includes/names.yml. Names with a leading underscore are left out: the
package_name validator refuses those by rule. tests/test_names.py says which names to add
when a Python or a dependency brings new ones, and checks that the file is as written here.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

NAMES_YML = Path(__file__).resolve().parent.parent / "includes" / "names.yml"
QUESTION = "reserved_package_names:\n"
HEAD = "  default: >-\n"
TAIL = "  when: false\n"
INDENT = "    "
WIDTH = 100


def block_span(text: str) -> tuple[int, int]:
    """Where the question's `default:` block starts and ends (after HEAD, before TAIL)."""
    start = text.index(HEAD, text.index(QUESTION)) + len(HEAD)
    return start, text.index(TAIL, start)


def listed(text: str) -> set[str]:
    """The names in the flow list: bare words, which YAML reads as strings."""
    start, end = block_span(text)
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text[start:end]))


def wrapped(names: set[str]) -> str:
    """The flow list, sorted, each line as full as 100 columns allow."""
    lines: list[str] = []
    line = INDENT + "["
    for index, name in enumerate(sorted(names)):
        item = name + ("]" if index == len(names) - 1 else ",")
        if len(line) + len(item) + 1 > WIDTH and line.strip() != "[":
            lines.append(line.rstrip())
            line = INDENT
        line += item + " "
    lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite includes/names.yml in place")
    parser.add_argument("names", nargs="*", help="names to add")
    options = parser.parse_args()
    text = NAMES_YML.read_text()
    added = {name for name in options.names if not name.startswith("_")}
    block = wrapped(listed(text) | added)
    if options.write:
        start, end = block_span(text)
        NAMES_YML.write_text(text[:start] + block + text[end:])
    else:
        sys.stdout.write(HEAD + block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
