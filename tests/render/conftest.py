"""The committed real capture the renderers are tested on (tests/fixtures/runs/both-3).

It was made with ``toygrpc trace both --rpcs 3 --no-python`` (never written by hand):
3 unary RPCs, client and server traced. Tests read it in place; a test that writes
(``show`` draws its plots into the run) works on a copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from toygrpc.analysis.chains import Analysis, analyze
from toygrpc.model.timeline import Timeline

FIXTURE_RUN = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "both-3"


@pytest.fixture(scope="session")
def fixture_run() -> tuple[Timeline, Analysis]:
    timeline = Timeline.load(FIXTURE_RUN)
    return timeline, analyze(timeline)


@pytest.fixture
def run_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture run."""
    return Path(shutil.copytree(FIXTURE_RUN, tmp_path / "both-3"))
