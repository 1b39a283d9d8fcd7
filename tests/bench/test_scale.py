"""``toygrpc bench --scale``: real end-to-end runs, a row per size and mode.

No timing assertions: the targets are printed by the benchmark, never checked here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from toygrpc.bench import scale
from toygrpc.cli import main


def test_the_scale_table_has_a_row_per_size_and_mode_from_real_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "scale.json"
    assert main(["bench", "--scale", "12", "--concurrency", "3", "--json", str(results)]) == 0
    out = capsys.readouterr().out
    assert "`toygrpc trace client --rpcs N --concurrency 3 -q`" in out
    header = next(line for line in out.splitlines() if line.strip().startswith("RPCs"))
    assert header.split() == ["RPCs", "python", "layer", "wall", "s", "capture", "s", "after",
                              "s", "untraced", "s", "peak", "MB", "events", "complete",
                              "trace", "MB", "target"]
    rows = [line.split() for line in out.splitlines()[out.splitlines().index(header) + 1:]
            if line.strip()]
    assert [(r[0], r[1]) for r in rows] == [("12", "yes"), ("12", "no")]
    data = json.loads(results.read_text())["scale"]
    assert [(r["rpcs"], r["python_layer"]) for r in data] == [(12, True), (12, False)]
    full, plain = data
    for row in data:
        assert row["exit_status"] == 0 and row["rounds"] == 1
        assert row["complete_rpcs"] == 12  # read from the run's own summary.json
        assert row["wall_s"] > 0 and row["trace_mb"] > 0
        # the capture is part of the run, and the untraced calls still start two processes
        assert 0 < row["capture_s"] < row["wall_s"]
        assert row["after_s"] == pytest.approx(row["wall_s"] - row["capture_s"])
        assert row["untraced_s"] > 0 and row["concurrency"] == 3
        assert row["peak_rss_mb"] > 20  # a Python process with grpc loaded, at least
        assert row["target"] == ""  # no target for this size
    assert full["events"] > plain["events"] > 12 * 10  # the Python layer adds its slices
    assert not list(tmp_path.glob("scale-*"))  # the runs went to a scratch directory


def test_a_run_is_charged_its_own_peak_not_the_benchmarks() -> None:
    ballast = bytearray(400 * 2**20)  # the benchmark's own peak, touched
    ballast[:: 4096] = b"x" * len(ballast[:: 4096])
    code, peak_mb, wall_s = scale.run_once([sys.executable, "-c", "pass"])
    assert code == 0 and wall_s > 0
    assert 1 < peak_mb < 200  # an interpreter's, not the 400 MB of this process
    code, peak_mb, _ = scale.run_once(
        [sys.executable, "-c", "b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096])"])
    assert code == 0 and peak_mb > 300


def test_the_untraced_floor_is_the_hello_client_alone(tmp_path: Path) -> None:
    """The floor runs the client the trace command traces, with the same calls."""
    command = scale.untraced_command(7, "localhost:1234", 3)
    assert command[1:3] == ["-m", "toygrpc.client"]
    assert command[3:] == ["--target", "localhost:1234", "--rpcs", "7", "--concurrency", "3",
                           "--quiet"]
    traced = scale.trace_command(7, False, tmp_path / "out", 3)
    assert traced[traced.index("--rpcs") + 1] == "7"
    assert traced[traced.index("--concurrency") + 1] == "3" and "--no-python" in traced


def test_scale_mode_runs_only_the_captures_asked_for(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "scale.json"
    assert main(["bench", "--scale", "5", "--scale-mode", "no-python", "--rounds", "2",
                 "--json", str(results)]) == 0
    [row] = json.loads(results.read_text())["scale"]
    assert (row["rpcs"], row["python_layer"], row["rounds"]) == (5, False, 2)
    assert row["complete_rpcs"] == 5 and row["exit_status"] == 0
    rows = [line.split()[:2] for line in capsys.readouterr().out.splitlines()
            if line.split()[:1] == ["5"]]
    assert rows == [["5", "no"]]  # the one row printed


def test_scale_mode_without_scale_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--scale-mode", "full"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--scale RPCS" in err


def test_concurrency_without_scale_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--concurrency", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--scale" in err


def test_rows_say_the_issue_targets() -> None:
    row = scale.ScaleResult(10_000, True, 20.0, 900.0, 1, 1, 1, 1.0, 0)
    assert row.target.endswith("PASS")
    row.peak_rss_mb = 1500.0
    assert row.target.endswith("MISS")
    assert scale.ScaleResult(100_000, True, 1.0, 1.0, 1, 1, 1, 1.0, 0).target == ""
