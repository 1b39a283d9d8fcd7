"""Real captures shared by the capture and analysis tests (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from toygrpc.analysis.run import Run
from toygrpc.capture.launch import CaptureOptions
from toygrpc.pipeline import capture_run


def _capture(tmp: Path, mode: str, rpcs: int, python_layer: bool, **extra: object) -> Run:
    return capture_run(CaptureOptions(mode=mode, out=tmp / mode, rpcs=rpcs,  # type: ignore[arg-type]
                                      python_layer=python_layer, **extra))  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def client_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """100 unary RPCs from the traced client, with viztracer on."""
    return _capture(tmp_path_factory.mktemp("client"), "client", 100, True)


@pytest.fixture(scope="session")
def both_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """30 unary RPCs, client and server both traced, concurrency 3."""
    return _capture(tmp_path_factory.mktemp("both"), "both", 30, False, concurrency=3)


@pytest.fixture(scope="session")
def both_streams_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """2 RPCs of each method shape, client and server both traced."""
    return _capture(tmp_path_factory.mktemp("streams"), "both", 2, False, method="all")


@pytest.fixture(scope="session")
def server_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The traced server driven by the untraced Python client."""
    return _capture(tmp_path_factory.mktemp("server"), "server", 20, False)


# The learner chapters (docs/learn/): HTTP/2 frames, cancellation, sync handlers, costs.
HTTP_TRACERS = ("api", "http")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="session")
def http_both_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """2 sequential unary RPCs, client and server traced, with the core's http tracer."""
    return _capture(tmp_path_factory.mktemp("http"), "both", 2, False, tracers=HTTP_TRACERS)


@pytest.fixture(scope="session")
def cancel_http_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``trace both --scenario client-cancel --rpcs 2 --tracer http``."""
    return _capture(tmp_path_factory.mktemp("cancel"), "both", 2, False,
                    tracers=HTTP_TRACERS, scenario="client-cancel")


@pytest.fixture(scope="session")
def deadline_http_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``trace both --scenario deadline-exceeded --rpcs 2 --tracer http``."""
    return _capture(tmp_path_factory.mktemp("deadline"), "both", 2, False,
                    tracers=HTTP_TRACERS, scenario="deadline-exceeded")


@pytest.fixture(scope="session")
def sync_handlers_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``trace run examples/sync_handlers.py``: ``def`` handlers, Python layer on."""
    return _capture(tmp_path_factory.mktemp("sync"), "run", 0, True,
                    script=(str(EXAMPLES / "sync_handlers.py"),))


@pytest.fixture(scope="session")
def hooks_only_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """20 unary RPCs from the traced client with hooks alone (no core trace, no viztracer)."""
    return _capture(tmp_path_factory.mktemp("hooks"), "client", 20, False, tracers=())
