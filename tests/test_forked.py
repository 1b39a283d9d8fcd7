"""ForkedWork: the work is done by a child, and its failure is the parent's to raise."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toygrpc.forked import NO_FORK_ENV, ForkedWork


def _write_pid(path: Path) -> None:
    path.write_text(str(os.getpid()))


def test_the_work_is_done_by_a_child_and_seen_after_join(tmp_path: Path) -> None:
    out = tmp_path / "pid"
    with ForkedWork(lambda: _write_pid(out)) as work:
        assert work.forked
    assert int(out.read_text()) != os.getpid()


def test_join_returns_what_the_work_returned_in_the_child() -> None:
    with ForkedWork(lambda: {"pid": os.getpid(), "rows": list(range(100_000))}) as work:
        result = work.join()
    assert work.forked
    assert result["pid"] != os.getpid()  # computed by the child, sent back
    assert result["rows"] == list(range(100_000))  # more than a pipe's buffer holds


def test_a_result_the_child_cannot_send_is_computed_here() -> None:
    parent = os.getpid()

    def unpicklable() -> object:
        pid = os.getpid()
        return (pid, lambda: pid)  # a lambda does not pickle

    with ForkedWork(unpicklable) as work:
        pid, _ = work.join()  # type: ignore[misc]  # the tuple unpicklable returns
    assert work.forked and pid == parent


def test_without_fork_join_returns_the_result_and_the_work_runs_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NO_FORK_ENV, "1")
    calls: list[int] = []

    def work() -> int:
        calls.append(1)
        return len(calls)

    with ForkedWork(work) as forked:
        assert forked.join() == 1
        assert forked.join() == 1  # the same result, not the work again
    assert calls == [1]  # leaving the block does not do it again


def test_a_failed_child_is_redone_here_and_raises_here(tmp_path: Path) -> None:
    calls: list[int] = []

    def fail() -> None:
        calls.append(os.getpid())  # only the parent's list is seen here
        raise OSError("no room on the disk")

    with pytest.raises(OSError, match="no room on the disk"), ForkedWork(fail):
        pass
    assert calls == [os.getpid()]  # the child failed too, but only its copy saw that


def test_without_fork_the_work_is_done_at_join(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NO_FORK_ENV, "1")
    out = tmp_path / "pid"
    work = ForkedWork(lambda: _write_pid(out))
    assert not work.forked and not out.exists()
    work.join()
    assert out.read_text() == str(os.getpid())


def test_leaving_by_an_exception_stops_the_child(tmp_path: Path) -> None:
    out = tmp_path / "late"

    def slow() -> None:
        time.sleep(30)
        out.write_text("written")

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), ForkedWork(slow):
        raise KeyboardInterrupt
    assert time.monotonic() - started < 10
    assert not out.exists()


def test_a_trace_whose_summary_fails_says_so_and_leaves_no_partial_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The forked writer fails, the parent writes again, fails the same way and raises;
    the half-written summary is removed (``trace`` made it) and the rest of the run stays."""
    import toygrpc.render.summary as summary_module
    from toygrpc.capture.launch import CaptureOptions
    from toygrpc.pipeline import trace

    def first_block_then_fail(data: object, block_bytes: int = 1) -> Iterator[bytes]:
        yield b"{\n"
        raise OSError("No space left on device")

    monkeypatch.setattr(summary_module, "indented_json_blocks", first_block_then_fail)
    out = tmp_path / "run"
    with pytest.raises(OSError, match="No space left"):
        trace(CaptureOptions(mode="client", out=out, rpcs=2, python_layer=False))
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == [
        "capture.json", "events.jsonl", "server.stderr.txt", "trace.perfetto-trace"]


def test_the_report_s_numbers_are_computed_by_the_child_and_adopted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``trace`` hands the report's slow parts (the stage table, the hook counts, the
    HTTP/2 frames) to the child that writes summary.json; the parent takes its values
    instead of computing them again after the trace is written."""
    import toygrpc.analysis.run as run_module
    from toygrpc.analysis.run import SHAREABLE
    from toygrpc.capture.launch import CaptureOptions
    from toygrpc.pipeline import load_run, trace

    computed_in = tmp_path / "computed-in"
    original = run_module.stage_statistics

    def recorded(*args: Any) -> Any:
        with computed_in.open("a") as record:
            record.write(f"{os.getpid()}\n")
        return original(*args)

    monkeypatch.setattr(run_module, "stage_statistics", recorded)
    out = tmp_path / "run"
    run = trace(CaptureOptions(mode="client", out=out, rpcs=3, python_layer=False,
                               tracers=("api", "http")))
    assert set(SHAREABLE) <= set(vars(run))  # there before anything asks for them
    pids = computed_in.read_text().split()
    assert len(pids) == 1 and int(pids[0]) != os.getpid()  # the child's, and only there
    again = load_run(out)  # computed here, from the saved run
    assert run.stage_stats == again.stage_stats
    assert run.hook_counts == again.hook_counts and run.hook_counts["client"]["rpc.client"] == 6
    assert run.frames == again.frames and run.frames  # --tracer http: frames were received
