"""Benchmark the template's image against uv's reference multi-stage build and a naive one.

    python3 scripts/uvw.py run --locked python -m bench.run [--runs 3] [--cold-runs 3]

Renders the template's defaults (Python 3.13) with real copier from this checkout, builds the
same app with the template's Dockerfile (each python_source x entrypoint), with
bench/reference.Dockerfile (astral-sh/uv-docker-example's multistage pattern) and with
bench/naive.Dockerfile (the single-stage floor of seed 003), then measures each image on the
local Docker engine: cold build, warm rebuild after a one-line change, bytes over the runtime
base image, `docker run` to the first 200 on /health, `docker stop`, idle memory and
requests/s on loopback. Prints a table with ratios to the reference and writes it into
BENCHMARKS.md. Cold builds run with `--no-cache` after `docker builder prune -af --filter
type=exec.cachemount`, which empties every project's cache mounts on the engine;
`--cold-runs 0` skips them. Every container and image it creates is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests.support import docker as docker_run
from tests.support import free_port, tool_environment

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
REPORT = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

PYTHON_VERSION = "3.13"
PYTHON_BASE = f"python:{PYTHON_VERSION}-slim-trixie"
DEBIAN_BASE = "debian:trixie-slim"
RUNTIME_BASES = (PYTHON_BASE, DEBIAN_BASE)
# The defaults name the service "My Service"; the reference Dockerfiles start `my-service`.
SOURCE_FILE = Path("src/my_service/app.py")
SERVICE_PORT = 8000
TARGET_RENDER_SECONDS = 5.0
TARGET_WARM_SECONDS = 1.0
TARGET_STOP_SECONDS = 1.0
TARGET_FIRST_200_RATIO = 0.6
TARGET_BYTES_RATIO = 0.85
TARGET_COLD_RATIO = 2.0
# A build gets this long before it counts as stalled (a download that hangs) and is retried.
BUILD_TIMEOUT = 300
# Seconds of quiet before each cold build. uv looks a host up once per connection, so a cold
# build sends a burst of DNS queries; a resolver that throttles bursts (this machine's drops
# queries past ~50 in 5 s) would then stall the next build's apt for 20 s per lookup.
COLD_SETTLE = 5.0
ATTEMPTS = 3
# What a failed download says (uv, apt, pip, BuildKit): worth another attempt, never a figure.
DOWNLOAD_FAILED = re.compile(
    r"(?i)timed? ?out|connection (?:reset|refused|closed|aborted)|temporary failure"
    r"|failed to (?:fetch|download)|error sending request|network is unreachable"
    r"|could not resolve|unexpected eof|hash sum mismatch"
)
# After this long without a 200, start also asks Docker whether the container still runs.
START_GRACE = 5.0
START_TIMEOUT = 60.0
RUN_ID = uuid.uuid4().hex[:8]
# Runtime layers that are an option's purpose, not overhead: how `docker history` shows them.
PAYLOADS = {
    "the uv binary": "COPY /uv /usr/local/bin/uv",
    "the interpreter": "COPY /opt/python /opt/python",
}


# ---------------------------------------------------------------- docker


def docker(*arguments: str, cwd: Path | None = None, timeout: float = 900) -> str:
    """Run the docker CLI and return its stdout; raise with all its output on failure."""
    return docker_run(*arguments, cwd=cwd, timeout=timeout).stdout


def ensure_image(name: str) -> None:
    """Pull a base image now, so no build below times a pull."""
    if subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode:
        docker("pull", name)


def images_named(dockerfile: Path) -> set[str]:
    """The images a Dockerfile builds FROM or copies from, ARG defaults substituted."""
    text = dockerfile.read_text()
    arguments = dict(re.findall(r"(?m)^ARG (\w+)=(\S+)", text))
    stages = set(re.findall(r"(?im)^FROM \S+ AS (\S+)", text))
    names = re.findall(r"(?im)^FROM (\S+)", text) + re.findall(r"--from=(\S+)", text)
    resolved = {re.sub(r"\$\{(\w+)\}", lambda m: arguments.get(m[1], ""), name) for name in names}
    return {name for name in resolved if name and name not in stages}


def image_size(name: str) -> int:
    return int(docker("image", "inspect", "--format", "{{.Size}}", name))


def image_layers(name: str) -> list[str]:
    return docker(
        "image", "inspect", "--format", "{{range .RootFS.Layers}}{{.}} {{end}}", name
    ).split()


def added_layers(image: str, base: str) -> list[tuple[int, str]]:
    """The non-empty layers an image adds over its base, newest first: (bytes, instruction)."""
    rows = docker(
        "history", "--human=false", "--no-trunc", "--format", "{{.Size}}|{{.CreatedBy}}", image
    )
    added = rows.splitlines()[: -len(docker("history", "--quiet", base).splitlines())]
    layers = [(int(size), step) for size, step in (row.split("|", 1) for row in added)]
    return [(size, step) for size, step in layers if size]


def option_payload(layers: list[tuple[int, str]]) -> dict[str, int]:
    """Bytes of the layers an option exists to ship: uv (uv-run), the interpreter (uv-managed)."""
    payload: dict[str, int] = {}
    for size, step in layers:
        for name, instruction in PAYLOADS.items():
            if step.startswith(instruction):
                payload[name] = payload.get(name, 0) + size
    return payload


def runtime_base(name: str) -> str:
    """The candidate base image whose layers start the image's layers."""
    layers = image_layers(name)
    for base in RUNTIME_BASES:
        base_layers = image_layers(base)
        if layers[: len(base_layers)] == base_layers:
            return base
    raise RuntimeError(f"{name} is built on none of {', '.join(RUNTIME_BASES)}")


class Engine:
    """The images and containers this run creates, all removed by close()."""

    def __init__(self) -> None:
        self.images: set[str] = set()
        self.containers: set[str] = set()
        self.retries: list[str] = []  # builds tried again after a failed or stalled download
        self.waits: list[str] = []  # cold builds in which apt gave up on a connection once

    def build(self, variant: Variant, cold: bool = False) -> tuple[float, str]:
        """`docker build` the variant; (seconds, BuildKit's plain log).

        A cold build runs with --no-cache after emptying the engine's cache mounts (uv's and
        apt's downloads): it downloads and runs every step, while other projects' layer cache
        stays, and so do the cache mounts of their builds in progress. A build whose download
        fails or stalls (BUILD_TIMEOUT) is tried again from the same state, up to ATTEMPTS
        times; the figure is the attempt that completed, and the report names the builds that
        needed another.
        """
        dockerfile = ["--file", str(variant.dockerfile)] if variant.dockerfile else []
        cache = ("--no-cache",) if cold else ()
        command = ("build", "--progress=plain", *cache, "--tag", variant.tag, *dockerfile, ".")
        for attempt in range(1, ATTEMPTS + 1):
            if cold:
                docker("builder", "prune", "--all", "--force", "--filter", "type=exec.cachemount")
                time.sleep(COLD_SETTLE)
            started = time.perf_counter()
            try:
                result = docker_run(
                    *command, cwd=variant.context, timeout=BUILD_TIMEOUT, check=False
                )
            except subprocess.TimeoutExpired:
                failure = f"stalled for {BUILD_TIMEOUT} s"
            else:
                seconds = time.perf_counter() - started
                if result.returncode == 0:
                    break
                if attempt == ATTEMPTS or not DOWNLOAD_FAILED.search(result.stderr):
                    raise RuntimeError(
                        f"docker {' '.join(command)} failed in {variant.context}:\n"
                        f"{result.stderr[-4000:]}"
                    )
                failure = "a download failed: " + DOWNLOAD_FAILED.findall(result.stderr)[-1]
            if attempt == ATTEMPTS:
                raise RuntimeError(f"{variant.label}: build {failure}, {ATTEMPTS} times")
            self.retries.append(f"{variant.label} ({failure})")
            log(f"{variant.label}: build {failure}; trying again")
        self.images.add(docker("image", "inspect", "--format", "{{.Id}}", variant.tag).strip())
        if cold and re.search(r"(?m) Ign:\d+ http", result.stderr):
            self.waits.append(f"{variant.label} ({seconds:.1f} s)")
        return seconds, result.stderr  # BuildKit writes its progress to stderr

    def start(self, image: str) -> tuple[str, int, float]:
        """`docker run` on a loopback port; (container, port, seconds to the first 200)."""
        name = f"cus-bench-{RUN_ID}-{uuid.uuid4().hex[:6]}"
        port = free_port()
        self.containers.add(name)
        started = time.perf_counter()
        docker(
            "run",
            "--detach",
            "--name",
            name,
            "--publish",
            f"127.0.0.1:{port}:{SERVICE_PORT}",
            image,
        )
        checked = started + START_GRACE
        while (now := time.perf_counter()) < started + START_TIMEOUT:
            if health_status(port) == 200:
                return name, port, time.perf_counter() - started
            if now > checked:  # not before: `docker inspect` would slow the start it times
                checked = now + 1
                state = docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name)
                if not state.startswith("running"):
                    raise RuntimeError(
                        f"{image} stopped ({state.strip()}) before answering /health:\n"
                        + container_logs(name)
                    )
            time.sleep(0.01)
        raise RuntimeError(
            f"{image} never answered 200 on /health (127.0.0.1:{port}) within "
            f"{START_TIMEOUT:g} s; its logs (does it listen on 0.0.0.0?):\n" + container_logs(name)
        )

    def stop(self, name: str) -> float:
        started = time.perf_counter()
        docker("stop", name)
        seconds = time.perf_counter() - started
        self.remove_container(name)
        return seconds

    def remove_container(self, name: str) -> None:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True)
        self.containers.discard(name)

    def close(self, variants: list[Variant]) -> None:
        for name in list(self.containers):
            self.remove_container(name)
        for image in [variant.tag for variant in variants] + sorted(self.images):
            subprocess.run(["docker", "image", "rm", "--force", image], capture_output=True)


def container_logs(name: str) -> str:
    """The container's output, stdout and stderr interleaved, as `docker logs` shows them."""
    return subprocess.run(
        ["docker", "logs", name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ).stdout


def health_status(port: int) -> int | None:
    """The status of GET /health, or None while nothing answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = sock.recv(32)
    except OSError:
        return None
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return int(match.group(1)) if match else None


def idle_memory(name: str, settle: float = 3.0) -> int:
    """Bytes in use after `settle` seconds without requests (docker stats MemUsage)."""
    time.sleep(settle)
    usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name).split("/")[0]
    match = re.fullmatch(r"([\d.]+)\s*([KMG]?i?B)", usage.strip())
    if not match:
        raise RuntimeError(f"cannot read docker stats MemUsage {usage!r}")
    units = {
        "B": 1,
        "KiB": 2**10,
        "MiB": 2**20,
        "GiB": 2**30,
        "kB": 10**3,
        "MB": 10**6,
        "GB": 10**9,
    }
    return int(float(match.group(1)) * units[match.group(2)])


# ---------------------------------------------------------------- load


def load(port: int, seconds: float, limit: int) -> tuple[float, int, str]:
    """(requests/s, errors, tool) for GET /health over 16 keep-alive loopback connections."""
    if shutil.which("wrk"):
        rate, errors, _ = wrk(port, seconds)
        return rate, errors, "wrk"
    return (*asyncio.run(python_load(port, seconds, limit)), "python")


def wrk(
    port: int, seconds: float, path: str = "/health", connections: int = 16, threads: int = 1
) -> tuple[float, int, int]:
    """(requests/s, errors, requests) of wrk over keep-alive loopback connections."""
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "2s",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not rate:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    sockets = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = sum(int(n) for n in sockets.groups()) if sockets else 0
    done = re.search(r"(\d+) requests in", out)
    failed = errors + (int(non_2xx.group(1)) if non_2xx else 0)
    return float(rate.group(1)), failed, int(done.group(1)) if done else 0


async def python_load(port: int, seconds: float, limit: int) -> tuple[float, int]:
    """A small keep-alive load generator: stops at `seconds` or `limit` requests."""
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    done = errors = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def client() -> None:
        nonlocal done, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline and done + errors < limit:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                if head.startswith(b"HTTP/1.1 200"):
                    done += 1
                else:
                    errors += 1
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(16)))
    return done / (time.perf_counter() - started), errors


# ---------------------------------------------------------------- rendering


def snapshot_template(destination: Path) -> Path:
    """This checkout's template files as a one-commit git repository (like pytest-copier)."""
    destination.mkdir()
    for name in ("copier.yml", "includes", "template", "hooks"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(source, destination / name)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    for command in (["init", "--quiet"], ["add", "--all"], ["commit", "--quiet", "-m", "bench"]):
        subprocess.run([*git, *command], cwd=destination, check=True, capture_output=True)
    subprocess.run([*git, "tag", "99.99.99"], cwd=destination, check=True)
    return destination


def render(template: Path, destination: Path, environment: dict[str, str], **data: str) -> float:
    """`copier copy --trust --defaults`, the post-render hook (uv lock, git init) included.

    A render whose hook could not lock (PyPI did not answer) or that stalls is tried again.
    """
    copier = Path(sys.executable).parent / "copier"
    answers = [
        f"--data={key}={value}" for key, value in {"python_version": PYTHON_VERSION, **data}.items()
    ]
    command = [str(copier), "copy", "--trust", "--defaults", "--quiet", *answers]
    for attempt in range(1, ATTEMPTS + 1):
        shutil.rmtree(destination, ignore_errors=True)
        started = time.perf_counter()
        try:
            subprocess.run(
                [*command, str(template), str(destination)],
                env={**os.environ, **environment},
                check=True,
                timeout=BUILD_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            failure = f"stalled for {BUILD_TIMEOUT} s"
        else:
            seconds = time.perf_counter() - started
            if (destination / "uv.lock").is_file():
                return seconds
            failure = "wrote no uv.lock (see the hook's warning above)"
        log(f"render of {destination.name} {failure}" + ("; trying again" * (attempt < ATTEMPTS)))
    raise RuntimeError(f"the render of {destination} {failure}, {ATTEMPTS} times")


# ---------------------------------------------------------------- variants and figures


@dataclass
class Variant:
    label: str
    key: str
    context: Path
    dockerfile: Path | None = None  # None: the context's own Dockerfile
    is_template: bool = False
    cold: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    unchanged: list[float] = field(default_factory=list)  # rebuilds with nothing changed
    reinstalled: int = 0  # most packages one warm rebuild installed
    bytes_over_base: int = 0
    payload: dict[str, int] = field(default_factory=dict)  # see option_payload()
    base: str = ""
    first_200: list[float] = field(default_factory=list)
    stop: list[float] = field(default_factory=list)
    memory: int = 0
    rate: float = 0.0
    errors: int = 0

    @property
    def dockerfile_path(self) -> Path:
        return self.dockerfile or self.context / "Dockerfile"

    @property
    def tag(self) -> str:
        return f"cus-bench-{self.key}:{RUN_ID}"


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def installed_packages(log: str) -> int:
    """The most packages one `uv sync` of the build installed (1: only the project)."""
    counts = [int(n) for n in re.findall(r"Installed (\d+) packages? in", log)]
    return max(counts, default=0)


def edit_source(context: Path, run: int) -> None:
    """A one-line source change, unlike any earlier run's: the engine's cache has those."""
    with (context / SOURCE_FILE).open("a") as source:
        source.write(f"# benchmark edit {RUN_ID} {run}\n")


# ---------------------------------------------------------------- report


def ratio(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return ""
    return f" ({value / reference:.2f}x)"


def cell(value: float | None, reference: float | None, digits: int = 2, mark: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}{ratio(value, reference)}{mark}"


def verdict(met: bool) -> str:
    return " ✓" if met else " ✗"


@dataclass
class Targets:
    """Met/missed, per template variant, with the figure that decides it."""

    rows: dict[str, dict[str, tuple[bool, str]]] = field(default_factory=dict)
    # The same verdicts by the main table's column (cold, warm, bytes, first, stop) and variant.
    by_column: dict[tuple[str, str], bool] = field(default_factory=dict)

    def check(self, column: str, target: str, variant: str, met: bool, figure: str) -> None:
        self.rows.setdefault(target, {})[variant] = (met, figure)
        self.by_column[column, variant] = met

    def ratio(
        self,
        column: str,
        target: str,
        variant: str,
        value: float | None,
        reference: float | None,
        most: float,
    ) -> None:
        """A target of at most `most` times the reference's figure, when both were measured."""
        if value is not None and reference:
            self.check(
                column,
                f"{target} ≤ {most:g}x reference",
                variant,
                value / reference <= most,
                f"{value / reference:.2f}x",
            )

    def mark(self, column: str, variant: str) -> str:
        """✓ or ✗ for the main table's cell, or nothing where no target was judged."""
        met = self.by_column.get((column, variant))
        return "" if met is None else verdict(met)


def report_head(machine: str, summary: str, columns: str) -> list[str]:
    """A bench report's first lines: the run, what its figures are, a table's header (its
    columns as `a | b | c`)."""
    return [
        f"Run {machine}.",
        "",
        summary,
        "",
        f"| {columns} |",
        "|" + "---|" * (columns.count("|") + 1),
    ]


def evaluate(variants: list[Variant], reference: Variant) -> Targets:
    targets = Targets()
    ref_first = median(reference.first_200)
    ref_cold = median(reference.cold)
    for v in variants:
        if not v.is_template:
            continue
        targets.ratio("cold", "cold build", v.label, median(v.cold), ref_cold, TARGET_COLD_RATIO)
        bytes_ratio = v.bytes_over_base / reference.bytes_over_base
        figure = f"{bytes_ratio:.2f}x"
        if v.payload:
            rest = (v.bytes_over_base - sum(v.payload.values())) / reference.bytes_over_base
            shipped = " and ".join(
                f"{name} ({size / 1e6:.1f} MB)" for name, size in v.payload.items()
            )
            figure += f"; {rest:.2f}x without {shipped}"
        targets.check(
            "bytes",
            f"bytes over base ≤ {TARGET_BYTES_RATIO:g}x reference",
            v.label,
            bytes_ratio <= TARGET_BYTES_RATIO,
            figure,
        )
        warm = median(v.warm)
        if warm is not None:
            targets.check(
                "warm",
                f"warm rebuild ≤ {TARGET_WARM_SECONDS:g} s, no dependency reinstall",
                v.label,
                warm <= TARGET_WARM_SECONDS and v.reinstalled <= 1,
                f"{warm:.2f} s, {v.reinstalled} pkg",
            )
        first = median(v.first_200)
        targets.ratio("first", "first 200", v.label, first, ref_first, TARGET_FIRST_200_RATIO)
        stop = median(v.stop)
        if stop is not None:
            targets.check(
                "stop",
                f"stop ≤ {TARGET_STOP_SECONDS:g} s",
                v.label,
                stop <= TARGET_STOP_SECONDS,
                f"{stop:.2f} s",
            )
    return targets


def report(
    variants: list[Variant],
    renders: list[float],
    machine: str,
    tool: str,
    runs: int,
    retries: list[str],
    waits: list[str],
) -> str:
    reference = next(v for v in variants if v.key == "reference")
    ref = {
        "cold": median(reference.cold),
        "warm": median(reference.warm),
        "unchanged": median(reference.unchanged),
        "bytes": reference.bytes_over_base / 1e6,
        "first": median(reference.first_200),
        "stop": median(reference.stop),
        "memory": reference.memory / 2**20,
        "rate": reference.rate,
    }
    targets = evaluate(variants, reference)
    lines = report_head(
        machine,
        f"Medians of {runs} runs (cold builds: {len(reference.cold) or 'no'} run(s) each); "
        f"(x) = ratio to the reference; ✓/✗ = the template's target met/missed.",
        "image | cold build s | warm rebuild s | unchanged rebuild s | pkgs installed on rebuild "
        "| MB over base | first 200 s | stop s | idle MiB | req/s (errors)",
    )
    for v in variants:
        cold, warm = median(v.cold), median(v.warm)
        first, stop = median(v.first_200), median(v.stop)
        bytes_mb = v.bytes_over_base / 1e6
        cells = [
            f"{v.label} (on {v.base})",
            cell(cold, ref["cold"], 1, targets.mark("cold", v.label)),
            cell(warm, ref["warm"], 2, targets.mark("warm", v.label)),
            cell(median(v.unchanged), ref["unchanged"], 2),
            f"{v.reinstalled}{targets.mark('warm', v.label)}",
            cell(bytes_mb, ref["bytes"], 1, targets.mark("bytes", v.label)),
            cell(first, ref["first"], 2, targets.mark("first", v.label)),
            cell(stop, ref["stop"], 2, targets.mark("stop", v.label)),
            cell(v.memory / 2**20, ref["memory"], 1),
            f"{v.rate:.0f}{ratio(v.rate, ref['rate'])} ({v.errors})",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    render_time = median(renders)
    assert render_time is not None
    lines += [
        "",
        f"`copier copy` + post-render hook (uv lock, git init), defaults: {render_time:.2f} s "
        f"(median of {len(renders)}; target ≤ {TARGET_RENDER_SECONDS:g} s:"
        f"{verdict(render_time <= TARGET_RENDER_SECONDS)}). Load: {tool}, 16 connections on "
        "127.0.0.1 through Docker's port publishing."
        + (
            f" Builds tried again after a failed or stalled download: {'; '.join(retries)}."
            if retries
            else ""
        )
        + (
            " Cold builds in which apt gave up on a mirror connection and tried again (`Ign:` in"
            f" its log; counted in the medians): {'; '.join(waits)}."
            if waits
            else ""
        ),
        "",
        "| target | " + " | ".join(v.label for v in variants if v.is_template) + " |",
        "|---|" + "---|" * sum(v.is_template for v in variants),
    ]
    for target, results in targets.rows.items():
        row = [
            f"{'met' if results[v.label][0] else '**missed**'} ({results[v.label][1]})"
            if v.label in results
            else "-"
            for v in variants
            if v.is_template
        ]
        lines.append(f"| {target} | " + " | ".join(row) + " |")
    lines.append(
        f"| render + lock ≤ {TARGET_RENDER_SECONDS:g} s | "
        + ("met" if render_time <= TARGET_RENDER_SECONDS else "**missed**")
        + f" ({render_time:.2f} s, defaults) |"
        + " |" * (sum(v.is_template for v in variants) - 1)
    )
    return "\n".join(lines) + "\n"


def write_block(begin: str, end: str, body: str, heading: str = "") -> None:
    """Replace the text between two markers in BENCHMARKS.md, or append it under `heading`."""
    text = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n"
    block = f"{begin}\n{body}{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + heading + block + "\n"
    REPORT.write_text(text)


def write_report(table: str) -> None:
    """Replace the benchmark table between its markers in BENCHMARKS.md (or append it)."""
    write_block(BEGIN, END, table)


def machine_description() -> str:
    memory = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    engine = docker("version", "--format", "{{.Server.Version}}").strip()
    load = os.getloadavg()
    busy = (
        " (busier than its cores: other work shared the machine, so the figures are noisy;"
        " compare ratios within this run)"
        if load[0] > (os.cpu_count() or 1)
        else ""
    )
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, "
        f"{memory / 2**30:.1f} GiB, Docker Engine {engine}; load average at start "
        + ", ".join(f"{value:.1f}" for value in load)
        + busy
    )


# ---------------------------------------------------------------- main


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


@contextmanager
def workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cus-bench-") as directory:
        yield Path(directory)


def measure(
    args: argparse.Namespace, work: Path, engine: Engine, variants: list[Variant]
) -> tuple[list[float], str]:
    settings = work / "copier-settings.yml"
    settings.write_text("{}\n")
    environment = tool_environment(settings)
    template = snapshot_template(work / "template")

    renders = []
    for run in range(args.runs):
        renders.append(render(template, work / f"defaults-{run}", environment))
        log(f"render {run + 1}: {renders[-1]:.2f} s")
    default = work / "defaults-0"
    for source, entrypoint in (
        ("image", "venv"),
        ("image", "uv-run"),
        ("uv-managed", "venv"),
        ("uv-managed", "uv-run"),
    ):
        key = f"{source}-{entrypoint}"
        context = default if key == "image-venv" else work / key
        if key != "image-venv":
            render(template, context, environment, python_source=source, entrypoint=entrypoint)
        variants.append(
            Variant(f"template {source}/{entrypoint}", f"tpl-{key}", context, is_template=True)
        )
    for key, label in (("reference", "uv reference multistage"), ("naive", "naive single-stage")):
        context = work / key
        shutil.copytree(default, context, symlinks=True)
        variants.append(Variant(label, key, context, BENCH / f"{key}.Dockerfile"))

    for image in sorted(
        set(RUNTIME_BASES).union(*(images_named(v.dockerfile_path) for v in variants))
    ):
        ensure_image(image)
    for variant in variants:
        seconds, _ = engine.build(variant)
        log(f"{variant.label}: first build: {seconds:.1f} s")
        variant.base = runtime_base(variant.tag)
        variant.bytes_over_base = image_size(variant.tag) - image_size(variant.base)
        layers = added_layers(variant.tag, variant.base)
        if variant.is_template:
            variant.payload = option_payload(layers)
        log(
            f"{variant.label}: over {variant.base}: "
            + "; ".join(f"{size / 1e6:.1f} MB {step[:60]}" for size, step in layers)
        )
        for run in range(args.runs):
            edit_source(variant.context, run)
            seconds, build_log = engine.build(variant)
            variant.warm.append(seconds)
            variant.reinstalled = max(variant.reinstalled, installed_packages(build_log))
            variant.unchanged.append(engine.build(variant)[0])
            log(f"{variant.label}: warm rebuild {run + 1}: {seconds:.2f} s")
    # Cold builds in rounds, each image once per round: drift in the machine's load and the
    # network's speed hits the template's images and the reference alike. The naive image's
    # come after all rounds: its ~100 MB from the Debian mirror slowed the next image's apt
    # to ~115 kB/s here (the mirror's proxy throttles), which no image of the template causes.
    rotation = [variant for variant in variants if variant.key != "naive"]
    for run in range(args.cold_runs):
        for variant in rotation[run % len(rotation) :] + rotation[: run % len(rotation)]:
            seconds, _ = engine.build(variant, cold=True)
            variant.cold.append(seconds)
            log(f"{variant.label}: cold build {run + 1}: {seconds:.1f} s")
    for variant in variants:
        for run in range(args.cold_runs if variant not in rotation else 0):
            seconds, _ = engine.build(variant, cold=True)
            variant.cold.append(seconds)
            log(f"{variant.label}: cold build {run + 1}: {seconds:.1f} s")

    tool = ""
    for run in range(args.runs):  # round-robin, so drift in the machine's load hits all alike
        for variant in variants:
            name, port, seconds = engine.start(variant.tag)
            variant.first_200.append(seconds)
            if run == 0:
                variant.memory = idle_memory(name)
                variant.rate, variant.errors, tool = load(port, args.load_seconds, args.load_limit)
            variant.stop.append(engine.stop(name))
            stopped = variant.stop[-1]
            log(f"{variant.label}: run {run + 1}: first 200 {seconds:.2f} s, stop {stopped:.2f} s")
    return renders, tool


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="warm rebuilds, starts and renders (3)")
    parser.add_argument(
        "--cold-runs", type=int, default=3, help="rounds of cold builds; 0 skips the prune (3)"
    )
    parser.add_argument("--load-seconds", type=float, default=3.0, help="load test length (3)")
    parser.add_argument(
        "--load-limit", type=int, default=50_000, help="most requests of the Python load generator"
    )
    parser.add_argument(
        "--no-write", action="store_true", help=f"print only; leave {REPORT.name} alone"
    )
    args = parser.parse_args()

    machine = machine_description()
    engine = Engine()
    variants: list[Variant] = []
    started = time.perf_counter()
    try:
        with workspace() as work:
            renders, tool = measure(args, work, engine, variants)
    finally:
        engine.close(variants)
    table = report(variants, renders, machine, tool, args.runs, engine.retries, engine.waits)
    print(table)
    if not args.no_write:
        write_report(table)
        log(f"wrote {REPORT.relative_to(ROOT)}")
    log(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
