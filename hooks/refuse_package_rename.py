"""Around every update: refuse to rename the service's package.

`copier update --data package_name=NEW` renders src/NEW/ from the template and deletes the
modules it rendered in src/OLD/, the owner's edits to them included, without a conflict; the
owner's own modules stay behind, outside the package. Copier runs this migration
in the real project twice. Before the update changes any file, it compares the answer given
with --data against .copier-answers.yml and stops the update, saying how to rename instead.
After the update, it catches a new name typed at the interactive prompt (which comes later
than the first check) by comparing the final answer with the answers file in HEAD, and says
how to undo the update.

Usage: refuse_package_rename.py before|after ANSWERS_FILE PACKAGE_NAME (empty: none given)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml


def how_to_rename(old: str, new: str) -> str:
    return (
        "Rename the package yourself in a clean tree:\n"
        f"    git mv src/{old} src/{new}\n"
        f"    git grep -lw {old}\n"
        f"In each file the second command lists, .copier-answers.yml included, replace {old} "
        f"with {new}, except in {old}-*.dist-info (the distribution's name). Run the gates, "
        "commit, then update keeping the package name (UPDATING.md, 'Renaming the package')."
    )


def before(old: str, new: str) -> str:
    return (
        f"copier-uv-service: error: --data package_name={new} would rename the package: copier "
        f"would delete the modules it rendered in src/{old}/, your edits to them included, and "
        "leave your own modules there, outside the package. The update stopped before changing "
        f"anything. {how_to_rename(old, new)}"
    )


def after(old: str, new: str) -> str:
    return (
        f"copier-uv-service: error: this update renamed the package {old} to {new}: it deleted "
        f"the modules it rendered in src/{old}/, your edits to them included, and left your own "
        "modules there, outside the package. Undo it (the tree was clean before the update):\n"
        "    git reset --hard && git clean -fd\n"
        f"{how_to_rename(old, new)}"
    )


def package_name(answers_text: str) -> str | None:
    answers: Any = yaml.safe_load(answers_text)
    name = answers.get("package_name") if isinstance(answers, dict) else None
    return name if isinstance(name, str) else None


def answers_text(stage: str, answers_file: str) -> str:
    """The answers the service had before the update: on disk before it, in HEAD after it."""
    if stage == "before":
        path = Path(answers_file)
        return path.read_text() if path.is_file() else ""
    committed = subprocess.run(
        ["git", "show", f"HEAD:./{answers_file}"], capture_output=True, text=True, check=False
    )
    return committed.stdout if committed.returncode == 0 else ""


def main(arguments: list[str]) -> int:
    stage, answers_file, new = arguments
    old = package_name(answers_text(stage, answers_file)) if new else None
    if not old or old == new:
        return 0
    print((before if stage == "before" else after)(old, new), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
