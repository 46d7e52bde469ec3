#!/usr/bin/env python3
"""Audit uv.lock for known vulnerabilities: `uv audit --locked` with audit-ignores.toml.

uv asks OSV about every locked package, development tools included, and fails on a known
vulnerability. An entry of audit-ignores.toml lets one through: it names the vulnerability (its
ID or an alias), says why shipping it is acceptable and until when. Each active entry is
printed with its reason and passed to uv as --ignore; an expired one is not passed on and fails
the audit even when uv finds nothing, until it is renewed or removed. Other arguments go to
`uv audit` as they are (--output-format sarif, --service-url URL). Messages go to stderr, so
stdout carries only uv's report.

Environment:
  UV  uv executable (default: uv from PATH)

Exit codes:
  0  no known vulnerability, or only ignored ones
  1  a known vulnerability, or an expired ignore
  2  audit-ignores.toml is invalid, uv's own settings ignore a vulnerability
     ([tool.uv.audit] in pyproject.toml, [audit] in uv.toml), or uv could not audit
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
IGNORES = PROJECT / "audit-ignores.toml"
FIELDS = ("id", "reason", "expires")


class InvalidIgnoresError(Exception):
    """audit-ignores.toml cannot be read as a list of ignores."""


@dataclass(frozen=True)
class Ignore:
    vulnerability: str
    reason: str
    expires: datetime.date


def read_ignores(path: Path) -> list[Ignore]:
    """The [[ignore]] entries of `path` (none when it does not exist), each checked."""
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise InvalidIgnoresError(f"{path.name}: {error}") from error
    entries = data.pop("ignore", [])
    if data or not isinstance(entries, list):
        raise InvalidIgnoresError(f"{path.name} may hold only [[ignore]] entries")
    ignores: list[Ignore] = []
    for number, entry in enumerate(entries, 1):
        ignore = checked(entry, f"{path.name}: [[ignore]] entry {number}")
        if any(known.vulnerability == ignore.vulnerability for known in ignores):
            raise InvalidIgnoresError(f"{path.name}: {ignore.vulnerability} is ignored twice")
        ignores.append(ignore)
    return ignores


def checked(entry: object, where: str) -> Ignore:
    if not isinstance(entry, dict) or sorted(entry) != sorted(FIELDS):
        raise InvalidIgnoresError(f"{where} needs exactly {', '.join(FIELDS)}")
    vulnerability, reason, expires = (entry[field] for field in FIELDS)
    if not isinstance(vulnerability, str) or not re.fullmatch(r"[\w.:-]+", vulnerability, re.ASCII):
        raise InvalidIgnoresError(f"{where}: id must be one ID: GHSA-..., CVE-... or PYSEC-...")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidIgnoresError(f"{where} ({vulnerability}): reason must say why it may ship")
    if not isinstance(expires, datetime.date) or isinstance(expires, datetime.datetime):
        raise InvalidIgnoresError(
            f"{where} ({vulnerability}): expires must be a date without quotes, e.g. 2026-06-30"
        )
    return Ignore(vulnerability, reason.strip(), expires)


def unexplained_ignores() -> list[str]:
    """Ignores in uv's own settings, which uv would apply with no reason and no expiry."""
    found = []
    for name, table in (("pyproject.toml", ("tool", "uv", "audit")), ("uv.toml", ("audit",))):
        path = PROJECT / name
        settings = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        for key in table:
            settings = settings.get(key, {})
        for option in ("ignore", "ignore-until-fixed"):
            found += [f"{name}: {option} = {settings[option]}"] if settings.get(option) else []
    return found


def main(arguments: list[str]) -> int:
    if arguments[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    try:
        ignores = read_ignores(IGNORES)
    except InvalidIgnoresError as error:
        print(f"audit: {error}", file=sys.stderr)
        return 2
    unexplained = unexplained_ignores()
    for found in unexplained:
        print(f"audit: {found} has no reason or expiry: move it to {IGNORES.name}", file=sys.stderr)
    if unexplained:
        return 2
    today = datetime.datetime.now(datetime.UTC).date()
    active = [ignore for ignore in ignores if ignore.expires >= today]
    expired = [ignore for ignore in ignores if ignore.expires < today]
    for ignore in active:
        print(
            f"audit: ignoring {ignore.vulnerability} until {ignore.expires}: {ignore.reason}",
            file=sys.stderr,
        )
    options = [f"--ignore={ignore.vulnerability}" for ignore in active]
    uv = os.environ.get("UV", "uv")
    audit = subprocess.run(
        [uv, "audit", "--locked", *options, *arguments], check=False, cwd=PROJECT
    )
    for ignore in expired:
        print(
            f"audit: the ignore of {ignore.vulnerability} expired on {ignore.expires}"
            f" ({ignore.reason}): upgrade past it, or renew its entry in {IGNORES.name}",
            file=sys.stderr,
        )
    return audit.returncode or (1 if expired else 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
