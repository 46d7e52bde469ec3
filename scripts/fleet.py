#!/usr/bin/env python3
"""The platform team's view of its services: which template release each runs, and updates.

    python3 scripts/fleet.py status [--json] [--template PATH_OR_URL] SERVICE...
    python3 scripts/fleet.py update [--json] [--jobs N] [--logs DIR] SERVICE... [-- OPTION...]

A SERVICE is a local checkout or a git URL (status only). Standard library only: it runs with
any python3 >= 3.10, without this repository's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NoReturn, TypeVar

ANSWERS_FILE = ".copier-answers.yml"
UPDATE_SCRIPT = Path("scripts") / "template-update"
RESULT_LINE = re.compile(r"^template-update: result=(?P<result>\S+)(?P<details>.*)$")
RESULTS = ("updated", "up-to-date", "conflicts", "gates-failed", "error")
SKIPPED_DIRS = {".git", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".uv-cache"}
# Copier's shorthands for forge URLs (copier.vcs).
SHORTHANDS = {"gh:": "https://github.com/", "gl:": "https://gitlab.com/"}

OK, ERROR, CONFLICTS, GATES_FAILED, BEHIND, USAGE = 0, 1, 2, 3, 4, 64
EXIT_CODES = f"""exit status (the first that applies):
  {ERROR}   a service or its template could not be read, or an update ended in error
  {CONFLICTS}   a service has unresolved conflicts (markers in tracked files, or *.rej files)
  {GATES_FAILED}   update: a service's gates failed after the update
  {BEHIND}   status: a service is behind its template's newest release
  {OK}   status: every service is on the newest release; update: every service updated
      or already up to date
  {USAGE}  wrong command line
"""

T = TypeVar("T")
R = TypeVar("R")


class FleetError(Exception):
    """A one-line reason a service or template cannot be read."""


# ---------------------------------------------------------------- versions (PEP 440)

PEP440 = re.compile(
    r"""v?(?:(?P<epoch>[0-9]+)!)?(?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_.]?(?P<pre_l>alpha|a|beta|b|rc|c|preview|pre)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>-(?P<post_n1>[0-9]+)|[-_.]?(?:post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?)?
    (?P<dev>[-_.]?dev[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?""",
    re.VERBOSE | re.IGNORECASE,
)
PRE_ORDER = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}
# `git describe --tags`, which copier records for a render from an untagged commit.
DESCRIBED = re.compile(r"^(?P<tag>.+)-(?P<commits>[0-9]+)-g[0-9a-f]+$")

VersionKey = tuple[int, tuple[int, ...], tuple[int, int], int, tuple[int, int], str]


@dataclass(frozen=True, order=True)
class Version:
    """A PEP 440 version, ordered as packaging.version.Version orders them."""

    key: VersionKey
    text: str = field(compare=False)
    prerelease: bool = field(compare=False)

    @classmethod
    def parse(cls, text: str) -> Version | None:
        match = PEP440.fullmatch(text.strip())
        if match is None:
            return None
        part = match.groupdict()
        release = tuple(int(number) for number in part["release"].split("."))
        while len(release) > 1 and release[-1] == 0:
            release = release[:-1]
        if part["pre"]:
            pre = (PRE_ORDER[part["pre_l"].lower()], int(part["pre_n"] or 0))
        else:  # 1.0.dev1 < 1.0a1 < 1.0 (and 1.0.post1.dev1 > 1.0)
            pre = (-1, 0) if part["dev"] and not part["post"] else (3, 0)
        post = int(part["post_n1"] or part["post_n2"] or 0) if part["post"] else -1
        dev = (0, int(part["dev_n"] or 0)) if part["dev"] else (1, 0)
        key: VersionKey = (int(part["epoch"] or 0), release, pre, post, dev, part["local"] or "")
        return cls(key, text, prerelease=bool(part["pre"] or part["dev"]))


# ---------------------------------------------------------------- helpers


def git(*arguments: str, cwd: Path | None = None, allowed: Sequence[int] = (0,)) -> str:
    """Run git; its stdout, or FleetError with git's last line of complaint."""
    try:
        result = subprocess.run(
            ["git", *arguments], cwd=cwd, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise FleetError("git is not installed") from None
    if result.returncode not in allowed:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise FleetError(lines[-1].strip() if lines else f"git {arguments[0]} failed")
    return result.stdout


def in_parallel(function: Callable[[T], R], items: Iterable[T], jobs: int) -> list[R]:
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(function, items))


def is_url(text: str) -> bool:
    return (
        "://" in text
        or text.startswith(tuple(SHORTHANDS))
        or re.match(r"^[\w.-]+@[\w.-]+:", text) is not None
    )


def git_url(text: str) -> str:
    """Copier's source spellings as git understands them (gh:, gl:, git+https://)."""
    for shorthand, prefix in SHORTHANDS.items():
        if text.startswith(shorthand):
            return prefix + text[len(shorthand) :]
    return text.removeprefix("git+")


def read_answers(path: Path) -> dict[str, str]:
    """The top-level scalar answers of the flat YAML copier writes (lists are skipped)."""
    entries: list[list[str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " -":
            if entries and not line.lstrip().startswith("- "):
                entries[-1].append(line.strip())  # a long scalar folded onto more lines
            continue
        key, _, value = line.partition(":")
        entries.append([key.strip(), value.strip()])
    answers: dict[str, str] = {}
    for key, *parts in entries:
        value = " ".join(part for part in parts if part)
        if value.startswith("'") and value.endswith("'") and len(value) > 1:
            value = value[1:-1].replace("''", "'")
        elif value.startswith('"') and value.endswith('"') and len(value) > 1:
            try:
                value = str(json.loads(value))
            except ValueError:
                value = value[1:-1]
        if value and value not in {"~", "null", "[]", "{}"}:
            answers[key] = value
    return answers


def service_answers(directory: Path, name: str) -> dict[str, str]:
    if not directory.is_dir():
        raise FleetError(f"{name}: no such directory")
    answers_file = directory / ANSWERS_FILE
    if not answers_file.is_file():
        raise FleetError(f"{name}: not a copier service (no {ANSWERS_FILE})")
    answers = read_answers(answers_file)
    for key in ("_src_path", "_commit"):
        if key not in answers:
            raise FleetError(
                f"{name}: {ANSWERS_FILE} has no {key}: not rendered from a git template"
            )
    return answers


# ---------------------------------------------------------------- status


@dataclass
class Status:
    service: str
    template: str | None = None
    release: str | None = None
    newest: str | None = None
    behind: int | None = None
    last_update: str | None = None
    branch: str | None = None
    python_version: str | None = None
    python_source: str | None = None
    entrypoint: str | None = None
    conflicts: list[str] = field(default_factory=list)
    error: str | None = None


def conflicted_files(checkout: Path) -> list[str]:
    """Files with a conflict marker line (tracked or not ignored), and every *.rej file.

    The service's own conflict gate (`scripts/template-update --check-conflicts`) reads them
    the same way.
    """
    found = git(
        "grep", "-l", "-I", "-E", "--untracked", "-e", "^(<{7}|>{7})( |$)",
        cwd=checkout, allowed=(0, 1),
    )  # fmt: skip
    files = set(found.splitlines())
    for directory, subdirectories, names in os.walk(checkout):
        subdirectories[:] = [name for name in subdirectories if name not in SKIPPED_DIRS]
        for name in names:
            if name.endswith(".rej"):
                files.add((Path(directory) / name).relative_to(checkout).as_posix())
    return sorted(files)


def last_template_update(checkout: Path) -> str | None:
    """When the commit that last changed `_commit` was made (ISO 8601), if git knows one."""
    date = git("log", "-1", "--format=%cI", "-G", "^_commit:", "--", ANSWERS_FILE, cwd=checkout)
    return date.strip() or None


def template_source(recorded: str, base: Path | None) -> str:
    """Where git finds the template: a URL, or a local path (a relative one from `base`)."""
    if is_url(recorded):
        return git_url(recorded)
    path = Path(recorded).expanduser()
    if not path.is_absolute():
        if base is None:
            raise FleetError(
                f"the template path {recorded} is relative to a checkout fleet.py cloned"
            )
        path = base / path
    if not path.exists():
        raise FleetError(f"template {path} does not exist")
    return str(path.resolve())


def release_tags(source: str) -> list[Version]:
    """The template's releases, oldest first: PEP 440 tags that are not pre-releases."""
    try:
        listing = git("ls-remote", "--tags", "--refs", source)
    except FleetError as error:
        raise FleetError(f"template {source}: {error}") from None
    versions = (Version.parse(line.split("refs/tags/", 1)[-1]) for line in listing.splitlines())
    releases = sorted(version for version in versions if version and not version.prerelease)
    if not releases:
        raise FleetError(f"template {source} has no release tags (PEP 440, like 1.2.0)")
    return releases


def read_service(name: str, checkout: Path, template: str | None, base: Path | None) -> Status:
    """Everything but the newest release, which needs the template's tags."""
    answers = service_answers(checkout, name)
    try:
        git("rev-parse", "--git-dir", cwd=checkout)
    except FleetError:
        raise FleetError(f"{name}: not a git repository (fleet.py reads its history)") from None
    return Status(
        service=name,
        template=template or template_source(answers["_src_path"], base),
        release=answers["_commit"],
        last_update=last_template_update(checkout),
        branch=git("branch", "--show-current", cwd=checkout).strip() or None,
        python_version=answers.get("python_version"),
        python_source=answers.get("python_source"),
        entrypoint=answers.get("entrypoint"),
        conflicts=conflicted_files(checkout),
    )


def service_status(name: str, template: str | None, scratch: Path) -> Status:
    try:
        if not is_url(name):
            return read_service(name, Path(name), template, Path(name).resolve())
        clone = Path(tempfile.mkdtemp(dir=scratch))
        # History without file contents: enough to date the last update, and small.
        git("clone", "--quiet", "--filter=blob:none", "--", git_url(name), str(clone))
        return read_service(name, clone, template, None)
    except FleetError as error:
        message = str(error)
        return Status(
            service=name, error=message if message.startswith(name) else f"{name}: {message}"
        )


def behind(release: str, releases: list[Version]) -> int | None:
    """How many releases are newer than the recorded one (a described commit: than its tag)."""
    described = DESCRIBED.match(release)
    current = Version.parse(described["tag"] if described else release)
    if current is None:
        return None
    return sum(1 for version in releases if version > current)


def status(services: Sequence[str], template: str | None, jobs: int) -> list[Status]:
    override = template_source(template, Path.cwd()) if template else None
    with tempfile.TemporaryDirectory(prefix="fleet-") as scratch:
        rows = in_parallel(
            lambda name: service_status(name, override, Path(scratch)), services, jobs
        )
    sources = sorted({row.template for row in rows if row.template and not row.error})

    def tags(source: str) -> list[Version] | FleetError:
        try:
            return release_tags(source)
        except FleetError as error:
            return error

    found = dict(zip(sources, in_parallel(tags, sources, jobs), strict=True))
    for row in rows:
        if row.error or row.template is None or row.release is None:
            continue
        releases = found[row.template]
        if isinstance(releases, FleetError):
            row.error = f"{row.service}: {releases}"
            continue
        row.newest = releases[-1].text
        row.behind = behind(row.release, releases)
        if row.behind is None:
            row.error = f"{row.service}: _commit {row.release} is not a release of {row.template}"
    return rows


def status_code(rows: Sequence[Status]) -> int:
    if any(row.error for row in rows):
        return ERROR
    if any(row.conflicts for row in rows):
        return CONFLICTS
    if any(row.behind for row in rows):
        return BEHIND
    return OK


# ---------------------------------------------------------------- update


@dataclass
class Update:
    """One service's update: the script's result line (`details` as printed, `fields` read)."""

    service: str
    result: str
    seconds: float = 0.0
    details: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    exit_status: int | None = None


def result_fields(details: str) -> dict[str, str]:
    """The line's key=value pairs; the script shell-quotes values with spaces."""
    try:
        words = shlex.split(details)
    except ValueError:
        words = details.split()
    return dict(word.split("=", 1) for word in words if "=" in word)


def run_update(name: str, options: Sequence[str], logs: Path | None, index: int) -> Update:
    """Run one service's scripts/template-update and read its result line."""
    checkout = Path(name)
    try:
        if is_url(name):
            raise FleetError(f"{name}: update runs in a local checkout; clone it first")
        service_answers(checkout, name)
    except FleetError as error:
        return Update(name, "error", details=str(error))
    script = checkout / UPDATE_SCRIPT
    if not os.access(script, os.X_OK):
        return Update(
            name,
            "error",
            details=f"{name}: no executable {UPDATE_SCRIPT}; update it by hand once to a "
            "template release that ships it (UPDATING.md)",
        )
    started = time.monotonic()
    try:
        result = subprocess.run(
            [str(script.resolve()), *options],
            cwd=checkout,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as error:  # e.g. its interpreter (#! line) is missing
        return Update(name, "error", details=f"{name}: cannot run {UPDATE_SCRIPT}: {error}")
    seconds = time.monotonic() - started
    if logs is not None:
        log = logs / f"{index:03d}-{checkout.resolve().name}.log"
        log.write_text(f"$ {UPDATE_SCRIPT} {' '.join(options)}\n{result.stdout}{result.stderr}")
    # The script prints it last, on stdout.
    for line in [*reversed(result.stdout.splitlines()), *reversed(result.stderr.splitlines())]:
        match = RESULT_LINE.match(line.strip())
        if match and match["result"] in RESULTS:
            details = match["details"].strip()
            fields = result_fields(details)
            return Update(name, match["result"], seconds, details, fields, result.returncode)
    complaint = [line for line in result.stderr.splitlines() if line.strip()]
    last = f": {complaint[-1].strip()}" if complaint else ""
    details = f"{name}: {UPDATE_SCRIPT} exited {result.returncode} without a result line{last}"
    return Update(name, "error", seconds, details, exit_status=result.returncode)


def update_code(updates: Sequence[Update]) -> int:
    results = {update.result for update in updates}
    for result, code in (
        ("error", ERROR),
        ("conflicts", CONFLICTS),
        ("gates-failed", GATES_FAILED),
    ):
        if result in results:
            return code
    return OK


# ---------------------------------------------------------------- output


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = [list(header), *(list(row) for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def show_status(rows: Sequence[Status]) -> str:
    header = (
        "SERVICE", "RELEASE", "NEWEST", "BEHIND", "UPDATED", "BRANCH",
        "PYTHON", "SOURCE", "ENTRYPOINT", "CONFLICTS",
    )  # fmt: skip
    return table(
        header,
        (
            (
                row.service,
                row.release or "-",
                row.newest or "-",
                "?" if row.behind is None else str(row.behind),
                (row.last_update or "-")[:10],
                row.branch or "-",
                row.python_version or "-",
                row.python_source or "-",
                row.entrypoint or "-",
                ", ".join(row.conflicts) or "none",
            )
            for row in rows
        ),
    )


def show_updates(updates: Sequence[Update]) -> str:
    rows = table(
        ("SERVICE", "RESULT", "SECONDS", "DETAILS"),
        ((u.service, u.result, f"{u.seconds:.1f}", u.details) for u in updates),
    )
    counts = {result: sum(u.result == result for u in updates) for result in RESULTS}
    totals = ", ".join(f"{count} {result.replace('-', ' ')}" for result, count in counts.items())
    return f"{rows}\n\n{totals}"


# ---------------------------------------------------------------- command line


class Parser(argparse.ArgumentParser):
    """Exits 64 on a wrong command line: argparse's 2 means conflicts here."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def command(
    commands: argparse._SubParsersAction[Parser], name: str, summary: str, description: str
) -> Parser:
    paragraphs = (
        textwrap.fill(" ".join(part.split()), 80, break_on_hyphens=False)
        for part in description.split("\n\n")
    )
    parser = commands.add_parser(
        name,
        help=summary,
        description="\n\n".join(paragraphs),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="a JSON list, one object a service")
    default = os.cpu_count() or 1
    parser.add_argument(
        "--jobs",
        type=positive,
        default=default,
        metavar="N",
        help=f"services handled at once (default: {default}, the CPUs)",
    )
    return parser


def parser() -> Parser:
    main = Parser(
        prog="fleet.py",
        description="Which template release each service runs, and updates for all of them.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = main.add_subparsers(dest="command", required=True, parser_class=Parser)
    status_command = command(
        commands,
        "status",
        "one row per service: its release, the newest, how far behind, conflicts",
        """One row per service: the template release it records (_commit in
        .copier-answers.yml), the newest release (the template's PEP 440 tags, pre-releases
        left out, as copier does), how many releases it is behind, when its template was last
        updated (the commit that last changed _commit), its branch, python_version,
        python_source and entrypoint, and its unresolved conflicts (conflict marker lines,
        *.rej files).

        A git URL is cloned into a temporary directory (history without file contents).""",
    )
    status_command.add_argument("services", nargs="+", metavar="SERVICE", help="path or git URL")
    status_command.add_argument(
        "--template",
        metavar="PATH_OR_URL",
        help="read the newest release here instead of at each service's _src_path",
    )
    update_command = command(
        commands,
        "update",
        "run each service's scripts/template-update in parallel; a summary table",
        """Run scripts/template-update in each local service, N at a time, and summarise the
        result line each prints: updated, up to date, conflicts, gates failed or error.

        The environment is passed through (TEMPLATE_UPDATE_TOKEN, the forge token, among
        it), and every argument after `--` goes to each script, e.g. `fleet.py update a b --
        --forge gitlab --api-url https://gitlab.example.com/api/v4`.""",
    )
    update_command.add_argument("services", nargs="+", metavar="SERVICE", help="local path")
    update_command.add_argument(
        "--logs", type=Path, metavar="DIR", help="write each script's whole output to DIR"
    )
    return main


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    passed: list[str] = []
    if "--" in arguments:
        cut = arguments.index("--")
        arguments, passed = arguments[:cut], arguments[cut + 1 :]
    options = parser().parse_args(arguments)
    if options.command == "status":
        if passed:
            parser().error("status takes no script options after --")
        try:
            rows = status(options.services, options.template, options.jobs)
        except FleetError as error:
            print(f"fleet.py: {error}", file=sys.stderr)
            return ERROR
        print(
            json.dumps([asdict(row) for row in rows], indent=2)
            if options.json
            else show_status(rows)
        )
        for row in rows:
            if row.error:
                print(f"fleet.py: {row.error}", file=sys.stderr)
        return status_code(rows)
    checkouts = [Path(name).resolve() for name in options.services if not is_url(name)]
    if len(set(checkouts)) < len(checkouts):
        parser().error("update: a service is named twice; two updates would share its checkout")
    if options.logs is not None:
        options.logs.mkdir(parents=True, exist_ok=True)
    numbered = list(enumerate(options.services))
    updates = in_parallel(
        lambda item: run_update(item[1], passed, options.logs, item[0]), numbered, options.jobs
    )
    print(
        json.dumps([asdict(u) for u in updates], indent=2)
        if options.json
        else show_updates(updates)
    )
    return update_code(updates)


if __name__ == "__main__":
    sys.exit(main())
