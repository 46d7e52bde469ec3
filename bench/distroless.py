"""Benchmark the distroless runtime against Debian slim, both with uv-managed Python.

    python3 scripts/uvw.py run --locked python -m bench.distroless [--runs 3]

Renders python_source=uv-managed (Python 3.13, trixie) with runtime_base slim and distroless,
each with entrypoint venv and uv-run, builds the four images on the local Docker engine and
measures, in one run: total image bytes, bytes over the runtime base, `docker run` to the first
200 on /health, `docker stop`, idle memory, and the ELF programs and shared libraries in the
image. It also measures the interpreter tree (/opt/python) as uv installs it and as the runtime
gets it, trimmed. Writes a block into BENCHMARKS.md (bench.run.write_block). Every image and
container it creates is removed; base images are kept.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.run import (
    ROOT,
    Engine,
    Variant,
    docker,
    ensure_image,
    idle_memory,
    image_size,
    log,
    machine_description,
    median,
    render,
    report_head,
    snapshot_template,
    workspace,
    write_block,
)
from tests.support import elf_files, tool_environment

BEGIN, END = "<!-- bench-distroless:begin -->", "<!-- bench-distroless:end -->"
HEADING = "## Distroless runtime\n\n"
BASES = {"slim": "debian:trixie-slim", "distroless": "gcr.io/distroless/cc-debian13"}
# Seed 002's size target for an image on a slim base.
TARGET_BYTES = 150e6
# The debian:*-slim stand-in carries an offline Python mirror (../shared/docker/provision.sh)
# that the real image has not: its size without it estimates the real base.
STAND_IN_MIRROR = "/opt/standin-python-mirror"
# Published sizes of the real bases (amd64, on disk), with where they are published. The
# distroless project publishes no size for cc-debian13: its stand-in, built from the same
# Debian packages, is the only figure.
PUBLISHED_BASES = {
    "slim": (
        78.64e6,
        "`debian:trixie-slim` ~78.64 MB (docker-library/repo-info, repos/debian/local/"
        "13-slim.md, image of 2026-08-24)",
    ),
}
TREE_BYTES = """
import os, sys
print(sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(sys.argv[1]) for f in fs))
"""


@dataclass
class Image:
    variant: Variant
    runtime_base: str
    entrypoint: str
    total: int = 0
    over_base: int = 0
    programs: int = 0
    libraries: int = 0
    first_200: list[float] = field(default_factory=list)
    stop: list[float] = field(default_factory=list)
    memory: int = 0


def tree_bytes(image: str, python: str, path: str) -> int:
    """Bytes of the regular files and links under `path` in the image, by its own Python."""
    output = docker("run", "--rm", "--entrypoint", python, image, "-c", TREE_BYTES, path)
    return int(output)


def stand_in_mirror_bytes(base: str) -> int:
    """The size of the stand-in's Python mirror; 0 for a real debian:*-slim, which has none."""
    found = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "du", base, "-sb", STAND_IN_MIRROR],
        capture_output=True,
        text=True,
        check=False,
    )
    return int(found.stdout.split()[0]) if found.returncode == 0 else 0


def measure(
    args: argparse.Namespace, work: Path, engine: Engine
) -> tuple[list[Image], dict[str, int]]:
    settings = work / "copier-settings.yml"
    settings.write_text("{}\n")
    environment = tool_environment(settings)
    template = snapshot_template(work / "template")
    for base in BASES.values():
        ensure_image(base)

    images = []
    for runtime_base in BASES:
        for entrypoint in ("venv", "uv-run"):
            key = f"{runtime_base}-{entrypoint}"
            context = work / key
            render(
                template,
                context,
                environment,
                python_source="uv-managed",
                runtime_base=runtime_base,
                entrypoint=entrypoint,
            )
            variant = Variant(
                f"{runtime_base}/{entrypoint}", f"dl-{key}", context, is_template=True
            )
            images.append(Image(variant, runtime_base, entrypoint))

    trees: dict[str, int] = {}
    for image in images:
        seconds, _ = engine.build(image.variant)
        tag = image.variant.tag
        log(f"{image.variant.label}: built in {seconds:.1f} s")
        image.total = image_size(tag)
        image.over_base = image.total - image_size(BASES[image.runtime_base])
        found = elf_files(tag)
        image.programs = sum(kind == "program" for kind in found.values())
        image.libraries = sum(kind == "library" for kind in found.values())
        if "installed" not in trees:
            deps = f"{tag}-deps"
            docker(
                "build",
                "--quiet",
                "--target",
                "deps",
                "--tag",
                deps,
                ".",
                cwd=image.variant.context,
            )
            engine.images.add(deps)
            trees["installed"] = tree_bytes(deps, "/opt/venv/bin/python", "/opt/python")
            trees["trimmed"] = tree_bytes(tag, "/opt/venv/bin/python", "/opt/python")

    for run in range(args.runs):  # round-robin, so drift in the machine's load hits all alike
        for image in images:
            name, _, seconds = engine.start(image.variant.tag)
            image.first_200.append(seconds)
            if run == 0:
                image.memory = idle_memory(name)
            image.stop.append(engine.stop(name))
            log(f"{image.variant.label}: run {run + 1}: first 200 {seconds:.2f} s")
    return images, trees


def report(images: list[Image], trees: dict[str, int], machine: str, runs: int, mirror: int) -> str:
    slim_base = image_size(BASES["slim"])
    distroless_base = image_size(BASES["distroless"])
    lines = report_head(
        machine,
        f"uv-managed Python 3.13 on trixie; medians of {runs} starts; MB = 10⁶ bytes. Bases are "
        "this machine's stand-ins (../shared/docker/provision.sh), so compare bytes over base.",
        "runtime/entrypoint | total MB (stand-in base) | MB over base | first 200 s | stop s "
        "| idle MiB | ELF programs | shared libraries",
    )
    for image in images:
        first, stop = median(image.first_200), median(image.stop)
        lines.append(
            f"| {image.variant.label} | {image.total / 1e6:.1f} | {image.over_base / 1e6:.1f} "
            f"| {first:.2f} | {stop:.2f} | {image.memory / 2**20:.1f} | {image.programs} "
            f"| {image.libraries} |"
        )
    saved = trees["installed"] - trees["trimmed"]
    estimate = slim_base - mirror
    lines += [
        "",
        f"Interpreter tree (/opt/python): {trees['installed'] / 1e6:.1f} MB as `uv python install` "
        f"leaves it, {trees['trimmed'] / 1e6:.1f} MB trimmed in the runtime: "
        f"{saved / 1e6:.1f} MB saved in both runtimes.",
        "",
        f"Seed 002's < {TARGET_BYTES / 1e6:.0f} MB target, total = MB over base + the base:",
        "",
        "| runtime/entrypoint | with the stand-in base | with the stand-in base less its "
        "mirror | with the published base | target |",
        "|---|---|---|---|---|",
    ]
    for image in images:
        estimate_total = image.over_base + (
            estimate if image.runtime_base == "slim" else distroless_base
        )
        published = PUBLISHED_BASES.get(image.runtime_base)
        best = estimate_total if published is None else image.over_base + published[0]
        lines.append(
            f"| {image.variant.label} | {image.total / 1e6:.1f} MB "
            f"| {estimate_total / 1e6:.1f} MB "
            f"| {'none published' if published is None else f'{best / 1e6:.1f} MB'} "
            f"| {'met' if best < TARGET_BYTES else '**missed**'} |"
        )
    lines += [
        "",
        f"Base sizes: stand-in `{BASES['slim']}` {slim_base / 1e6:.1f} MB, of which its offline "
        f"Python mirror is {mirror / 1e6:.1f} MB, so the estimate is "
        f"{estimate / 1e6:.1f} MB; stand-in `{BASES['distroless']}` {distroless_base / 1e6:.1f} MB,"
        " built from the Debian packages the real image ships, taken as the estimate. "
        f"Published: {PUBLISHED_BASES['slim'][1]}; the distroless project publishes no size for "
        f"`{BASES['distroless']}`. The target column judges the published base where there is "
        "one, else the estimate. No real base was measured here (no registry).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="starts and stops per image (3)")
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone"
    )
    args = parser.parse_args()

    machine = machine_description()
    engine = Engine()
    started = time.perf_counter()
    images: list[Image] = []
    try:
        with workspace() as work:
            images, trees = measure(args, work, engine)
            mirror = stand_in_mirror_bytes(BASES["slim"])
            table = report(images, trees, machine, args.runs, mirror)
    finally:
        engine.close([image.variant for image in images])
    print(table)
    if not args.no_write:
        write_block(BEGIN, END, table, HEADING)
        log(f"wrote {(ROOT / 'BENCHMARKS.md').relative_to(ROOT)}")
    log(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
