"""What JSON logs and Prometheus metrics cost under load: wrk against the default image.

    apt-get install -y wrk    # Debian/Ubuntu; brew install wrk on macOS
    python3 scripts/uvw.py run --locked python -m bench.wrk_load [--seconds 10] [--no-write]

Renders the template's defaults (Python 3.13) twice with real copier from this checkout: as
they are (metrics on; the image sets LOG_FORMAT=json) and with metrics=false, run with
LOG_FORMAT=text. Builds both images and, one container at a time on a loopback port, runs
`wrk` with 64 connections for `--seconds` against GET /health (metrics recorded, no access
line: successful probes are not logged) and GET /openapi.json (an access line and metrics per
request), alternating on and off. Reports requests/s, errors (socket errors and non-2xx), the
container's CPU time per request, idle memory (docker stats) and image bytes, and writes them
into BENCHMARKS.md between the `wrk:` markers. Every container and image it creates is removed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field

from bench.run import (
    PYTHON_VERSION,
    REPORT,
    ROOT,
    SERVICE_PORT,
    Engine,
    Variant,
    docker,
    health_status,
    idle_memory,
    image_size,
    log,
    machine_description,
    render,
    snapshot_template,
    workspace,
    write_block,
    wrk,
)
from tests.support import free_port, tool_environment

BEGIN, END = "<!-- wrk:begin -->", "<!-- wrk:end -->"
CONNECTIONS = 64
PATHS = ("/health", "/openapi.json")
TARGET_RATIO = 0.85


@dataclass
class Setup:
    label: str
    variant: Variant
    environment: tuple[str, ...]
    memory: int = 0
    size: int = 0
    rates: dict[str, list[float]] = field(default_factory=dict)  # one per round
    errors: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # CPU microseconds per request


def cpu_seconds(name: str) -> float:
    """CPU time the container has used so far (its cgroup's, v2 or v1)."""
    read = "cat /sys/fs/cgroup/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpuacct/cpuacct.usage"
    out = docker("exec", name, "sh", "-c", read)
    usage = re.search(r"usage_usec (\d+)", out)
    return int(usage.group(1)) / 1e6 if usage else int(out.split()[0]) / 1e9


def start(engine: Engine, setup: Setup) -> tuple[str, int]:
    """`docker run` the setup's image on a loopback port; wait for its first 200."""
    name = f"cus-wrk-{uuid.uuid4().hex[:8]}"
    port = free_port()
    engine.containers.add(name)
    publish, image = f"127.0.0.1:{port}:{SERVICE_PORT}", setup.variant.tag
    docker("run", "--detach", "--name", name, "--publish", publish, *setup.environment, image)
    deadline = time.monotonic() + 60
    while health_status(port) != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{setup.label} never answered 200 on /health within 60 s")
        time.sleep(0.05)
    return name, port


def table(setups: list[Setup], machine: str, seconds: float, rounds: int) -> str:
    on, off = setups
    rate = {(setup.label, p): statistics.median(setup.rates[p]) for setup in setups for p in PATHS}
    cpu = {(setup.label, p): statistics.median(setup.cpu[p]) for setup in setups for p in PATHS}
    lines = [
        f"Measured {machine}. `wrk -t2 -c{CONNECTIONS} -d{seconds:g}s` on loopback, one "
        f"container at a time, the default image (Python {PYTHON_VERSION}, one worker); "
        f"requests/s are the median of {rounds} rounds (on/off, then off/on), errors their sum.",
        "",
        "| image | "
        + " | ".join(f"`{path}` req/s (errors) | CPU per request" for path in PATHS)
        + " | idle memory | image bytes |",
        "|---|" + "---:|" * (2 * len(PATHS) + 2),
    ]
    for setup in setups:
        rates = " | ".join(
            f"{rate[setup.label, p]:,.0f} ({setup.errors[p]}) | {cpu[setup.label, p]:.0f} µs"
            for p in PATHS
        )
        lines.append(
            f"| {setup.label} | {rates} | {setup.memory / 2**20:.1f} MiB | {setup.size:,} |"
        )
    ratio = {p: rate[on.label, p] / rate[off.label, p] for p in PATHS}
    ratios = ", ".join(f"`{p}` {ratio[p]:.2f}x" for p in PATHS)
    costs = ", ".join(f"`{p}` {cpu[on.label, p] / cpu[off.label, p]:.2f}x" for p in PATHS)
    met = all(ratio[p] >= TARGET_RATIO for p in PATHS)
    clean = not any(setup.errors[p] for setup in setups for p in PATHS)
    lines += [
        "",
        f"On / off: {ratios} (target >= {TARGET_RATIO}x: {'met' if met else 'MISSED'}); "
        f"errors: {'none' if clean else 'SOME'}. CPU per request on / off: {costs} (the "
        "container's CPU time over the requests wrk completed; less sensitive than req/s to "
        "other work on the machine).",
    ]
    return "\n".join(lines) + "\n"


def write_report(text: str) -> None:
    """Replace the text between the wrk: markers in BENCHMARKS.md (or append a section)."""
    write_block(BEGIN, END, text, heading="## Logs and metrics under load\n\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="each wrk run (10)")
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per image and path (3)")
    parser.add_argument(
        "--no-write", action="store_true", help=f"print only; leave {REPORT.name} alone"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        log("wrk is not installed: apt-get install -y wrk (Debian, Ubuntu) or brew install wrk")
        return 2
    machine = machine_description()
    engine = Engine()
    variants: list[Variant] = []
    try:
        with workspace() as work:
            settings = work / "copier-settings.yml"
            settings.write_text("{}\n")
            environment = tool_environment(settings)
            template = snapshot_template(work / "template")
            setups = []
            for key, metrics, log_format in (("on", "true", "json"), ("off", "false", "text")):
                context = work / key
                render(template, context, environment, metrics=metrics)
                variant = Variant(f"metrics {key}", f"wrk-{key}", context)
                variants.append(variant)
                seconds, _ = engine.build(variant)
                log(f"{variant.label}: built in {seconds:.0f} s")
                label = f"JSON logs, metrics ({key})" if key == "on" else "text logs, no metrics"
                setups.append(Setup(label, variant, ("--env", f"LOG_FORMAT={log_format}")))
            for setup in setups:
                setup.size = image_size(setup.variant.tag)
            for round_ in range(args.rounds):  # on/off, then off/on: load drift hits both
                for path in PATHS:
                    for setup in setups if round_ % 2 == 0 else setups[::-1]:
                        name, port = start(engine, setup)
                        if not setup.memory:
                            setup.memory = idle_memory(name)
                        wrk(port, 2, path, CONNECTIONS, threads=2)  # warm up
                        used = cpu_seconds(name)
                        rate, errors, requests = wrk(
                            port, args.seconds, path, CONNECTIONS, threads=2
                        )
                        used = cpu_seconds(name) - used
                        setup.rates.setdefault(path, []).append(rate)
                        setup.cpu.setdefault(path, []).append(used / max(requests, 1) * 1e6)
                        setup.errors[path] = setup.errors.get(path, 0) + errors
                        cpu = setup.cpu[path][-1]
                        figures = f"{rate:,.0f} req/s, {cpu:.0f} us CPU per request"
                        log(f"{setup.label} {path}: round {round_ + 1}: {figures}")
                        engine.remove_container(name)
    finally:
        engine.close(variants)
    text = table(setups, machine, args.seconds, args.rounds)
    print(text)
    if not args.no_write:
        write_report(text)
        log(f"wrote {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
