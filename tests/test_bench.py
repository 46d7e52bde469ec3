"""The benches' own machinery: what makes a bench run fail or harm the shared engine."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from bench.ci_cache import DOCKERD, fresh_engine, private_bridge
from bench.run import START_TIMEOUT, Engine, Variant, report

from .support import built_image, require_engine

pytestmark = pytest.mark.docker


def links() -> set[str]:
    """The host's network interfaces, by name."""
    shown = subprocess.run(
        ["ip", "-brief", "link"], capture_output=True, text=True, check=True
    ).stdout
    return {line.split()[0].split("@")[0] for line in shown.splitlines()}


def test_start_reports_a_container_that_exits_at_once_with_its_output(tmp_path: Path) -> None:
    require_engine()
    (tmp_path / "Dockerfile").write_text(
        'FROM python:3.13-slim-trixie\nCMD ["python", "-c", "raise SystemExit(\'no server\')"]\n'
    )
    engine = Engine()
    with built_image(tmp_path) as image:
        started = time.perf_counter()
        try:
            with pytest.raises(RuntimeError, match=r"stopped \(exited 1\)[^\n]*\n.*no server"):
                engine.start(image)
        finally:
            engine.close([])
        assert time.perf_counter() - started < START_TIMEOUT / 3


def test_ci_cache_engines_leave_the_shared_engines_bridge_alone() -> None:
    require_engine()
    if not DOCKERD.is_file():
        pytest.skip(f"no dockerd at {DOCKERD} for a private engine")
    before = links()
    assert "docker0" in before
    # A short folder, as the bench's own: containerd's socket paths must fit in 108 bytes.
    with (
        tempfile.TemporaryDirectory(prefix="cus-", dir="/tmp") as work,
        private_bridge() as bridge,
        fresh_engine(Path(work), {"ghcr.io/astral-sh/uv:0.13.9"}, bridge) as engine,
    ):
        assert {"docker0", bridge} <= links()
        assert subprocess.run(["docker", "info"], env=engine, capture_output=True).returncode == 0
    assert links() == before


def measured(label: str, cold: float, warm: float, mb: float, first: float, stop: float) -> Variant:
    """A variant as a run would leave it: one figure of each kind."""
    return Variant(
        label, label.split()[-1], Path(), is_template=label.startswith("template"), cold=[cold],
        warm=[warm], unchanged=[0.2], reinstalled=1 if warm < 1 else 3,
        bytes_over_base=int(mb * 1e6), base="python", first_200=[first], stop=[stop],
        memory=2**25, rate=1000.0,
    )  # fmt: skip


def test_report_marks_each_figure_by_the_target_that_judges_it() -> None:
    reference = measured("uv reference", cold=2.0, warm=1.0, mb=40, first=1.0, stop=0.4)
    fast = measured("template fast", cold=3.0, warm=0.5, mb=30, first=0.5, stop=0.4)
    slow = measured("template slow", cold=5.0, warm=2.0, mb=40, first=0.9, stop=2.0)
    text = report([fast, slow, reference], [1.0], "here", "wrk", 1, [], [])
    rows = {line.split(" (on ")[0][2:]: line for line in text.splitlines() if " (on " in line}
    assert (rows["template fast"].count("✓"), rows["template fast"].count("✗")) == (6, 0)
    assert (rows["template slow"].count("✓"), rows["template slow"].count("✗")) == (0, 6)
    assert (rows["uv reference"].count("✓"), rows["uv reference"].count("✗")) == (0, 0)
    assert "| cold build ≤ 2x reference | met (1.50x) | **missed** (2.50x) |" in text
