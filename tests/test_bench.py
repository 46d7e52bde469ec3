"""The benches' own machinery: what makes a bench run fail or harm the shared engine."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.run import START_TIMEOUT, Engine

from .support import built_image, require_engine

pytestmark = pytest.mark.docker


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
