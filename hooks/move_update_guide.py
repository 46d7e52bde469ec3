"""Migration to 0.2.0: the README's update guide moves to UPDATING.md.

From 0.2.0 on, updates never touch README.md (`_skip_if_exists`: it is the owner's), so the
guide lives in UPDATING.md, which every update keeps current. Copier runs this once, after an
update that crosses 0.2.0, in the real project. It swaps the section 0.1.0 rendered for the
pointer 0.2.0 renders, only if the owner left it as rendered; otherwise it says what to do.
Running it again changes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Exactly what 0.1.0 rendered (the section had no template variables).
OLD_SECTION = """\
## Template updates

This project was rendered from a template; `.copier-answers.yml` records the version and
your answers. To pull the template's fixes, start from a clean git tree and run:

```console
uvx copier update --trust --defaults
```

Review `git diff`, run the gates, commit. Where your edits and the template's overlap, the
file holds inline conflict markers (`<<<<<<< before updating` ... `>>>>>>> after updating`):
keep what you need, delete the markers, and check that `git diff` shows no marker left.
`uv.lock` is re-locked by the update itself; if it was not (uv missing), run `uv lock`.
"""

# Exactly what 0.2.0 renders, so migrated and fresh services read the same.
NEW_SECTION = """\
## Template updates

This service was rendered from the copier-uv-service template. `UPDATING.md` says how to pull
a newer release (`uvx copier@latest update --trust --defaults`) and how to resolve conflicts;
updates keep that file current and never touch this README, which is yours.
"""


def migrate(readme: Path) -> str:
    """Rewrite the README if it still holds the 0.1.0 section; say what happened."""
    if not readme.is_file():
        return "README.md is gone; nothing to move."
    text = readme.read_text()
    if OLD_SECTION in text:
        readme.write_text(text.replace(OLD_SECTION, NEW_SECTION))
        return "README.md: the 'Template updates' section now points to UPDATING.md."
    if "## Template updates" in text and NEW_SECTION not in text:
        return (
            "warning: README.md's 'Template updates' section differs from what 0.1.0 rendered, "
            "so it was left alone; UPDATING.md now holds the current guide, edit the README "
            "section to point there."
        )
    return "README.md already points to UPDATING.md."


def main() -> int:
    print(f"copier-uv-service: {migrate(Path.cwd() / 'README.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
