"""The merge's clock maths on synthetic inputs whose answers are worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

from toygrpc.capture.merge import _read_viztracer as read_viztracer
from toygrpc.capture.merge import check_core_clock
from toygrpc.model.events import (
    CoreBatchStarted,
    FutureCreated,
    LoopWake,
    PythonSlice,
    TaskResumed,
)
from toygrpc.model.timeline import Timeline

REALTIME = 1_000_000_000_000  # ns on the common clock at the first clock sample


def write_viztracer(folder: Path, events: list[dict[str, object]]) -> tuple[Path, Path]:
    # Start sample: viztracer read 1000 us while the realtime clock read REALTIME.
    # End sample, 10 ms of viztracer time later: realtime is 500 ns further on (drift).
    start = {"offset_ns": REALTIME - 1000 * 1000, "width_ns": 300, "realtime_ns": REALTIME}
    end_realtime = REALTIME + 10_000_000 + 500
    end = {"offset_ns": end_realtime - 11_000 * 1000, "width_ns": 200,
           "realtime_ns": end_realtime}
    trace, clock = folder / "viztracer.json", folder / "clock.json"
    trace.write_text(json.dumps({"traceEvents": events}))
    clock.write_text(json.dumps({"start": start, "end": end}))
    return trace, clock


def test_viztracer_time_maps_linearly_through_both_samples(tmp_path: Path) -> None:
    trace, clock = write_viztracer(tmp_path, [
        {"ph": "X", "ts": 1000.0, "dur": 2.0, "tid": 5, "name": "at_start"},
        {"ph": "X", "ts": 6000.0, "dur": 1.5, "tid": 5, "name": "midway"},
        {"ph": "X", "ts": 11000.0, "dur": 0.0, "tid": 6, "name": "at_end"},
        {"ph": "i", "ts": 7000.0, "tid": 6, "name": "instant, not a slice"},
    ])
    timeline = Timeline(events=[])
    slices = read_viztracer(trace, clock, 42, "client", timeline)
    assert [(s.name, s.ts, s.dur, s.tid) for s in slices if isinstance(s, PythonSlice)] == [
        ("at_start", REALTIME, 2000, 5),
        ("midway", REALTIME + 5_000_000 + 250, 1500, 5),  # half the drift by then
        ("at_end", REALTIME + 10_000_000 + 500, 0, 6),
    ]
    report = timeline.clock["client"]["viztracer"]
    assert report["drift_ns"] == 500
    assert report["error_bound_ns"] == 300 // 2 + 500  # half the widest bracket + drift


def test_core_clock_offsets_consistent_with_every_bracket(tmp_path: Path) -> None:
    """Each batch start is bracketed by its waiter's creation and the await: the core's
    stamp (truncated to the microsecond) must lie in [created - 1 us, awaited]."""
    events = [
        FutureCreated(1_000, 1, 1, future_id=11, caller="c", in_batch=1),
        CoreBatchStarted(1_500, 1, 1, call="0x1", tag="0xa", ops=("X",)),
        TaskResumed(3_000, 1, 1, future_id=11, awaited_ts=2_500),
        FutureCreated(5_000, 1, 1, future_id=12, caller="c", in_batch=2),
        CoreBatchStarted(5_200, 1, 1, call="0x1", tag="0xb", ops=("X",)),
        TaskResumed(6_000, 1, 1, future_id=12, awaited_ts=5_400),
    ]
    # bracket 1: offset in [1000 - 1500 - 1000, 2500 - 1500] = [-1500, 1000]
    # bracket 2: offset in [5000 - 5200 - 1000, 5400 - 5200] = [-1200, 200]
    report = check_core_clock(events)
    assert report["brackets"] == 2
    assert report["offset_interval_ns"] == [-1200, 200]
    assert report["consistent"] is True
    assert report["error_bound_ns"] == 1200


def test_without_the_await_a_batch_is_bracketed_by_the_thread_s_next_hook_instant() -> None:
    """The hooks no longer record the await: no hook runs between a waiter's creation and
    its batch start, so the next instant a hook read on that thread bounds the start. A
    wake's select() began ``waited`` before it; other threads, the core and viztracer's
    slices do not count."""
    events = [
        FutureCreated(1_000, 1, 1, future_id=11, caller="c", in_batch=1),
        CoreBatchStarted(1_500, 1, 1, call="0x1", tag="0xa", ops=("X",)),
        PythonSlice(1_700, 1, 1, dur=10, name="not a hook"),
        TaskResumed(1_800, 1, 2, future_id=99),  # another thread
        LoopWake(5_000, 1, 1, fd=9, waited=2_500),  # its select() began at 2_500
        TaskResumed(5_100, 1, 1, future_id=11),
        FutureCreated(6_000, 1, 1, future_id=12, caller="c", in_batch=2),
        CoreBatchStarted(6_200, 1, 1, call="0x1", tag="0xb", ops=("X",)),
        TaskResumed(7_000, 1, 1, future_id=12),
    ]
    # bracket 1: [1000 - 1500 - 1000, 2500 - 1500] = [-1500, 1000]
    # bracket 2: [6000 - 6200 - 1000, 7000 - 6200] = [-1200, 800]
    report = check_core_clock(events)
    assert report["brackets"] == 2
    assert report["offset_interval_ns"] == [-1200, 800]
    assert report["consistent"] is True and report["error_bound_ns"] == 1200
    assert report["method"].endswith("the thread's next hook instant")


def test_inconsistent_brackets_are_reported_as_such() -> None:
    events = [
        FutureCreated(1_000, 1, 1, future_id=11, caller="c", in_batch=1),
        CoreBatchStarted(1_500, 1, 1, call="0x1", tag="0xa", ops=("X",)),
        TaskResumed(3_000, 1, 1, future_id=11, awaited_ts=1_600),
        FutureCreated(5_000, 1, 1, future_id=12, caller="c", in_batch=2),
        CoreBatchStarted(3_500, 1, 1, call="0x1", tag="0xb", ops=("X",)),
        TaskResumed(7_000, 1, 1, future_id=12, awaited_ts=6_000),
    ]
    # bracket 1: [1000 - 1500 - 1000, 1600 - 1500] = [-1500, 100]
    # bracket 2: [5000 - 3500 - 1000, 6000 - 3500] = [500, 2500]: no offset fits both
    report = check_core_clock(events)
    assert report["offset_interval_ns"] == [500, 100]
    assert report["consistent"] is False
    assert report["error_bound_ns"] == 400
