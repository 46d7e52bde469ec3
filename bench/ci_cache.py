"""Benchmark a CI image build with the BuildKit cache against one without, as a runner sees it.

    python3 scripts/uvw.py run --locked python -m bench.ci_cache [--runs 2]

A CI runner starts with an empty engine; the cache CI configures (GitHub's type=gha, GitLab's
registry cache) hands it the cache an earlier build exported. This bench stands in for that on
one machine, leaving the shared engine and its build cache alone: it starts private dockerd
instances (containerd image store, which can export a cache), each with an empty data root,
and for each run:

- cold: a fresh engine builds the rendered defaults as docker-bake.hcl's image target with no
  cache options (as publishing does); another builds it and exports the build cache
  (`--cache-to type=local,mode=max`, what CI's cache-to does);
- warm: another fresh engine, after a one-line source change (a typical pull request), builds
  with `--cache-from type=local` from that export (what CI's cache-from does).

The base images are loaded into each fresh engine before the clock starts (a runner pulls them
either way). The private engines share a bridge of this run's own, never docker0 (dockerd with
`"bridge": "none"` would delete the shared engine's docker0 as it starts), and builds use the
host's network. Rewrites its block in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bench.run import edit_source, images_named, median, render, snapshot_template, write_block
from tests.support import bake_build_options, bake_definition, tool_environment

DOCKERD = Path(os.environ.get("BENCH_DOCKERD", "/opt/docker-engine/bin/dockerd"))
# The private engines' bridge: its own name and an address from the benchmarking range
# (RFC 2544), so it clashes with neither docker0 nor a network the host routes to.
BRIDGE = f"cus-ci{os.getpid() % 10**8}"
BRIDGE_ADDRESS = f"198.18.{os.getpid() % 250 + 1}.1/24"
BEGIN, END = "<!-- ci-cache:begin -->", "<!-- ci-cache:end -->"
HEADING = """## CI image builds with a cache

`python -m bench.ci_cache` builds the rendered defaults as a fresh CI runner does: cold (an
empty engine, exporting its build cache) and warm after a one-line source change (another empty
engine, importing that cache), on private dockerd instances that leave the shared engine's build
cache alone.

"""


def log(message: str) -> None:
    print(f"[ci_cache] {message}", file=sys.stderr, flush=True)


@contextmanager
def private_bridge() -> Iterator[str]:
    """A bridge for the private engines, removed afterwards; its name."""
    subprocess.run(["ip", "link", "add", "name", BRIDGE, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "address", "add", BRIDGE_ADDRESS, "dev", BRIDGE], check=True)
        subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
        yield BRIDGE
    finally:
        subprocess.run(["ip", "link", "delete", BRIDGE], check=False)


def daemon_config(bridge: str) -> str:
    """dockerd's settings: containerd's image store, the given bridge, no iptables rules and
    no port publishing (no docker-proxy)."""
    return json.dumps(
        {
            "features": {"containerd-snapshotter": True},
            "bridge": bridge,
            "iptables": False,
            "ip6tables": False,
            "userland-proxy": False,
        }
    )


@contextmanager
def fresh_engine(work: Path, images: set[str], bridge: str) -> Iterator[dict[str, str]]:
    """A private dockerd with an empty data root, holding `images`; its environment for docker."""
    root = Path(tempfile.mkdtemp(prefix="engine-", dir=work))
    (root / "daemon.json").write_text(daemon_config(bridge))
    socket_path = root / "docker.sock"
    command = [
        str(DOCKERD),
        *("--config-file", str(root / "daemon.json")),
        *("--data-root", str(root / "data"), "--exec-root", str(root / "exec")),
        *("--pidfile", str(root / "dockerd.pid"), "--host", f"unix://{socket_path}"),
    ]
    environment = {**os.environ, "DOCKER_HOST": f"unix://{socket_path}"}
    environment["PATH"] = f"{DOCKERD.parent}{os.pathsep}{environment['PATH']}"
    with (root / "dockerd.log").open("w") as daemon_log:
        daemon = subprocess.Popen(
            command, stdout=daemon_log, stderr=subprocess.STDOUT, env=environment
        )
    try:
        deadline = time.monotonic() + 60
        while not answers(socket_path):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start: {(root / 'dockerd.log').read_text()}")
            time.sleep(0.5)
        with subprocess.Popen(["docker", "save", *sorted(images)], stdout=subprocess.PIPE) as saved:
            subprocess.run(
                ["docker", "load", "--quiet"], stdin=saved.stdout, env=environment, check=True
            )
        if saved.returncode != 0:
            raise RuntimeError(f"docker save {images} failed")
        yield environment
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def answers(socket_path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as client:
        try:
            client.connect(str(socket_path))
        except OSError:
            return False
        return True


def build(project: Path, environment: dict[str, str], *cache: str) -> float:
    """Seconds for docker-bake.hcl's image target, built as `docker buildx build`."""
    (target,) = bake_definition(project, {}).values()
    command = [
        *("docker", "buildx", "build", "--network", "host", "--progress", "plain"),
        *bake_build_options(target),
        *cache,
        *("--tag", "bench-ci-cache:latest", "."),
    ]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=project, env=environment, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="cold/warm pairs (2)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if not DOCKERD.is_file():
        log(f"no dockerd at {DOCKERD} (set BENCH_DOCKERD): nothing measured")
        return 1

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    plain: list[float] = []
    cold: list[float] = []
    warm: list[float] = []
    cache_bytes = 0
    with (
        tempfile.TemporaryDirectory(prefix="bench-ci-cache-", dir="/tmp") as folder,
        private_bridge() as bridge,
    ):
        work = Path(folder)
        settings = work / "copier-settings.yml"
        settings.write_text("{}\n")
        template = snapshot_template(work / "template")
        project = work / "service"
        render(template, project, tool_environment(settings))
        images = images_named(project / "Dockerfile")
        for run in range(args.runs):
            cache = work / f"cache-{run}"
            with fresh_engine(work, images, bridge) as engine:
                plain.append(build(project, engine))
            with fresh_engine(work, images, bridge) as engine:
                cold.append(build(project, engine, f"--cache-to=type=local,dest={cache},mode=max"))
            cache_bytes = sum(path.stat().st_size for path in cache.rglob("*") if path.is_file())
            edit_source(project, run)
            with fresh_engine(work, images, bridge) as engine:
                warm.append(build(project, engine, f"--cache-from=type=local,src={cache}"))
            log(f"run {run + 1}: {plain[-1]:.1f} s, {cold[-1]:.1f} s, warm {warm[-1]:.1f} s")

    cold_median, warm_median = median(cold), median(warm)
    plain_median = median(plain)
    assert cold_median is not None
    assert warm_median is not None
    assert plain_median is not None
    body = (
        f"Run {when} on {os.cpu_count()} cores; load average at start {load}. "
        f"Median of {args.runs}.\n\n"
        "| build on a fresh engine | seconds | vs cold |\n|---|---|---|\n"
        f"| cold, no cache options (publishing) | {plain_median:.1f} | 1.00x |\n"
        f"| cold, exporting the cache (`--cache-to type=local,mode=max`) | {cold_median:.1f} "
        f"| {cold_median / plain_median:.2f}x |\n"
        f"| warm after a one-line source change (`--cache-from type=local`) | "
        f"{warm_median:.1f} | {warm_median / plain_median:.2f}x |\n\n"
        f"The exported cache holds {cache_bytes / 1e6:.0f} MB (what CI stores and downloads). "
        "Here it is read from a local disk; GitHub's and GitLab's caches add its download.\n"
    )
    print(body)
    if not args.no_write:
        write_block(BEGIN, END, body, HEADING)
        log("wrote BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
