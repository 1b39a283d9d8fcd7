"""When the Python layer starts: at the program's first channel or server, or at start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from toygrpc.capture.launch import CaptureOptions
from toygrpc.model.events import PythonSlice, RpcStarted
from toygrpc.pipeline import capture_run

IMPORTING = "_find_and_load"  # importlib's frame for every import


def _python_slices(tmp_path: Path, from_start: bool) -> tuple[list[PythonSlice], int]:
    run = capture_run(CaptureOptions(mode="client", out=tmp_path / str(from_start), rpcs=1,
                                     python_from_start=from_start))
    slices = list(run.timeline.of(PythonSlice))
    first_rpc = min(e.ts for e in run.timeline.of(RpcStarted))
    return slices, first_rpc


def test_by_default_the_python_layer_starts_at_the_first_channel(tmp_path: Path) -> None:
    slices, first_rpc = _python_slices(tmp_path, from_start=False)
    names = {s.name.split(" (")[0] for s in slices}
    assert "UnaryUnaryMultiCallable.__call__" in names  # the RPC itself is recorded
    assert IMPORTING not in names  # start-up is not
    assert "Channel.__init__" in names  # from the first channel on
    assert min(s.ts for s in slices) < first_rpc


def test_python_from_start_records_start_up(tmp_path: Path) -> None:
    slices, _ = _python_slices(tmp_path, from_start=True)
    assert any(s.name.startswith(IMPORTING) for s in slices)


def test_python_from_start_needs_the_python_layer(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "toygrpc", "trace", "client", "--no-python",
                             "--python-from-start", "--out", str(tmp_path / "x")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--python-from-start" in result.stderr
    assert not (tmp_path / "x").exists()
