"""The loop hooks on a real asyncio loop, in this process: what they record, and that they
leave asyncio's futures as asyncio makes them (no subclass off the C task's fast path).

grpc's own seams are exercised by the captures of real runs (test_capture.py and
others); here, futures are resolved the ways grpc and asyncio resolve them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toygrpc.capture import hooks
from toygrpc.model.events import (
    DrainSpan,
    FutureCancelled,
    FutureCreated,
    FutureResolved,
    TaskResumed,
    event_from_dict,
)
from toygrpc.model.layout import ProcessLayout


@pytest.fixture
def recorded() -> Iterator[list[tuple[Any, ...]]]:
    """The global recorder's events list, emptied before and after the test."""
    del hooks.RECORDER.events[:]
    yield hooks.RECORDER.events
    del hooks.RECORDER.events[:]


def run_on_traced_loop(main: Any) -> Any:
    loop = hooks.TracingEventLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.close()


def kinds(events: list[tuple[Any, ...]]) -> list[type]:
    return [entry[0] for entry in events]


def test_futures_are_asyncio_s_own_and_their_life_is_recorded(
        recorded: list[tuple[Any, ...]]) -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> tuple[type, int]:
        future = loop.create_future()
        loop.call_soon(future.set_result, 7)
        return type(future), await future

    future_type, value = run_on_traced_loop(main)
    assert future_type is asyncio.Future and value == 7
    assert kinds(recorded) == [FutureCreated, FutureResolved, TaskResumed]
    created, resolved, resumed = recorded
    assert created[3] == resolved[3] == resumed[3]  # one future id
    assert created[1] <= resolved[1] <= resumed[1]
    assert resolved[4:] == (True, 0, "")  # ok, in no drain, no error


def test_a_future_resolved_with_nobody_awaiting_is_still_recorded(
        recorded: list[tuple[Any, ...]]) -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        future = loop.create_future()
        future.set_exception(ValueError("no one waits"))
        assert isinstance(future.exception(), ValueError)

    run_on_traced_loop(main)
    assert kinds(recorded) == [FutureCreated, FutureResolved]
    assert recorded[1][4:] == (False, 0, "ValueError")


def test_a_cancelled_waiter_is_recorded_and_its_task_resumes(
        recorded: list[tuple[Any, ...]]) -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> bool:
        future = loop.create_future()

        async def wait() -> None:
            await future

        waiter = loop.create_task(wait())  # a task awaiting it
        await asyncio.sleep(0)
        waiter.cancel()  # cancels the future the task awaits
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return future.cancelled()

    assert run_on_traced_loop(main)
    waiter_id = recorded[0][3]
    ours = [entry[0] for entry in recorded if entry[3] == waiter_id]
    assert ours == [FutureCreated, FutureCancelled, TaskResumed]


def test_the_writer_names_every_field_and_the_reader_gets_the_events_back(
        tmp_path: Path, recorded: list[tuple[Any, ...]]) -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        future = loop.create_future()
        loop.call_soon(future.set_result, None)
        await future

    run_on_traced_loop(main)
    files = ProcessLayout(tmp_path)
    rec = hooks.RECORDER
    rec.add(FutureCancelled, ts=5, pid=rec.pid, tid=6, future_id=7)  # the keyword way
    rec.start_writing(files, interval_s=3600)
    try:
        rec.flush()
    finally:
        rec._stop_writing.set()
        rec._writer.join(timeout=5)
        rec._out.close()
    lines = [json.loads(line) for line in files.hooks.read_text().splitlines()]
    events = [event_from_dict(line) for line in lines]
    assert [type(e) for e in events] == [FutureCreated, FutureResolved, TaskResumed,
                                         FutureCancelled]
    assert all(e.pid == rec.pid for e in events)
    created = events[0]
    assert isinstance(created, FutureCreated)
    assert created.caller.endswith("test_hooks.py:main") and created.task_id != 0
    assert events[3] == FutureCancelled(5, rec.pid, 6, future_id=7)


def test_a_line_is_written_as_json_dumps_writes_the_event_s_dict() -> None:
    """The writer's own formatting, against the standard library's, on awkward values."""
    from toygrpc.model.events import Event, GlueSpan, RpcFinished

    entries: list[tuple[Any, ...]] = [
        (FutureResolved, 10, 11, 12, False, 0, "ValueError"),
        (GlueSpan, 1, 2, 3, "execute_batch", 4, ("SendMessageOperation", 'quote"d'), "", 5,
         "détail \\ \n"),
        (RpcFinished, 7, 8, 9, "UNKNOWN", "client", "üñí \"x\" \t"),
        (TaskResumed, 1, 2, 3),  # a trailing field with a default left out
    ]
    for entry in entries:
        kind: type[Event] = entry[0]
        expected = {"kind": kind.kind, "ts": entry[1], "pid": 42, "tid": entry[2],
                    **dict(zip(hooks.record_fields(kind), entry[3:], strict=False))}
        assert hooks._json_line(entry, "42") == json.dumps(expected, separators=(",", ":"))


def test_set_exception_inside_a_drain_carries_the_drain_id(
        recorded: list[tuple[Any, ...]]) -> None:
    """Kills "set_exception losing its drain id" (capture/hooks.py): a failed waiter
    (the server's request-calls cut by its shutdown) is resolved inside the drain that
    popped its completion; the analysis finds the drain, and the wake, by that id."""
    start = next(hooks.RECORDER.drain_seq)  # type: ignore[call-overload]  # a count

    async def main(loop: asyncio.AbstractEventLoop) -> list[int]:
        failed, succeeded, outside = (loop.create_future() for _ in range(3))

        def handle_events() -> None:  # what the poller's _handle_events does: resolve
            failed.set_exception(RuntimeError("request call cut"))
            succeeded.set_result(None)

        hooks._traced_drain(handle_events)()
        hooks._traced_drain(lambda: None)()  # a second drain: ids count up
        outside.set_exception(ValueError("not in a drain"))
        for future in (failed, outside):
            future.exception()  # retrieved: no "never retrieved" warning
        return [id(failed), id(succeeded), id(outside)]

    failed, succeeded, outside = run_on_traced_loop(main)
    drains = [entry for entry in recorded if entry[0] is DrainSpan]
    assert [(d[4], d[5]) for d in drains] == [(start + 1, 2), (start + 2, 0)]
    resolved = {entry[3]: entry[4:] for entry in recorded if entry[0] is FutureResolved}
    assert resolved[failed] == (False, start + 1, "RuntimeError")
    assert resolved[succeeded] == (True, start + 1, "")
    assert resolved[outside] == (False, 0, "ValueError")
    assert hooks.RECORDER.drains == {}  # no drain running once each has ended


class _EndedContext:
    """What ``_handler_status`` reads of a servicer context: the time left and the code."""

    def __init__(self, remaining: float | None, code: Any = None) -> None:
        self.remaining, self.set_code = remaining, code

    def time_remaining(self) -> float | None:
        return self.remaining

    def code(self) -> Any:
        return self.set_code

    def details(self) -> str:
        return ""


@pytest.mark.parametrize(("remaining", "status"), [
    (-0.5, "DEADLINE_EXCEEDED"),   # the server's own timer fired first
    (0.03, "DEADLINE_EXCEEDED"),   # the client's RST_STREAM, 30 ms before the server's
    (0.05, "DEADLINE_EXCEEDED"),
    (0.051, "CANCELLED"),          # a cancel with time left
    (None, "CANCELLED"),           # no deadline at all
])
def test_a_cancelled_handler_is_the_deadlines_within_fifty_ms(remaining: float | None,
                                                               status: str) -> None:
    assert hooks._handler_status(_EndedContext(remaining), cancelled=True) == (status, "")


def test_a_handler_that_ended_says_its_code() -> None:
    import grpc

    assert hooks._handler_status(_EndedContext(1.0), cancelled=False) == ("OK", "")
    assert hooks._handler_status(_EndedContext(1.0, grpc.StatusCode.NOT_FOUND),
                                 cancelled=False)[0] == "NOT_FOUND"
