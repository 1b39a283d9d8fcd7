"""The resolution hooks in this process: a real asyncio future, resolved inside and
outside a wrapped queue drain, and what the recorder wrote for it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from toygrpc.capture import hooks
from toygrpc.model.events import DrainSpan, FutureResolved


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[hooks.Recorder]:
    """A fresh recorder in place of the process's (this process is not a traced one)."""
    fresh = hooks.Recorder()
    monkeypatch.setattr(hooks, "RECORDER", fresh)
    yield fresh


def recorded(recorder: hooks.Recorder, kind: type) -> list[dict[str, object]]:
    return [fields for k, fields in recorder.events if k is kind]


def test_set_exception_inside_a_drain_carries_the_drain_id(recorder: hooks.Recorder) -> None:
    """Kills "set_exception losing its drain id" (capture/hooks.py): a failed waiter
    (the server's request-calls cut by its shutdown) is resolved inside the drain that
    popped its completion; the analysis finds the drain, and the wake, by that id."""
    loop = asyncio.new_event_loop()
    try:
        failed, succeeded, outside = (hooks.TracedFuture(loop=loop) for _ in range(3))

        def handle_events() -> None:  # what the poller's _handle_events does: resolve
            failed.set_exception(RuntimeError("request call cut"))
            succeeded.set_result(None)

        hooks._traced_drain(handle_events)()
        hooks._traced_drain(lambda: None)()  # a second drain: ids count up
        outside.set_exception(ValueError("not in a drain"))
    finally:
        loop.close()
    (span, second) = recorded(recorder, DrainSpan)
    resolutions = recorded(recorder, FutureResolved)
    by_future = {r["future_id"]: r for r in resolutions}
    assert (span["drain_id"], second["drain_id"]) == (1, 2)
    assert span["resolved"] == 2
    assert by_future[id(failed)]["in_drain"] == 1
    assert by_future[id(failed)]["ok"] is False
    assert by_future[id(failed)]["error"] == "RuntimeError"
    assert by_future[id(succeeded)]["in_drain"] == 1 and by_future[id(succeeded)]["ok"] is True
    assert by_future[id(outside)]["in_drain"] == 0
    assert by_future[id(outside)]["error"] == "ValueError"
    assert recorder.drains == {}  # no drain running once each has ended
