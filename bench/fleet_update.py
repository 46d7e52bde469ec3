"""Benchmark `scripts/fleet.py update`: seconds per service update and the fleet's wall time.

    python3 scripts/uvw.py run --locked python -m bench.fleet_update [--jobs N] [--no-write]

Builds the fleet the tests use (tests/support/fleet.py: a template released as 1.0.0, 1.1.0
and 1.2.0, twelve services rendered from them with Python 3.13, owner edits, some
overlapping the releases), then updates it twice with `fleet.py update --json`: serially
(`--jobs 1`), then `--jobs N` at a time (default: the CPU count). Before each run every
service is reset (its update branch deleted, its ignored files such as .venv removed), so
both runs do the same work from a warm uv cache. Prints the figures and writes them between
the `fleet:` markers of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support import tool_environment
from tests.support.fleet import (
    MEMBERS,
    NEWEST,
    build_fleet,
    release_template,
    update_environment,
)

ROOT = Path(__file__).resolve().parent.parent
FLEET = ROOT / "scripts" / "fleet.py"
REPORT = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- fleet:begin -->", "<!-- fleet:end -->"
Run = tuple[float, list[dict[str, Any]]]


def log(message: str) -> None:
    print(f"bench.fleet_update: {message}", file=sys.stderr, flush=True)


def reset(services: dict[str, Path]) -> None:
    """Back to the state before any update: no update branch, no venv or caches."""
    for path in services.values():
        subprocess.run(
            ["git", "branch", "--quiet", "--delete", "--force", f"template-update/{NEWEST}"],
            cwd=path,
            capture_output=True,
            check=False,
        )
        subprocess.run(["git", "clean", "-fdXq"], cwd=path, check=True)


def update(services: dict[str, Path], root: Path, jobs: int) -> Run:
    """One `fleet.py update` over the fleet: its wall time and its --json rows."""
    reset(services)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, FLEET, "update", "--json", "--jobs", str(jobs), *services],
        cwd=root,
        env=update_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - started
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    expected = {member.name: member.result for member in MEMBERS}
    got = {row["service"]: row["result"] for row in rows}
    if got != expected:
        raise SystemExit(f"bench.fleet_update: unexpected results {got}\n{result.stderr}")
    return wall, rows


def median_of(rows: list[dict[str, Any]], results: set[str]) -> tuple[float, int]:
    seconds = [row["seconds"] for row in rows if row["result"] in results]
    return statistics.median(seconds), len(seconds)


def report(serial: Run, parallel: Run, jobs: int, build_seconds: float, load: str) -> str:
    (serial_wall, serial_rows), (parallel_wall, parallel_rows) = serial, parallel
    changed = {"updated", "conflicts", "gates-failed"}
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores; load average "
        f"at start {load}. Fleet of {len(MEMBERS)} services built (rendered, locked, edited) "
        f"in {build_seconds:.0f} s.",
        "",
        "| figure | serial (`--jobs 1`) | parallel (`--jobs " + str(jobs) + "`) |",
        "|---|---|---|",
    ]
    for label, results in (
        ("seconds per service update, median (update, relock, gates, commit)", changed),
        ("seconds per service already up to date, median (`copier check-update`)", {"up-to-date"}),
    ):
        (serial_median, count), (parallel_median, _) = (
            median_of(serial_rows, results),
            median_of(parallel_rows, results),
        )
        lines.append(f"| {label}, {count} services | {serial_median:.1f} | {parallel_median:.1f} |")
    lines.append(
        f"| fleet wall time, {len(MEMBERS)} services | {serial_wall:.0f} s | {parallel_wall:.0f} s "
        f"({serial_wall / parallel_wall:.2f}x faster) |"
    )
    per_result: dict[str, list[float]] = {}
    for row in serial_rows:
        per_result.setdefault(row["result"], []).append(row["seconds"])
    lines += [
        "",
        "Serial seconds by result: "
        + "; ".join(
            f"{result} {statistics.median(values):.1f} (median of {len(values)})"
            for result, values in sorted(per_result.items())
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


def write_report(block: str) -> None:
    text = REPORT.read_text()
    head, rest = text.split(BEGIN, 1)
    REPORT.write_text(f"{head}{BEGIN}\n{block}{END}{rest.split(END, 1)[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark fleet.py update over a test fleet.")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel run's N")
    parser.add_argument("--no-write", action="store_true", help="print only")
    options = parser.parse_args()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as scratch:
        settings = Path(scratch) / "copier-settings.yml"
        settings.write_text("{}\n")
        os.environ.update(tool_environment(settings))
        started = time.monotonic()
        template = release_template(Path(scratch) / "template")
        root = Path(scratch) / "services"
        services = build_fleet(template, root)
        build_seconds = time.monotonic() - started
        log(f"fleet built in {build_seconds:.0f} s; serial update")
        serial = update(services, root, 1)
        log(f"serial: {serial[0]:.0f} s; parallel update, --jobs {options.jobs}")
        parallel = update(services, root, options.jobs)
        log(f"parallel: {parallel[0]:.0f} s")
    block = report(serial, parallel, options.jobs, build_seconds, load)
    print(block)
    if not options.no_write:
        write_report(block)
        log(f"wrote {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
