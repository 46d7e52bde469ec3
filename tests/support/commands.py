"""Running commands: with their whole output on failure, or at a terminal's prompts."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path


def attempt(
    *command: str | Path,
    cwd: Path | None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command and hand back its exit code and output, whatever they are."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run(*command: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise with its whole output, so the test report says why."""
    return succeeded(attempt(*command, cwd=cwd, timeout=timeout), f"in {cwd}")


def succeeded(
    result: subprocess.CompletedProcess[str], where: str = ""
) -> subprocess.CompletedProcess[str]:
    """The result of a command that must have succeeded; else its whole output, raised."""
    if result.returncode != 0:
        command = " ".join(map(str, result.args))
        raise AssertionError(
            f"`{command}` exited {result.returncode} {where}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def run_in_terminal(
    command: list[str | Path], cwd: Path, replies: dict[str, str], timeout: float = 600
) -> tuple[int, str]:
    """Run a command in a pseudo-terminal, as a person at its prompts would.

    When the output so far shows a key of `replies` (a prompt), its value is typed once. Returns
    the exit code and everything the terminal showed.
    """
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(part) for part in command],
        cwd=cwd,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        # prompt_toolkit would wait for an answer to its cursor-position query otherwise.
        env={**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"},
        start_new_session=True,
    )
    os.close(terminal)
    shown, pending = b"", dict(replies)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([controller], [], [], 1)[0]:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the process has exited
                break
            if not chunk:
                break
            shown += chunk
            for prompt in [prompt for prompt in pending if prompt.encode() in shown]:
                os.write(controller, pending.pop(prompt).encode())
        else:
            process.kill()
            raise AssertionError(f"{command} still ran after {timeout}s:\n{shown.decode()}")
        return process.wait(timeout=60), shown.decode(errors="replace")
    finally:
        os.close(controller)


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of `old`; fail loudly when the anchor moved."""
    text = path.read_text()
    assert text.count(old) == 1, f"{path}: expected exactly one {old!r}"
    path.write_text(text.replace(old, new))
