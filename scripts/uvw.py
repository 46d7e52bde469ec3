#!/usr/bin/env python3
"""Run uv, installing it first if this machine has none.

    python3 scripts/uvw.py ARGS...   is   uv ARGS...

Needs only Python >= 3.11 with venv and pip. uv is taken from PATH when it works there;
otherwise it is pip-installed, pinned, into .cache/uv-bootstrap/ of this checkout. uv's
folder is put first on PATH for the command, so copier's post-render hook finds it too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

UV_VERSION = "0.13.9"  # keep equal to uv_version in includes/computed.yml (tests check it)
BOOTSTRAP = Path(__file__).resolve().parent.parent / ".cache" / "uv-bootstrap"


def working_uv_on_path() -> str | None:
    """uv from PATH, if it runs (a pyenv shim may exist yet fail)."""
    found = shutil.which("uv")
    if found is None:
        return None
    probe = subprocess.run([found, "--version"], capture_output=True, check=False)
    return found if probe.returncode == 0 else None


def bootstrapped_uv() -> str:
    """uv pip-installed into a private venv of this checkout, created on first use."""
    uv = BOOTSTRAP / "bin" / "uv"
    if not uv.exists():
        print(f"scripts/uvw.py: installing uv {UV_VERSION} into {BOOTSTRAP}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(BOOTSTRAP)], check=True)
        subprocess.run(
            [
                str(BOOTSTRAP / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                f"uv=={UV_VERSION}",
            ],
            check=True,
        )
    return str(uv)


def main() -> None:
    uv = working_uv_on_path() or bootstrapped_uv()
    os.environ["PATH"] = os.pathsep.join([str(Path(uv).parent), os.environ.get("PATH", "")])
    os.execv(uv, [uv, *sys.argv[1:]])


if __name__ == "__main__":
    main()
