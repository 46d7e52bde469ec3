"""Before every update: refuse to rename the service's package.

`copier update --data package_name=NEW` renders src/NEW/ from the template and deletes
src/OLD/, the owner's modules in it included, without a conflict. Copier runs this "before"
migration in the real project before it changes any file there: it compares the answer given
with --data against .copier-answers.yml and stops the update, saying how to rename instead.

Usage: refuse_package_rename.py ANSWERS_FILE NEW_PACKAGE_NAME (empty when not given)
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def refusal(old: str, new: str) -> str:
    return (
        f"copier-uv-service: error: --data package_name={new} would rename the package, and "
        f"copier would delete src/{old}/ with your code in it: the update stopped before "
        "changing anything. Rename the package yourself in a clean tree:\n"
        f"    git mv src/{old} src/{new}\n"
        f"    git grep -lw {old}\n"
        f"In each file the second command lists, .copier-answers.yml included, replace {old} "
        f"with {new}, except in {old}-*.dist-info (the distribution's name). Run the gates, "
        "commit, then update without --data package_name (UPDATING.md, 'Renaming the package')."
    )


def main(arguments: list[str]) -> int:
    answers_file, new = arguments
    if not new:
        return 0
    path = Path(answers_file)
    answers = yaml.safe_load(path.read_text()) if path.is_file() else None
    old = answers.get("package_name") if isinstance(answers, dict) else None
    if not old or old == new:
        return 0
    print(refusal(old, new), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
