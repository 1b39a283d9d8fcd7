"""Shared fixtures: real Hello servers in separate processes on free loopback ports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from toygrpc.workload import READY_PREFIX

if TYPE_CHECKING:
    from toygrpc.testing.perfetto_ui import PerfettoBrowser

IN_CI = os.environ.get("CI") == "true"

# Real captures (made once per session) shared by the capture, analysis and render tests.
pytest_plugins = ["tests.real_runs"]


def require(condition: bool, why: str) -> None:
    """Skip on a developer machine that lacks a tool; fail in CI, where .ci/run installs it."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{why} (CI must provide it: see .ci/run)")
    pytest.skip(why)


def start_server(
    *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m toygrpc.server --bind localhost:0``; return it and its address."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "toygrpc.server", "--bind", "localhost:0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(READY_PREFIX):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise RuntimeError(f"server did not start: {line!r} {err}")
    return proc, line[len(READY_PREFIX):].strip()


@pytest.fixture(scope="session")
def hello_server() -> Iterator[str]:
    """The address of a Hello server shared by the whole session."""
    proc, address = start_server()
    yield address
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[PerfettoBrowser]:
    """One headless Chromium with the Perfetto UI per test module. Not per session:
    Playwright's sync API keeps an asyncio loop running in this thread while it is open,
    and later tests call asyncio.run (and it allows one browser at a time)."""
    require(shutil.which("chromium") is not None,
            "Chromium is not installed (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        require(False, "Playwright is not installed (pip install -e '.[test]')")
    from toygrpc.testing.perfetto_ui import PerfettoBrowser

    with PerfettoBrowser() as shared:
        yield shared


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
