"""The one-pass grouping of a timeline's events and the memoised RPC timeline."""

from __future__ import annotations

import dataclasses
from collections import Counter

from toygrpc.analysis.chains import EventsByKind
from toygrpc.analysis.hooks import hook_counts
from toygrpc.analysis.run import Run
from toygrpc.model.events import (
    EVENT_TYPES,
    HOOK_NAMES,
    Event,
    FutureCreated,
    GlueSpan,
    PythonSlice,
)


def test_each_kind_is_what_isinstance_picks_in_time_order(both_3: Run) -> None:
    events = both_3.timeline.events
    kinds = EventsByKind(events)
    for kind in (*EVENT_TYPES.values(), Event):
        assert kinds.of(kind) == [e for e in events if isinstance(e, kind)], kind
    assert kinds.pids == list(dict.fromkeys(e.pid for e in events))
    for pid in kinds.pids:
        assert kinds.of_process(GlueSpan, pid) == [
            e for e in events if isinstance(e, GlueSpan) and e.pid == pid]
        assert kinds.last_event(pid, 0) == max(e.ts for e in events if e.pid == pid)
    assert kinds.of_process(GlueSpan, -1) == [] and kinds.last_event(-1, 7) == 7


def test_a_subclass_of_a_kind_keeps_the_time_order() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Special(FutureCreated):
        pass

    events: list[Event] = [FutureCreated(1, 1, 1, 1, "a"), Special(2, 1, 1, 2, "b"),
                           PythonSlice(3, 1, 1, 1, "f"), FutureCreated(4, 1, 1, 3, "c")]
    assert [e.ts for e in EventsByKind(events).of(FutureCreated)] == [1, 2, 4]
    assert [e.ts for e in EventsByKind(events).of_process(FutureCreated, 1)] == [1, 2, 4]


def test_an_rpcs_timeline_follows_what_it_is_made_of(both_3: Run) -> None:
    for rpc in both_3.analysis.rpcs:
        assert rpc.timeline() == rpc._compute_timeline()
        assert rpc.timeline() is not rpc.timeline()  # a copy each time: callers may edit it
    rpc = both_3.analysis.rpcs[0]
    before = rpc.timeline()
    end = rpc.end
    try:
        rpc.end = end + 1000
        assert rpc.timeline() == rpc._compute_timeline() != before
        assert rpc.timeline()[-1][1] == end + 1000
        chains = rpc.chains
        rpc.chains = chains[:1]
        assert rpc.timeline() == rpc._compute_timeline()
        rpc.chains = chains
    finally:
        rpc.end = end
    assert rpc.timeline() == before


def test_hook_counts_count_every_event_by_its_hook(both_3: Run, hooks_only: Run) -> None:
    for run in (both_3, hooks_only):
        timeline = run.timeline
        expected: dict[str, Counter[str]] = {r: Counter() for r in timeline.processes.values()}
        for event in timeline.events:
            if event.pid in timeline.processes:
                expected[timeline.processes[event.pid]][event.hook_name()] += 1
        counts = hook_counts(timeline)
        assert counts == {role: {hook: c[hook] for hook in HOOK_NAMES}
                          for role, c in expected.items()}
    # the kinds whose hook depends on the event (asked one by one) were there
    assert hook_counts(both_3.timeline)["server"]["glue.server"] > 0
