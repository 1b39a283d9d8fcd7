"""``python -m toygrpc.testing.perfetto_ui``: what the real UI makes of a trace, as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from toygrpc.analysis.run import Run
from toygrpc.render.perfetto import PerfettoRenderer


def inspect(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "toygrpc.testing.perfetto_ui", str(path)],
                          capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.browser
def test_prints_what_the_ui_holds(both_run: Run, browser: object, tmp_path: Path) -> None:
    """(``browser``: only to skip, or fail in CI, where Chromium is missing.)"""
    PerfettoRenderer(out=tmp_path).render(both_run)
    result = inspect(tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["problems"] == {}
    assert report["flows"] == both_run.analysis.links
    assert report["rpc_slices"] == len(both_run.analysis.rpcs)


def test_a_missing_trace_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = inspect(tmp_path / "nothing")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
