"""The merge's clock maths on synthetic inputs whose answers are worked out by hand."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from toygrpc.capture import merge
from toygrpc.capture.merge import _read_viztracer as read_viztracer
from toygrpc.capture.merge import (
    build_timeline,
    check_core_clock,
    load_or_build,
    not_grpc_aio,
    without_harness,
)
from toygrpc.model.events import (
    CoreApiCall,
    CoreBatchStarted,
    CoreLine,
    CoreReturnEvent,
    CoreTagCompleted,
    Event,
    FutureCreated,
    GlueSpan,
    LoopWake,
    PythonSlice,
    RpcFinished,
    RpcStarted,
    TaskResumed,
    ThreadStarted,
)
from toygrpc.model.manifest import Manifest
from toygrpc.model.timeline import Timeline

REALTIME = 1_000_000_000_000  # ns on the common clock at the first clock sample


def write_viztracer(folder: Path, events: list[dict[str, object]], base_us: int = 1000,
                    drift_ns: int = 500) -> tuple[Path, Path]:
    # Start sample: viztracer read base_us (1000 us) while the realtime clock read REALTIME.
    # End sample, 10 ms of viztracer time later: realtime is 500 ns further on (drift).
    start = {"offset_ns": REALTIME - base_us * 1000, "width_ns": 300, "realtime_ns": REALTIME}
    end_realtime = REALTIME + 10_000_000 + drift_ns
    end = {"offset_ns": end_realtime - (base_us + 10_000) * 1000, "width_ns": 200,
           "realtime_ns": end_realtime}
    trace, clock = folder / "viztracer.json", folder / "clock.json"
    trace.write_text(json.dumps({"traceEvents": events}))
    clock.write_text(json.dumps({"start": start, "end": end}))
    return trace, clock


def test_viztracer_time_maps_linearly_through_both_samples(tmp_path: Path) -> None:
    """Kills "the sign of viztracer's drift slope flipped" (merge._viztracer_events): the
    realtime clock ran 500 ns ahead over the 10 ms between the samples, so a slice
    midway is mapped 250 ns later than the start sample's offset alone would put it
    (a flipped slope: 250 ns earlier, and the end sample 1000 ns off)."""
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


def test_viztracer_slices_keep_their_thread_process_and_arguments(tmp_path: Path) -> None:
    """viztracer's clock far from zero (its perf counter: 123_456_789 µs at the start
    sample), the realtime clock 2000 ns behind after 10 ms: a slice 2.5 ms in is 500 ns
    early; a slice without ``dur`` lasts 0; every slice is this process's."""
    base = 123_456_789
    trace, clock = write_viztracer(tmp_path, [
        {"ph": "X", "ts": base + 2500.0, "tid": 9, "name": "f (a.py:1)", "args": {"n": 1}},
        {"ph": "X", "ts": base + 10_000.0, "dur": 1.25, "tid": 9, "name": "g (a.py:2)"},
    ], base_us=base, drift_ns=-2000)
    timeline = Timeline(events=[])
    slices = read_viztracer(trace, clock, 42, "client", timeline)
    assert [(s.ts, s.pid, s.tid, s.dur, s.name, s.args) for s in slices
            if isinstance(s, PythonSlice)] == [
        (REALTIME + 2_500_000 - 500, 42, 9, 0, "f (a.py:1)", {"n": 1}),
        (REALTIME + 10_000_000 - 2000, 42, 9, 1250, "g (a.py:2)", {}),
    ]
    assert timeline.clock["client"]["viztracer"] == {
        "method": "bracketed samples at start and end, linear map",
        "error_bound_ns": 300 // 2 + 2000, "drift_ns": -2000}


def test_viztracer_samples_at_one_instant_map_by_the_offset_alone(tmp_path: Path) -> None:
    """Both samples read at the same viztracer instant (a process that ended at once):
    no slope to take, the start sample's offset maps everything."""
    trace, clock = write_viztracer(tmp_path, [
        {"ph": "X", "ts": 1500.0, "dur": 1.0, "tid": 1, "name": "f (a.py:1)"}])
    samples = json.loads(clock.read_text())
    samples["end"] = dict(samples["start"], width_ns=100)
    clock.write_text(json.dumps(samples))
    timeline = Timeline(events=[])
    (only,) = read_viztracer(trace, clock, 42, "client", timeline)
    assert only.ts == REALTIME + 500_000
    assert timeline.clock["client"]["viztracer"]["drift_ns"] == 0
    assert timeline.diagnostics == []


def test_core_clock_offsets_consistent_with_every_bracket(tmp_path: Path) -> None:
    """Kills "the sign of the clock bracket's lower bound flipped" (merge.check_core_clock):
    each batch start is bracketed by its waiter's creation and the await: the core's
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


BOTH_3 = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "both-3"
CLIENT_PID, SERVER_PID = 22792, 22784


def raw_run(tmp_path: Path) -> Path:
    """A copy of the committed real capture's raw files (no events.jsonl: merged anew)."""
    run = tmp_path / "both-3"
    shutil.copytree(BOTH_3, run, ignore=shutil.ignore_patterns("events.jsonl",
                                                               "summary.json"))
    return run


def test_the_raw_files_of_a_real_capture_merge_onto_one_clock(tmp_path: Path) -> None:
    """build_timeline on both-3's raw files. The client's three batch brackets, read off
    client/hooks.jsonl (future.created, task.resumed's awaited_ts) and client/core.log
    (grpc_call_start_batch at 02:31:37.135159, .141357, .144228 local = UTC, offset 0):
      1: created .135136354, start .135159000, awaited .135230631 -> [-23646, 71631]
      2: created .141338706, start .141357000, awaited .141489990 -> [-19294, 132990]
      3: created .144212415, start .144228000, awaited .144342640 -> [-16585, 114640]
    so the offsets consistent with all are [-16585, 71631], bounded by 71631 ns."""
    timeline = build_timeline(Manifest.load(raw_run(tmp_path)))
    client = timeline.clock["client"]["core"]
    assert (client["brackets"], client["offset_interval_ns"], client["consistent"],
            client["error_bound_ns"]) == (3, [-16585, 71631], True, 71631)
    assert timeline.losses == {} and timeline.diagnostics == []
    assert timeline.processes == {SERVER_PID: "server", CLIENT_PID: "client"}
    starts = [e for e in timeline.of(CoreBatchStarted) if e.pid == CLIENT_PID]
    assert [e.ts for e in starts] == [1795573897_135159000, 1795573897_141357000,
                                      1795573897_144228000]
    assert all(len(e.ops) == 6 for e in starts)
    # every line of each file became one event, less the op lines that follow a batch
    # start (its nops) and fold into it; the server's core threads print a request-call's
    # op lines without a batch start: those stay lines of their own
    for role, pid in (("client", CLIENT_PID), ("server", SERVER_PID)):
        folder = BOTH_3 / role
        hook_lines = (folder / "hooks.jsonl").read_text().count("\n")
        core_lines = (folder / "core.log").read_text().splitlines()
        ops = sum(int(n) for n in re.findall(r"grpc_call_start_batch\(.*\bnops=(\d+)",
                                             "\n".join(core_lines)))
        assert ops == {"client": 3 * 6, "server": 3 * (1 + 1 + 3)}[role]
        mine = [e for e in timeline.events if e.pid == pid]
        assert len(mine) == hook_lines + len(core_lines) - ops, role
        assert sum(e.category == "core" for e in mine) == len(core_lines) - ops
    assert [e.ts for e in timeline.events] == sorted(e.ts for e in timeline.events)
    # thread roles: main, grpc.aio's poller (its _poll_wrapper thread), the core's threads
    # by the names the hook report read from /proc, "core" for an unnamed completer
    assert timeline.thread_role(CLIENT_PID, CLIENT_PID) == "main"
    assert timeline.thread_role(CLIENT_PID, 22794) == "poller"
    assert timeline.thread_role(CLIENT_PID, 22795) == "event_engine"
    assert timeline.thread_role(SERVER_PID, 22786) == "poller"
    assert not_grpc_aio(timeline.events) == ""


@pytest.mark.parametrize("line", [
    b"I1125 02:31:38.000001   22792 x.cc:1] \n",
    b"I0000 00:00:1795573898.000001   22792 x.cc:1] \n",
])
def test_a_core_line_with_an_empty_message_is_no_damage(tmp_path: Path, line: bytes) -> None:
    """A line of each format whose message is empty (its ``] `` last) parses: it is no
    unparsed line, and becomes a line event of its own."""
    run = raw_run(tmp_path)
    log = run / "client" / "core.log"
    log.write_bytes(log.read_bytes() + line)
    timeline = build_timeline(Manifest.load(run))
    assert timeline.losses == {}
    (empty,) = [e for e in timeline.of(CoreLine) if e.text == ""]
    assert (empty.ts, empty.tid) == (1795573898_000_001_000, 22792)


@pytest.mark.parametrize(("damage", "loss"), [
    ("cut", "client: core log lines cut short (core.log)"),
    ("undecodable", "client: undecodable core log lines (core.log)"),
    ("unparsed", "client: unparsed core log lines (core.log)"),
])
def test_damaged_core_log_lines_are_counted(tmp_path: Path, damage: str, loss: str) -> None:
    run = raw_run(tmp_path)
    log = run / "client" / "core.log"
    text = log.read_bytes()
    if damage == "cut":
        log.write_bytes(text.rstrip(b"\n"))
    elif damage == "undecodable":
        log.write_bytes(text + b"I1125 02:31:38.000001   22792 x.cc:1] \xff\xfe\n")
    else:
        log.write_bytes(text + b"I1125 02:31:38 no fraction, no thread\n")
    timeline = build_timeline(Manifest.load(run))
    assert timeline.losses == {loss: 1}


def test_a_core_log_shorter_than_at_the_end_of_the_capture_is_cut(tmp_path: Path) -> None:
    run = raw_run(tmp_path)
    log = run / "client" / "core.log"
    size = log.stat().st_size
    data = json.loads((run / "capture.json").read_text())
    data["processes"][1]["core_log_bytes"] = size + 100
    (run / "capture.json").write_text(json.dumps(data))
    timeline = build_timeline(Manifest.load(run))
    assert timeline.losses == {"client: core log bytes missing: core.log is cut": 100}
    assert f"client: core.log holds {size} of its {size + 100} bytes" in timeline.diagnostics


def test_missing_and_damaged_hook_files_are_said(tmp_path: Path) -> None:
    run = raw_run(tmp_path)
    (run / "client" / "hooks.hooks.json").write_text('{"pid": "not a number"}')
    hooks = run / "server" / "hooks.jsonl"
    lines = hooks.read_text().splitlines(keepends=True)
    hooks.write_text("".join(lines[:-1]) + "{not json\n")
    (run / "client" / "core.log").unlink()
    timeline = build_timeline(Manifest.load(run))
    assert timeline.losses == {
        "client: hook report (hooks.hooks.json damaged)": 1,
        "client: the core's trace (core.log missing)": 1,
        "server: damaged hook events (hooks.jsonl)": 1,
    }
    assert any(d.startswith("client: hooks.hooks.json is damaged (pid is not int)")
               for d in timeline.diagnostics)
    # the client's events keep their process id although its report lost it
    assert {e.pid for e in timeline.events} == {CLIENT_PID, SERVER_PID}


def test_grpc_without_aio_is_said_in_one_line() -> None:
    batches = [CoreBatchStarted(10, 1, tid, call="0x1", tag="0xa", ops=("X",))
               for tid in (5, 5, 6)]
    thread = ThreadStarted(1, 1, 1, name="worker", native_id=5)
    assert not_grpc_aio([*batches, thread]) == (
        "this program used grpc without grpc.aio (synchronous grpc?): toygrpc traces "
        "grpc.aio calls, so it follows none here; it saw 3 core batch(es) started on 2 "
        "thread(s), kept in the trace")
    waiter = FutureCreated(2, 1, 1, future_id=1, caller="c", in_batch=1)
    assert not_grpc_aio([*batches, thread, waiter]) == ""  # grpc.aio made a batch waiter
    assert not_grpc_aio([*batches]) == ""  # no hook events: nothing can be told
    assert not_grpc_aio([thread]) == ""  # no core batches
    plain = FutureCreated(2, 1, 1, future_id=1, caller="c", in_batch=0)
    assert not_grpc_aio([*batches, thread, plain]) != ""  # a future, but no grpc waiter
    span = GlueSpan(3, 1, 1, dur=1, name="execute_batch")
    assert not_grpc_aio([*batches, span]) == ""


def test_no_brackets_leave_the_core_clock_unchecked() -> None:
    report = check_core_clock([CoreBatchStarted(10, 1, 1, call="0x1", tag="0xa", ops=())])
    assert report == {"method": "same clock (CLOCK_REALTIME), unchecked: no batch brackets",
                      "brackets": 0, "error_bound_ns": None}


def test_a_bracket_needs_the_await_of_its_own_waiter() -> None:
    """Future ids are addresses, reused: a waiter's await is the first at or after its
    creation; a waiter never awaited (or awaited before, by an earlier future of the
    same id) gives no bracket."""
    events = [
        TaskResumed(500, 1, 1, future_id=11, awaited_ts=400),  # an earlier use of the id
        FutureCreated(1_000, 1, 1, future_id=11, caller="c", in_batch=1),
        CoreBatchStarted(1_500, 1, 1, call="0x1", tag="0xa", ops=("X",)),
        FutureCreated(2_000, 1, 1, future_id=12, caller="c", in_batch=2),
        CoreBatchStarted(2_100, 1, 1, call="0x1", tag="0xb", ops=("X",)),
        TaskResumed(3_000, 1, 1, future_id=11, awaited_ts=2_600),
        FutureCreated(2_000, 1, 2, future_id=13, caller="c", in_batch=3),  # thread 2:
        CoreBatchStarted(2_050, 1, 2, call="0x2", tag="0xc", ops=("X",)),  # its own pairs
        TaskResumed(2_500, 1, 2, future_id=13, awaited_ts=2_090),
    ]
    # 11: [1000 - 1500 - 1000, 2600 - 1500] = [-1500, 1100]; 12: never awaited;
    # 13: [2000 - 2050 - 1000, 2090 - 2050] = [-1050, 40]
    report = check_core_clock(events)
    assert (report["brackets"], report["offset_interval_ns"], report["error_bound_ns"]) == (
        2, [-1050, 40], 1050)


def test_a_bound_under_the_truncation_is_the_truncation() -> None:
    events = [FutureCreated(1_000, 1, 1, future_id=11, caller="c", in_batch=1),
              CoreBatchStarted(1_000, 1, 1, call="0x1", tag="0xa", ops=("X",)),
              TaskResumed(1_500, 1, 1, future_id=11, awaited_ts=1_200)]
    # [1000 - 1000 - 1000, 1200 - 1000] = [-1000, 200]: the µs truncation bounds it
    report = check_core_clock(events)
    assert report["offset_interval_ns"] == [-1000, 200] and report["error_bound_ns"] == 1000


def test_an_offset_outside_the_truncation_is_a_loss(tmp_path: Path) -> None:
    """A capture.json whose UTC offset is wrong by an hour (UTC+1 for a UTC log) puts every
    core stamp an hour before the hooks': the brackets agree on an offset of an hour
    (both-3's client interval [-16585, 71631] moved by 3600 s), which the clock report
    shows, and 0 is not in it: the run says so."""
    run = raw_run(tmp_path)
    data = json.loads((run / "capture.json").read_text())
    data["utc_offset_s"] = 3600
    (run / "capture.json").write_text(json.dumps(data))
    timeline = build_timeline(Manifest.load(run))
    hour = 3600 * 10**9
    client = timeline.clock["client"]["core"]
    assert (client["offset_interval_ns"], client["consistent"], client["error_bound_ns"]) == (
        [hour - 16585, hour + 71631], True, hour + 71631)
    assert timeline.losses == {
        f"{role}: the core log's times disagree with the hooks' (check capture.json's "
        "started_ns and utc_offset_s)": 1 for role in ("server", "client")}


def test_the_hook_reports_counts_are_checked_against_the_file(tmp_path: Path) -> None:
    run = raw_run(tmp_path)
    report_path = run / "client" / "hooks.hooks.json"
    report = json.loads(report_path.read_text())
    lines = (run / "client" / "hooks.jsonl").read_text().count("\n")
    report.update(finished=True, events_written=lines + 4, events_dropped=2,
                  failed={"loop.wake": "no selector"})
    report_path.write_text(json.dumps(report))
    server_report = run / "server" / "hooks.hooks.json"
    server = json.loads(server_report.read_text())
    server["finished"] = False
    server_report.write_text(json.dumps(server))
    timeline = build_timeline(Manifest.load(run))
    assert timeline.losses == {
        "client: hook events missing: hooks.jsonl is cut": 4,
        "client: hook events the process could not write": 2,
        "server: the process did not finish (killed or crashed): events after its last "
        "write": 1,
    }
    assert "client: hook loop.wake did not attach: no selector" in timeline.diagnostics
    assert timeline.hooks["client"]["failed"] == {"loop.wake": "no selector"}


def test_missing_hook_files_are_said(tmp_path: Path) -> None:
    run = raw_run(tmp_path)
    (run / "server" / "hooks.hooks.json").unlink()
    (run / "client" / "hooks.jsonl").unlink()
    timeline = build_timeline(Manifest.load(run))
    assert timeline.losses == {"server: hook report (hooks.hooks.json missing)": 1,
                               "client: hook events (hooks.jsonl missing)": 1}
    assert any(d.startswith("client: no hook events (") for d in timeline.diagnostics)
    # the client's core log is still there, under the manifest's process id
    assert sum(e.pid == CLIENT_PID for e in timeline.events) > 0


def test_a_saved_timeline_is_loaded_not_rebuilt(tmp_path: Path) -> None:
    run = raw_run(tmp_path)
    manifest = Manifest.load(run)
    built = load_or_build(manifest)
    assert (run / "events.jsonl").is_file()
    (run / "client" / "core.log").unlink()  # a rebuild would lose the client's core log
    again = load_or_build(manifest)
    assert len(again.events) == len(built.events) and again.losses == {}


def test_viztracer_damage_is_said_and_the_rest_kept(tmp_path: Path) -> None:
    trace, clock = write_viztracer(tmp_path, [])
    samples = json.loads(clock.read_text())
    samples["end"]["width_ns"] = "wide"
    clock.write_text(json.dumps(samples))
    timeline = Timeline(events=[])
    assert read_viztracer(trace, clock, 42, "client", timeline) == []
    assert timeline.diagnostics == ["client: viztracer output unusable (TypeError: clock "
                                    "sample width_ns is not a number)"]
    assert timeline.losses == {
        "client: the Python layer (viztracer.json or clock.json damaged)": 1}


def test_a_viztracer_overflow_counts_the_rpcs_without_their_python_layer(
        tmp_path: Path) -> None:
    """The ring buffer keeps a call from its exit on: the earliest kept exit is the first
    slice's, at 6002 µs (viztracer time), which is REALTIME + 5_002_250 ns on the common
    clock (the start offset plus the drift by then, 250 ns): the RPC started 1 ns before
    has no Python layer, the one started then has, and so has the server RPC after it."""
    trace, clock = write_viztracer(tmp_path, [
        {"ph": "X", "ts": 6000.0, "dur": 2.0, "tid": 5, "name": "kept (a.py:1)"},
        {"ph": "X", "ts": 7000.0, "dur": 3.0, "tid": 5, "name": "kept too (a.py:2)"}])
    data = json.loads(trace.read_text())
    data["viztracer_metadata"] = {"overflow": True}
    trace.write_text(json.dumps(data))
    first_exit = REALTIME + 5_002_000 + 250
    hooks = [RpcStarted(first_exit - 1, 42, 1, call_id=1, method="/m", side="client"),
             RpcStarted(first_exit, 42, 1, call_id=2, method="/m", side="client"),
             GlueSpan(first_exit + 5, 42, 1, dur=1, name="_handle_rpc"),
             GlueSpan(first_exit - 5, 42, 1, dur=1, name="execute_batch")]  # not an RPC
    timeline = Timeline(events=[])
    slices = merge._read_viztracer(trace, clock, 42, "client", timeline, hooks)
    assert [s.ts for s in slices] == [REALTIME + 5_000_250, REALTIME + 6_000_300]
    assert timeline.diagnostics == [
        "client: viztracer's buffer overflowed: the oldest Python events were dropped, 1 of "
        "3 RPCs have no Python layer (raise --tracer-entries)"]
    assert timeline.losses == {"client: RPCs without their Python layer (viztracer's buffer "
                               "overflowed; raise --tracer-entries)": 1}


def test_an_unreadable_viztracer_file_is_said_in_one_short_line(tmp_path: Path) -> None:
    folder = tmp_path / ("a-folder-with-a-long-name-" * 6)
    folder.mkdir()
    missing, clock = folder / "viztracer.json", folder / "clock.json"
    timeline = Timeline(events=[])
    assert merge._read_viztracer(missing, clock, 42, "client", timeline) == []
    why = f"[Errno 2] No such file or directory: '{missing}'"
    assert len(why) > 120
    assert timeline.diagnostics == [
        f"client: viztracer output unusable (FileNotFoundError: {why[:120]})"]


HARNESS = "/site-packages/toygrpc/capture/hooks.py"


def test_the_harness_frames_are_taken_out_of_viztracers_events() -> None:
    """A hook's wrapper keeps the Python frames it wraps and loses its own C calls; any
    other harness frame goes with everything under it."""
    order = iter(range(100))

    def slice_(ts: float, dur: float, name: str, tid: int = 1) -> merge.Complete:
        # (thread, start, -duration so that the longer comes first, file order, name, args)
        return (tid, ts, -dur, next(order), name, None)
    entries = [
        slice_(0, 100, f"wrap.<locals>.wrapper ({HARNESS}:10)"),
        slice_(1, 2, "time.time_ns"),  # the wrapper's own C call: gone
        slice_(5, 50, "execute_batch (grpc/_cython/x.pyx:1)"),  # what it wraps: kept
        slice_(6, 1, "len"),  # a C call inside the wrapped frame: kept
        slice_(200, 50, f"Recorder.add ({HARNESS}:20)"),  # bookkeeping: gone, with
        slice_(201, 5, "helper (grpc/aio/_call.py:1)"),  # what it calls
        slice_(300, 10, f"TracingEventLoop.call_soon ({HARNESS}:30)"),  # a Tracing* method
        slice_(301, 5, "Future.set_result (asyncio/futures.py:1)"),  # kept
        slice_(400, 10, "user (program.py:1)", tid=2),  # another thread: kept
    ]
    kept = [e[4] for e in without_harness(entries)]
    assert kept == ["execute_batch (grpc/_cython/x.pyx:1)", "len",
                    "Future.set_result (asyncio/futures.py:1)", "user (program.py:1)"]


def test_the_manifest_steers_the_merge(tmp_path: Path) -> None:
    """The manifest's diagnostics carry over, an untraced process contributes nothing,
    ``keep_values`` keeps metadata values, a process traced with viztracer whose file is
    missing (and one whose viztracer output is there) is said or read."""
    run = raw_run(tmp_path)
    data = json.loads((run / "capture.json").read_text())
    data["diagnostics"] = ["scenario x: as expected"]
    data["options"]["keep_values"] = True
    data["processes"][1]["viztracer"] = True  # the client: no viztracer.json
    data["processes"][0]["viztracer"] = True  # the server: one slice
    data["processes"].insert(0, {"role": "peer", "pid": 1, "traced": False,
                                 "viztracer": False, "command": [], "exit_status": 0})
    (run / "capture.json").write_text(json.dumps(data))
    write_viztracer(run / "server", [{"ph": "X", "ts": 1000.0, "dur": 1.0, "tid": SERVER_PID,
                                      "name": "f (a.py:1)"}])
    secret = "I1125 02:31:37.150000   22792 f.cc:1] key=authorization value=41 42 'AB'\n"
    with (run / "client" / "core.log").open("a") as log:
        log.write(secret)
    timeline = build_timeline(Manifest.load(run))
    assert timeline.diagnostics == [
        "scenario x: as expected",
        "client: viztracer wrote no viztracer.json (it starts at the program's first "
        "grpc.aio channel or server; --python-from-start records from interpreter start)"]
    assert timeline.losses == {"client: the Python layer (viztracer wrote no file)": 1}
    assert set(timeline.processes.values()) == {"client", "server"}
    (kept,) = [e for e in timeline.events if "key=authorization" in getattr(e, "text", "")]
    assert kept.text.endswith("value=41 42 'AB'")  # type: ignore[attr-defined]
    (python,) = timeline.of(PythonSlice)
    assert (python.ts, python.pid) == (REALTIME, SERVER_PID)
    assert timeline.clock["server"]["viztracer"]["drift_ns"] == 500


def test_a_missing_core_log_is_said_with_its_path(tmp_path: Path) -> None:
    run = raw_run(tmp_path)
    (run / "server" / "core.log").unlink()
    timeline = build_timeline(Manifest.load(run))
    assert timeline.diagnostics == [f"server: no core log ({run / 'server' / 'core.log'} "
                                    "missing)"]
    assert timeline.clock["server"]["core"]["brackets"] == 0


@pytest.mark.parametrize(("started_ns", "offset_s", "year"), [
    (1798768800 * 10**9, -18000, 2026),  # 2027-01-01T02:00Z is 21:00 on Dec 31 in UTC-5
    (1798758000 * 10**9, 7200, 2027),  # 2026-12-31T22:00Z is midnight in UTC+2
    (1798758000 * 10**9, 0, 2026),
])
def test_the_log_clocks_year_is_the_local_year_at_the_start(started_ns: int, offset_s: int,
                                                            year: int) -> None:
    assert merge._year(started_ns, offset_s) == year


def test_the_process_id_the_events_carry_wins() -> None:
    events: list[Event] = [ThreadStarted(1, pid, 1, name="t", native_id=1) for pid in (7, 8, 7)]
    assert merge._process_id(1, events, {"pid": 5}) == 7
    assert merge._process_id(1, [], {"pid": 5}) == 5
    assert merge._process_id(1, [], {"pid": "5"}) == 1
    assert merge._process_id(1, [], {}) == 1


def test_threads_get_their_roles() -> None:
    pid = 10
    events: list[Event] = [
        ThreadStarted(1, pid, pid, name="Thread-1 (_poll_wrapper)", native_id=11),
        ThreadStarted(2, pid, pid, name="worker", native_id=12),
        CoreReturnEvent(3, pid, 11, tag="0x1", ok=True, event_type="OP_COMPLETE"),
        CoreTagCompleted(4, pid, 13, tag="0x1", ok=True),  # an unnamed core thread
        CoreTagCompleted(5, pid, 12, tag="0x2", ok=True),  # a Python thread completing
        CoreTagCompleted(6, pid, 14, tag="0x3", ok=True),  # named by the hook report
    ]
    timeline = Timeline(events=[])
    merge._name_threads(timeline, pid, events, {"14": "event_engine", "10": "python3.11"})
    assert timeline.threads == {(pid, 10): "main", (pid, 11): "poller",
                                (pid, 12): "python worker", (pid, 13): "core",
                                (pid, 14): "event_engine"}
    # without grpc.aio's poller thread, whoever returns events reads the queue
    plain = Timeline(events=[])
    merge._name_threads(plain, pid, [CoreReturnEvent(3, pid, 11, tag="0x1", ok=True,
                                                     event_type="OP_COMPLETE")], {})
    assert plain.threads == {(pid, 11): "cq reader", (pid, 10): "main"}


@pytest.mark.parametrize(("report", "why"), [
    ("[1, 2]", "not an object"),
    ('{"finished": 1}', "finished is not bool"),
    ('{"pid": true}', "pid is not int"),
    ('{"threads": []}', "threads is not dict"),
    ("{not json", "Expecting property name enclosed in double quotes: line 1 column 2 "
                  "(char 1)"),
])
def test_damage_to_a_hook_report_is_not_trusted(tmp_path: Path, report: str, why: str) -> None:
    path = tmp_path / "hooks.hooks.json"
    path.write_text(report)
    timeline = Timeline(events=[])
    assert merge._read_report(path, timeline, "client") == {}
    assert timeline.diagnostics == [f"client: hooks.hooks.json is damaged ({why})"]
    assert timeline.losses == {"client: hook report (hooks.hooks.json damaged)": 1}


def test_a_hook_reports_names_are_text(tmp_path: Path) -> None:
    path = tmp_path / "hooks.hooks.json"
    path.write_text('{"pid": 3, "finished": true, "threads": {"11": 5}, "attached": {}}')
    timeline = Timeline(events=[])
    report = merge._read_report(path, timeline, "client")
    assert report == {"pid": 3, "finished": True, "threads": {"11": "5"}, "attached": {},
                      "failed": {}}
    assert timeline.diagnostics == [] and timeline.losses == {}


def test_the_harness_frames_nest_as_they_ran() -> None:
    """Out of order input (sorted by thread, start, longest first), frames that start
    where another ends, slices without ``dur``, nesting several levels deep, a Tracing*
    wrapper, a wrapper called from hidden bookkeeping, C calls under a wrapper's C call."""
    order = iter(range(100))

    def slice_(ts: float, dur: float | None, name: str, tid: int = 1) -> merge.Complete:
        # as the reader makes it: a slice without ``dur`` lasts 0
        return (tid, ts, -(dur or 0.0), next(order), name, None)
    entries = [
        slice_(20, 5, "inner (grpc/aio/_call.py:2)"),  # under helper, under Recorder.add
        slice_(0, 100, f"Recorder.add ({HARNESS}:20)"),  # hidden, and all under it
        slice_(10, 50, "helper (grpc/aio/_call.py:1)"),
        slice_(30, 10, f"wrap.<locals>.wrapper ({HARNESS}:10)"),  # a wrapper, but hidden
        slice_(31, 1, "wrapped (grpc/aio/_call.py:3)"),
        slice_(100, 5, "starts where the hidden frame ended (a.py:1)"),  # kept
        slice_(200, None, f"Recorder.add ({HARNESS}:21)"),  # no dur: ends where it starts
        slice_(200, 0, "at the same instant (a.py:2)"),  # not under it: kept
        slice_(300, 50, f"TracingEventLoop.create_future ({HARNESS}:40)"),  # a wrapper
        slice_(301, 10, "time.time_ns()"),  # its C call: gone (no " (": not Python)
        slice_(302, 2, "builtins.len"),  # a C call under that C call: gone too
        slice_(320, 10, "BaseEventLoop.create_future (asyncio/base_events.py:1)"),  # kept
        slice_(400, 10, "called at once (a.py:3)"),  # starts with its caller, ...
        slice_(400, 50, f"Recorder.add ({HARNESS}:23)"),  # ... hidden: the longer is outer
        slice_(5, 1000, f"Recorder.add ({HARNESS}:22)", tid=2),  # thread 2: hidden ...
        slice_(50, 10, "user (program.py:1)", tid=3),  # ... which hides nothing of thread 3
    ]
    kept = [e[4] for e in without_harness(entries)]
    assert kept == ["starts where the hidden frame ended (a.py:1)",
                    "at the same instant (a.py:2)",
                    "BaseEventLoop.create_future (asyncio/base_events.py:1)",
                    "user (program.py:1)"]


def test_the_clock_report_in_words_and_a_single_offset() -> None:
    """Brackets that leave exactly one offset are consistent; a thread's unawaited waiter
    does not stop the brackets after it."""
    events = [
        FutureCreated(1_000, 1, 1, future_id=11, caller="c", in_batch=1),
        CoreBatchStarted(1_500, 1, 1, call="0x1", tag="0xa", ops=("X",)),  # never awaited
        FutureCreated(5_000, 1, 1, future_id=12, caller="c", in_batch=2),
        CoreBatchStarted(6_000, 1, 1, call="0x1", tag="0xb", ops=("X",)),
        TaskResumed(7_000, 1, 1, future_id=12, awaited_ts=6_000),
        FutureCreated(8_000, 1, 1, future_id=13, caller="c", in_batch=3),
        CoreBatchStarted(9_000, 1, 1, call="0x1", tag="0xc", ops=("X",)),
        TaskResumed(9_500, 1, 1, future_id=13, awaited_ts=9_000),
    ]
    # 11 pairs with the first start but was never awaited: no bracket;
    # 12: [5000 - 6000 - 1000, 6000 - 6000] = [-2000, 0]; 13: [8000 - 9000 - 1000, 0]
    report = check_core_clock(events)
    assert report == {
        "method": "same clock (CLOCK_REALTIME); checked by bracketing each batch start "
                  "between its waiter's creation and the await",
        "brackets": 2, "offset_interval_ns": [-2000, 0], "consistent": True,
        "error_bound_ns": 2000}
    exact = [FutureCreated(1_000, 1, 1, future_id=11, caller="c", in_batch=1),
             CoreBatchStarted(1_500, 1, 1, call="0x1", tag="0xa", ops=("X",)),
             TaskResumed(1_600, 1, 1, future_id=11, awaited_ts=1_500),
             FutureCreated(3_000, 1, 1, future_id=12, caller="c", in_batch=2),
             CoreBatchStarted(2_000, 1, 1, call="0x1", tag="0xb", ops=("X",)),
             TaskResumed(4_500, 1, 1, future_id=12, awaited_ts=4_000)]
    # [1000 - 1500 - 1000, 1500 - 1500] = [-1500, 0] and [3000 - 2000 - 1000, 2000] =
    # [0, 2000]: exactly one offset, 0, fits both: consistent
    report = check_core_clock(exact)
    assert report["offset_interval_ns"] == [0, 0] and report["consistent"] is True


def test_damaged_lines_are_each_counted(tmp_path: Path) -> None:
    run = raw_run(tmp_path)
    log = run / "client" / "core.log"
    log.write_bytes(log.read_bytes() + b"I1125 02:31:38.000001   22792 x.cc:1] \xff\n" * 2
                    + b"I1125 02:31:38 no fraction\n" * 3)
    hooks = run / "server" / "hooks.jsonl"
    hooks.write_bytes(hooks.read_bytes() + b"{not json\n" + b'{"kind": "nothing"}\n'
                      + b'{"kind": "loop.wake", "name": "\xff"}\n')
    report = run / "server" / "hooks.hooks.json"
    data = json.loads(report.read_text())
    data["threads"]["22785"] = "t\udcff"
    report.write_bytes(json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogateescape"))
    timeline = build_timeline(Manifest.load(run))
    assert timeline.losses == {"client: undecodable core log lines (core.log)": 2,
                               "client: unparsed core log lines (core.log)": 3,
                               "server: damaged hook events (hooks.jsonl)": 3}
    assert timeline.hooks["server"]["threads"]["22785"] == "t\ufffd"


def test_hook_events_cut_short_count_only_in_a_finished_report(tmp_path: Path) -> None:
    run = raw_run(tmp_path)
    report_path = run / "client" / "hooks.hooks.json"
    report = json.loads(report_path.read_text())
    hooks = run / "client" / "hooks.jsonl"
    lines = hooks.read_text().count("\n")
    hooks.write_text(hooks.read_text() + "{damaged\n")
    report.update(finished=True, events_written=lines + 1 + 5)
    report_path.write_text(json.dumps(report))
    timeline = build_timeline(Manifest.load(run))
    # written = kept + damaged + missing: lines + 1 + 5 = lines + 1 + missing
    assert timeline.losses == {"client: damaged hook events (hooks.jsonl)": 1,
                               "client: hook events missing: hooks.jsonl is cut": 5}
    report.update(finished=False)
    report_path.write_text(json.dumps(report))
    timeline = build_timeline(Manifest.load(run))
    assert "client: hook events missing: hooks.jsonl is cut" not in timeline.losses


@pytest.mark.parametrize(("size_change", "lost"), [(0, 0), (1, 1)])
def test_a_core_log_of_its_final_size_is_whole(tmp_path: Path, size_change: int,
                                               lost: int) -> None:
    run = raw_run(tmp_path)
    size = (run / "client" / "core.log").stat().st_size
    data = json.loads((run / "capture.json").read_text())
    data["processes"][1]["core_log_bytes"] = size + size_change
    (run / "capture.json").write_text(json.dumps(data))
    timeline = build_timeline(Manifest.load(run))
    assert timeline.losses.get("client: core log bytes missing: core.log is cut", 0) == lost
    assert timeline.diagnostics == [f"client: core.log holds {size} of its {size + 1} bytes"
                                    for _ in range(lost)]


def test_an_empty_core_log_that_was_not_empty_is_cut(tmp_path: Path) -> None:
    run = raw_run(tmp_path)
    (run / "client" / "core.log").write_bytes(b"")
    data = json.loads((run / "capture.json").read_text())
    data["processes"][1]["core_log_bytes"] = 10
    (run / "capture.json").write_text(json.dumps(data))
    timeline = build_timeline(Manifest.load(run))
    assert timeline.losses["client: core log bytes missing: core.log is cut"] == 10


def test_the_majority_process_id_and_the_first_second_of_a_year() -> None:
    events: list[Event] = [ThreadStarted(1, pid, 1, name="t", native_id=1) for pid in (8, 7, 7)]
    assert merge._process_id(1, events, {}) == 7
    assert merge._year(1798761600 * 10**9, 0) == 2027  # 2027-01-01T00:00:00Z


def rewrite_hooks(run: Path, role: str, change: dict[str, dict[str, int]] | None = None,
                  shift_ns: int = 0) -> None:
    """The role's hooks.jsonl with every instant (``ts``, ``awaited_ts``) moved by
    ``shift_ns``, then the fields of the lines named in ``change`` (by their original
    ``ts``) set as given."""
    hooks = run / role / "hooks.jsonl"
    lines = []
    for line in hooks.read_text().splitlines():
        event = json.loads(line)
        event.update((change or {}).get(str(event["ts"]), {}))
        for key in ("ts", "awaited_ts"):
            if key in event:
                event[key] += shift_ns
        lines.append(json.dumps(event) + "\n")
    hooks.write_text("".join(lines))


DISAGREE = ("client: the core log's times disagree with the hooks' (check capture.json's "
            "started_ns and utc_offset_s)")


@pytest.mark.parametrize(("shift_ns", "interval", "lost"), [
    (0, [-16585, 71631], False),
    (17585, [1000, 89216], False),  # the core's stamp 1 µs behind: its truncation
    (17586, [1001, 89217], True),  # 1 ns more: the core's clock is behind the hooks'
    (-71631, [-88216, 0], False),  # the hooks' creation ... await as early as can be
    (-71632, [-88217, -1], True),  # 1 ns more: the core's clock is ahead
])
def test_a_consistent_clock_must_hold_offset_zero_up_to_the_truncation(
        tmp_path: Path, shift_ns: int, interval: list[int], lost: bool) -> None:
    """Every client hook instant of both-3 moved by ``shift_ns`` moves every bracket of
    ``test_the_raw_files_of_a_real_capture_merge_onto_one_clock`` ([-16585, 71631]) by as
    much: still consistent, but the merge puts the core's stamps and the hooks' on one
    clock only if an offset in [0, 1 µs] (the core prints truncated microseconds) fits."""
    run = raw_run(tmp_path)
    rewrite_hooks(run, "client", shift_ns=shift_ns)
    timeline = build_timeline(Manifest.load(run))
    client = timeline.clock["client"]["core"]
    assert (client["offset_interval_ns"], client["consistent"]) == (interval, True)
    assert timeline.losses == ({DISAGREE: 1} if lost else {})


def test_inconsistent_brackets_around_offset_zero_are_still_a_loss(tmp_path: Path) -> None:
    """both-3's first await moved to 100 ns after the core's stamp of its batch start
    (.135159000) and the third waiter created 1.5 µs after its batch's stamp
    (.144228000): [-1000 - 22646 ..., 100] and [500, ...] leave no offset, although each
    end of the interval [500, 100] lies on its side of [0, 1 µs]."""
    run = raw_run(tmp_path)
    rewrite_hooks(run, "client", change={
        "1795573897140857844": {"awaited_ts": 1795573897_135159100},
        "1795573897144212415": {"ts": 1795573897_144229500}})
    timeline = build_timeline(Manifest.load(run))
    client = timeline.clock["client"]["core"]
    assert (client["offset_interval_ns"], client["consistent"]) == ([500, 100], False)
    assert timeline.losses == {DISAGREE: 1}


def set_client(run: Path, **fields: object) -> None:
    data = json.loads((run / "capture.json").read_text())
    data["processes"][1].update(fields)
    (run / "capture.json").write_text(json.dumps(data))


def test_the_process_id_comes_from_the_hook_events_then_the_report(tmp_path: Path) -> None:
    """A manifest whose client pid is wrong (12345) and a hook report that says 54321:
    the client's hook events say 22792, and the core log follows them; with no hook
    event at all (an empty hooks.jsonl), the report's pid wins over the manifest's."""
    run = raw_run(tmp_path)
    set_client(run, pid=12345)
    report_path = run / "client" / "hooks.hooks.json"
    report = json.loads(report_path.read_text())
    report_path.write_text(json.dumps(dict(report, pid=54321)))
    timeline = build_timeline(Manifest.load(run))
    assert timeline.processes == {SERVER_PID: "server", CLIENT_PID: "client"}
    assert {e.pid for e in timeline.events} == {SERVER_PID, CLIENT_PID}
    (run / "client" / "hooks.jsonl").write_text("")
    timeline = build_timeline(Manifest.load(run))
    assert timeline.processes == {SERVER_PID: "server", 54321: "client"}
    assert {e.pid for e in timeline.events} == {SERVER_PID, 54321}


def test_an_overflowed_viztracer_buffer_counts_the_captures_rpcs(tmp_path: Path) -> None:
    """both-3's client traced with viztracer (clock: viztracer's µs + 1795573896.999 s is
    realtime, no drift) whose buffer overflowed: its only slice ends at viztracer's
    141000 µs = .140000000 realtime, after the first client RPC started (.134859945),
    before the second (.141083227) and third (.144016398): 1 of the 3 has no Python layer."""
    run = raw_run(tmp_path)
    set_client(run, viztracer=True)
    realtime = 1795573897_000_000_000
    sample = {"offset_ns": realtime - 1000 * 1000, "width_ns": 400, "realtime_ns": realtime}
    later = dict(sample, realtime_ns=realtime + 200_000_000, width_ns=600)
    (run / "client" / "clock.json").write_text(json.dumps({"start": sample, "end": later}))
    (run / "client" / "viztracer.json").write_text(json.dumps({
        "traceEvents": [{"ph": "X", "ts": 140990.0, "dur": 10.0, "tid": CLIENT_PID,
                         "name": "f (a.py:1)"}],
        "viztracer_metadata": {"overflow": True}}))
    timeline = build_timeline(Manifest.load(run))
    assert timeline.diagnostics == [
        "client: viztracer's buffer overflowed: the oldest Python events were dropped, 1 of "
        "3 RPCs have no Python layer (raise --tracer-entries)"]
    (python,) = timeline.of(PythonSlice)
    assert (python.ts, python.dur, python.pid) == (1795573897_139990000, 10_000, CLIENT_PID)
    assert timeline.clock["client"]["viztracer"]["error_bound_ns"] == 300


def test_a_process_without_grpc_aio_is_said_in_the_timeline(tmp_path: Path) -> None:
    """both-3's client with only its first hook line kept (a thread started): the core
    started 3 batches on the main thread and no hook saw grpc.aio make any of them."""
    run = raw_run(tmp_path)
    hooks = run / "client" / "hooks.jsonl"
    hooks.write_text(hooks.read_text().splitlines(keepends=True)[0])
    timeline = build_timeline(Manifest.load(run))
    assert timeline.diagnostics == [
        "client: this program used grpc without grpc.aio (synchronous grpc?): toygrpc "
        "traces grpc.aio calls, so it follows none here; it saw 3 core batch(es) started "
        "on 1 thread(s), kept in the trace"]


def viztracer_layout(events: list[dict[str, object]], metadata: object = None) -> bytes:
    """A file as viztracer 1.1.1 writes it: compact JSON, ``{"traceEvents":[`` first, the
    metadata and ``file_info`` after the events."""
    whole = {"traceEvents": events,
             "viztracer_metadata": {"overflow": False, "version": "1.1.1"}
             if metadata is None else metadata,
             "file_info": {"files": {}, "functions": {}}}
    return json.dumps(whole, separators=(",", ":")).encode()


class ReadInBlocks(type(Path())):  # type: ignore[misc]  # a concrete Path class
    """A path whose file may only be read through ``open`` in blocks of at most
    ``merge.READ_BLOCK_BYTES`` (or the 16 bytes of ``{"traceEvents":[``): reading it
    whole fails the test."""

    def read_bytes(self) -> bytes:
        raise AssertionError(f"{self.name} read whole")

    def open(self, *args: object, **kwargs: object) -> object:
        source = super().open(*args, **kwargs)
        read = source.read

        def limited(size: int | None = -1) -> bytes:
            if size is None or size < 0 or size > max(merge.READ_BLOCK_BYTES, 16):
                raise AssertionError(f"a read of {size} bytes: the file held whole")
            return read(size)  # type: ignore[no-any-return]  # a binary file
        source.read = limited
        return source


def fifty_slices() -> list[dict[str, object]]:
    """viztracer's events of one process: two metadata events, then 50 slices whose
    names and arguments hold the characters the block reader cuts at."""
    events: list[dict[str, object]] = [
        {"ph": "M", "pid": 1, "tid": 1, "name": "process_name", "args": {"name": "Main"}},
        {"ph": "M", "pid": 1, "tid": 1, "name": "thread_name", "args": {"name": "Main"}}]
    for n in range(50):
        events.append({"pid": 1, "tid": 1 + n % 3, "ts": 1000.5 + n, "ph": "X", "cat": "fee",
                       "dur": 0.25 * n, "name": f"f{n} (a.py:{n})",
                       **({"args": {"n": n, "s": "]{"}} if n % 7 == 0 else {})})
    return events


@pytest.mark.parametrize("block", [1, 7, 64, 200, 8 << 20])
def test_viztracers_file_is_read_in_blocks_and_never_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    """Blocks of 1 byte to the whole file: each is cut after its last ``},{"`` and
    decoded, so that only the file's last object is left to decode whole; every slice
    comes out in file order, with its thread, start, minus its
    duration, its place, name and arguments, and the metadata; the metadata events and
    instants are no slices."""
    path = ReadInBlocks(tmp_path / "viztracer.json")
    path.write_bytes(viztracer_layout([*fifty_slices(),
                                       {"ph": "i", "tid": 1, "ts": 2000.0, "name": "i"}]))
    monkeypatch.setattr(merge, "READ_BLOCK_BYTES", block)
    decoded: list[int] = []
    whole_file = merge._FILE

    class Recording:
        def decode(self, data: bytes) -> merge.VizFile:
            decoded.append(len(data))
            return whole_file.decode(data)
    monkeypatch.setattr(merge, "_FILE", Recording())
    complete, metadata = merge.read_viztracer_file(path)
    # the file's last object, decoded alone: ``{"traceEvents":[`` (16 bytes), the instant
    # (41), ``],``, the metadata (57), ``,``, file_info (39), ``}``
    assert decoded == [16 + 41 + 2 + 57 + 1 + 39 + 1]
    assert metadata == {"overflow": False, "version": "1.1.1"}
    assert complete == [(1 + n % 3, 1000.5 + n, -0.25 * n, n, f"f{n} (a.py:{n})",
                         {"n": n, "s": "]{"} if n % 7 == 0 else None) for n in range(50)]


def test_an_argument_that_holds_the_entry_boundary_is_read_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An argument holding a list of objects holds ``},{"`` (a name cannot: its quotes
    are escaped): a block that ends there does not decode, and the whole file is read
    instead, to the same slices."""
    events = fifty_slices()
    events[10 + 2]["args"] = {"l": [{"a": 1}, {"b": 2}]}
    path = tmp_path / "viztracer.json"
    path.write_bytes(viztracer_layout(events))
    assert path.read_bytes().count(b'},{"') == 51 + 1  # between 52 events, and in the args
    monkeypatch.setattr(merge, "READ_BLOCK_BYTES", 1)  # a block ends at every byte
    complete, _ = merge.read_viztracer_file(path)
    assert [c[5] for c in complete][9:12] == [None, {"l": [{"a": 1}, {"b": 2}]}, None]
    assert [c[3] for c in complete] == list(range(50))
    with pytest.raises(AssertionError, match="read whole"):
        merge.read_viztracer_file(ReadInBlocks(path))


@pytest.mark.parametrize(("missing", "content", "said"), [
    ("ts", None, "KeyError: 'a complete event without its ts, tid or name'"),
    ("tid", None, "KeyError: 'a complete event without its ts, tid or name'"),
    ("name", None, "KeyError: 'a complete event without its ts, tid or name'"),
    ("", b'{"traceEvents":[{"ph":"X","ts":1', "ValueError: Input data was truncated"),
    ("", b'{"traceEvents": [{"ph": "X", "ts": 1', "ValueError: Input data was truncated"),
    ("", b"[1, 2]", "ValueError: Expected `object`, got `array`"),
    ("", viztracer_layout([], metadata=[]), "TypeError: viztracer_metadata is not an object"),
])
def test_damage_to_viztracers_file_is_said_by_what_is_wrong(
        tmp_path: Path, missing: str, content: bytes | None, said: str) -> None:
    """A complete event without its start, thread or name; a file cut short (in
    viztracer's compact layout or another); not viztracer's object; metadata that is
    no object: one line each, and no slice."""
    trace, clock = write_viztracer(tmp_path, [])
    event = {"ph": "X", "ts": 1000.0, "dur": 1.0, "tid": 1, "name": "f (a.py:1)"}
    event.pop(missing, None)
    trace.write_bytes(viztracer_layout([event]) if content is None else content)
    timeline = Timeline(events=[])
    assert read_viztracer(trace, clock, 42, "client", timeline) == []
    assert timeline.diagnostics == [f"client: viztracer output unusable ({said})"]


@pytest.mark.parametrize("instant", [
    GlueSpan(2_000, 1, 1, dur=50, name="execute_batch"),
    RpcStarted(2_000, 1, 1, call_id=5, method="/m", side="client"),
    RpcFinished(2_000, 1, 1, call_id=5, status="OK", side="client"),
    LoopWake(8_000, 1, 1, fd=9, waited=6_000),  # its select() began at 2_000
    ThreadStarted(2_000, 1, 1, name="worker", native_id=7),
], ids=lambda e: type(e).__name__)
def test_each_kind_of_hook_instant_closes_a_bracket(instant: Event) -> None:
    """Without awaits recorded, a hook of each category (a glue span, an RPC's start or
    end, a wake's select() start, a thread's start) read the clock at 2000 on the
    waiter's thread: the bracket is [1000 - 1500 - 1000, 2000 - 1500] = [-1500, 500],
    not [.., 9000 - 1500] as the next hook after it would make it."""
    events = [
        FutureCreated(1_000, 1, 1, future_id=11, caller="c", in_batch=1),
        CoreBatchStarted(1_500, 1, 1, call="0x1", tag="0xa", ops=("X",)),
        instant,
        TaskResumed(9_000, 1, 1, future_id=11),
    ]
    report = check_core_clock(events)
    assert (report["brackets"], report["offset_interval_ns"]) == (1, [-1500, 500])


def test_an_overflow_that_left_no_slice_leaves_every_rpc_without_its_python_layer(
        tmp_path: Path) -> None:
    """viztracer's buffer overflowed and nothing but metadata is left: both RPCs (a
    client call and a server handler) lost their Python layer, and the loss counts
    both."""
    trace, clock = write_viztracer(tmp_path, [
        {"ph": "M", "pid": 1, "tid": 1, "name": "process_name", "args": {"name": "Main"}}])
    data = json.loads(trace.read_text())
    data["viztracer_metadata"] = {"overflow": True}
    trace.write_text(json.dumps(data))
    hooks = [RpcStarted(REALTIME + 1, 42, 1, call_id=1, method="/m", side="client"),
             GlueSpan(REALTIME + 5, 42, 1, dur=1, name="_handle_rpc")]
    timeline = Timeline(events=[])
    assert merge._read_viztracer(trace, clock, 42, "client", timeline, hooks) == []
    assert timeline.diagnostics == [
        "client: viztracer's buffer overflowed: the oldest Python events were dropped, 2 of "
        "2 RPCs have no Python layer (raise --tracer-entries)"]
    assert timeline.losses == {"client: RPCs without their Python layer (viztracer's buffer "
                               "overflowed; raise --tracer-entries)": 2}


def test_a_traced_class_method_is_a_wrapper_and_other_harness_frames_hide() -> None:
    """``TracedFuture.set_result`` (a Traced* method) keeps what it calls and drops its own
    C calls; a harness function of another name hides everything under it."""
    entries: list[merge.Complete] = [
        (1, 0.0, -10.0, 0, f"TracedFuture.set_result ({HARNESS}:50)", None),
        (1, 1.0, -1.0, 1, "time.time_ns", None),
        (1, 2.0, -5.0, 2, "Future.set_result (asyncio/futures.py:1)", None),
        (1, 20.0, -10.0, 3, f"tracer_state ({HARNESS}:60)", None),
        (1, 21.0, -5.0, 4, "Future.set_result (asyncio/futures.py:1)", None),
    ]
    assert [e[3] for e in without_harness(entries)] == [2]


def test_threads_named_by_what_they_do_when_nothing_else_names_them() -> None:
    """In a grpc.aio process an unnamed thread that returns queue events polls for it;
    without grpc.aio's poller thread (a Python thread of another name) it reads the
    queue; an unnamed thread's other core lines name it nothing."""
    pid = 10
    returns = CoreReturnEvent(3, pid, 16, tag="0x1", ok=True, event_type="OP_COMPLETE")
    other = CoreApiCall(4, pid, 15, name="grpc_call_unref", args="c=0x1", source="call.cc:1")
    for started, role in (("Thread-1 (_poll_wrapper)", "poller"), ("worker", "cq reader")):
        timeline = Timeline(events=[])
        merge._name_threads(timeline, pid, [
            ThreadStarted(1, pid, pid, name=started, native_id=11), returns, other], {})
        assert timeline.threads == {(pid, 11): "poller" if role == "poller" else "python worker",
                                    (pid, 16): role, (pid, 10): "main"}


def test_a_bound_inside_the_truncation_on_both_sides_is_the_truncation() -> None:
    """Awaited as soon as created: [2000 - 1500 - 1000, 2000 - 1500] = [-500, 500]: both
    ends nearer than 1 µs, the core's own truncation bounds the error."""
    events = [CoreBatchStarted(1_500, 1, 1, call="0x1", tag="0xa", ops=("X",)),
              FutureCreated(2_000, 1, 1, future_id=11, caller="c", in_batch=1),
              TaskResumed(2_500, 1, 1, future_id=11, awaited_ts=2_000)]
    report = check_core_clock(events)
    assert report["offset_interval_ns"] == [-500, 500] and report["error_bound_ns"] == 1000


def test_each_unknown_tracer_is_said_once() -> None:
    """The core logs ``Unknown tracer: NAME`` for a ``--tracer`` it does not know (a core
    line of no call: kept as its text); twice the same name is one line."""
    lines: list[Event] = [CoreLine(1, 1, 1, "Unknown tracer: polling"),
                          CoreLine(2, 1, 1, "gRPC Tracers: api"),
                          CoreLine(3, 1, 1, "Unknown tracer: polling"),
                          CoreLine(4, 1, 1, "Unknown tracer: flowctl  "),
                          CoreLine(5, 1, 1, "said: Unknown tracer: x")]
    assert merge.unknown_tracers(lines) == [
        "the core does not know the tracer 'polling' (a typo, or a tracer of debug builds "
        "only): it logged nothing for it",
        "the core does not know the tracer 'flowctl' (a typo, or a tracer of debug builds "
        "only): it logged nothing for it"]


def test_an_unknown_tracer_in_a_real_core_log_is_said(tmp_path: Path) -> None:
    run = raw_run(tmp_path)
    with (run / "server" / "core.log").open("a") as log:
        log.write("E1125 02:31:37.150000   22784 trace.cc:80] Unknown tracer: polling\n")
    timeline = build_timeline(Manifest.load(run))
    assert timeline.diagnostics == [
        "server: the core does not know the tracer 'polling' (a typo, or a tracer of debug "
        "builds only): it logged nothing for it"]


def test_python_slices_alone_tell_nothing_of_grpc_aio() -> None:
    """viztracer's slices are no hook events: with them alone, as with no event at all,
    whether the program used grpc.aio cannot be told."""
    batches = [CoreBatchStarted(10, 1, 5, call="0x1", tag="0xa", ops=("X",))]
    assert not_grpc_aio([*batches, PythonSlice(1, 1, 5, dur=3, name="f (a.py:1)")]) == ""


def test_hook_lines_only_json_reads_are_read_by_json(tmp_path: Path) -> None:
    """The fast decoder refuses a lone surrogate's escape and an integer beyond 64 bits
    keeps its value: such a line is read as json reads it (an event kept), and a NaN where
    an integer belongs is still a damaged event."""
    run = raw_run(tmp_path)
    hooks = run / "client" / "hooks.jsonl"
    created = {**json.loads(next(line for line in hooks.read_text().splitlines()
                                 if '"future.created"' in line)), "in_batch": 0}
    surrogate = json.dumps({**created, "caller": "c"}).replace('"c"', '"\\ud800"')
    huge = json.dumps({**created, "future_id": 2**70})
    nan = json.dumps({**created, "future_id": 1}).replace('"future_id": 1', '"future_id": NaN')
    hooks.write_text(hooks.read_text() + f"{surrogate}\n{huge}\n{nan}\n")
    timeline = build_timeline(Manifest.load(run))
    assert timeline.losses == {"client: damaged hook events (hooks.jsonl)": 1}
    made = [e for e in timeline.of(FutureCreated) if e.pid == CLIENT_PID]
    assert "\ud800" in [e.caller for e in made] and 2**70 in [e.future_id for e in made]


def test_slices_are_made_as_their_constructor_makes_them() -> None:
    """The merge sets a slice's slots one by one: the slice equals the constructor's, and
    a PythonSlice whose fields are not the six it sets is refused, not half made."""
    made = object.__new__(PythonSlice)
    for set_field, value in zip(merge._slice_setters(),
                                (5, 1, 2, 30, "f (a.py:1)", {"x": 1}), strict=True):
        set_field(made, value)
    assert made == PythonSlice(5, 1, 2, 30, "f (a.py:1)", {"x": 1})


def test_a_slice_of_other_fields_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merge, "SLICE_FIELDS", ("ts", "pid", "tid", "dur", "name"))
    with pytest.raises(TypeError, match="PythonSlice's fields are"):
        merge._slice_setters()


def _without_harness_by_the_book(complete: list[merge.Complete]) -> list[merge.Complete]:
    """The filter as first written: every frame opened, closed when the next starts at
    or after its end."""
    kept: list[merge.Complete] = []
    ends: list[float] = []
    modes: list[int] = []
    tid = None
    for entry in sorted(complete):
        thread, start, minus_dur, _, name, _ = entry
        if thread != tid:
            tid, ends, modes = thread, [], []
        while ends and ends[-1] <= start:
            ends.pop()
            modes.pop()
        under = merge._modes(merge._name_kind(name))
        mode = under[modes[-1]] if modes else under[merge.SHOW]
        if mode == merge.SHOW:
            kept.append(entry)
        ends.append(start - minus_dur)
        modes.append(mode)
    return kept


@pytest.mark.parametrize("seed", range(20))
def test_frames_that_close_before_the_next_are_never_opened_and_nothing_changes(
        seed: int) -> None:
    """Random frames on three threads (on a coarse grid, so that frames start where
    others end, last 0, or outlast their caller), of every kind: the filter keeps what
    the filter that opens every frame keeps."""
    import random

    chance = random.Random(seed)
    names = [f"wrap.<locals>.w ({HARNESS}:1)", f"TracingX.y ({HARNESS}:2)",
             f"Recorder.add ({HARNESS}:3)", "f (grpc/aio/_call.py:1)", "g (a.py:2)",
             "time.time_ns", "builtins.len"]
    entries: list[merge.Complete] = [
        (chance.choice((1, 2, 3)), float(chance.randrange(40)),
         -float(chance.choice((0, 0, 1, 1, 2, 3, 5, 8, 20))), place, chance.choice(names),
         None) for place in range(300)]
    chance.shuffle(entries)
    expected = _without_harness_by_the_book(list(entries))
    assert without_harness(entries) == expected
    assert 0 < len(expected) < len(entries)
