"""Live captures for the learner chapters (docs/learn/), made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from toygrpc.analysis.run import Run
from toygrpc.capture.launch import CaptureOptions
from toygrpc.pipeline import capture_run

PROGRAMS = Path(__file__).resolve().parent / "programs"
SAMPLE_EVERY_MS = 5
THREADS_RUN_RPCS = 100


@pytest.fixture(scope="session")
def threads_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """100 sequential unary RPCs of the traced client, every thread sampled from /proc every
    5 ms, with the core's ``event_engine_endpoint`` tracer (each socket read and write, on
    the thread that does it) and ``http`` (the HTTP/2 transport's writes) besides ``api``.
    Chapters 1, 3 and 4."""
    out = tmp_path_factory.mktemp("learn") / "threads"
    return capture_run(CaptureOptions(mode="client", out=out, rpcs=THREADS_RUN_RPCS,
                                      python_layer=False,
                                      tracers=("api", "event_engine_endpoint", "http"),
                                      sample_threads_ms=SAMPLE_EVERY_MS))


def _program(tmp: Path, name: str, target: str, python_layer: bool) -> Run:
    return capture_run(CaptureOptions(mode="run", out=tmp / name, python_layer=python_layer,
                                      script=(str(PROGRAMS / f"{name}.py"), target)))


@pytest.fixture(scope="session")
def two_loops_run(tmp_path_factory: pytest.TempPathFactory, hello_server: str) -> Run:
    """programs/two_loops.py: two threads, one asyncio loop each: 11 calls on one, while
    the other, bound to the same poller, idles."""
    return _program(tmp_path_factory.mktemp("learn"), "two_loops", hello_server, False)


@pytest.fixture(scope="session")
def no_add_reader_run(tmp_path_factory: pytest.TempPathFactory, hello_server: str) -> Run:
    """programs/no_add_reader.py: 10 calls on a loop without add_reader, Python layer on
    (viztracer shows which thread calls ``call_soon_threadsafe``)."""
    return _program(tmp_path_factory.mktemp("learn"), "no_add_reader", hello_server, True)
