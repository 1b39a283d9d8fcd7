"""How the Perfetto renderer lays slices out, on small hand-made inputs with answers worked
out by hand (the layout rules are the renderer's own: these are not captures), and the
rules every committed real run's trace keeps (tests/fixtures/runs, traces/samples)."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.render.test_perfetto_decoded import check_point_lanes, decode
from toygrpc.analysis.run import Run
from toygrpc.model.events import Event
from toygrpc.render.perfetto import (
    PerfettoRenderer,
    Slice,
    TraceModel,
    Track,
    _Interner,
    _is_address,
    _json_order,
    _us,
    flat_args,
    lanes,
    link_stages,
    nested,
    ordered_events,
    thread_rank,
    track_events,
    under,
    write_json,
)

ROOT = Path(__file__).resolve().parents[2]
COMMITTED_RUNS = sorted([*(ROOT / "tests" / "fixtures" / "runs").iterdir(),
                         *(ROOT / "traces" / "samples").iterdir()])


def span(ts: int, end: int | None, name: str = "", track: int = 1) -> Slice:
    return Slice(track, ts, end, name, "test")


def test_thread_rank_puts_main_then_the_core_then_the_poller() -> None:
    assert [thread_rank(r) for r in ("main", "core", "poller")] == [0, 1, 2]
    for core in ("event_engine", "core 7", "grpc_global_tim"):
        assert thread_rank(core) == 1, core
    assert thread_rank("lifeguard") == thread_rank("") == thread_rank("Thread-3") == 3


def test_an_address_is_0x_and_up_to_16_lowercase_hex_digits() -> None:
    assert _is_address("0x7faf7efbb778") and _is_address("0x0")
    assert _is_address("0x" + "f" * 16) and not _is_address("0x" + "f" * 17)
    for text in ("0x", "0x7F", "7faf", "0xg1", "x0x1", "0x1 ", "0xX1"):
        assert not _is_address(text), text


def test_nested_args_are_flattened() -> None:
    args = {"a": {"b": 1, "c": {"d": [1, 2]}}, "e": (3,), "f": "x", "g": 1.5}
    assert list(flat_args(args)) == [("a.b", 1), ("a.c.d", "1, 2"), ("e", "3"), ("f", "x"),
                                     ("g", 1.5)]


def test_interned_strings_are_written_once_and_values_keep_their_type() -> None:
    """Decoded with the perfetto protos: each name once per table, numbered from 1, handed
    to the packet that first uses it; each value in the field of its type."""
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import (
        DebugAnnotation,
        InternedData,
    )

    from toygrpc.render import protowire as pw

    interner = _Interner()
    assert interner.fresh
    assert interner.iid(pw.INTERNED_NAMES, "a") == 1
    assert interner.iid(pw.INTERNED_NAMES, "b") == 2
    assert interner.iid(pw.INTERNED_NAMES, "a") == 1
    assert interner.iid(pw.INTERNED_ANNOTATION_NAMES, "a") == 1  # another table
    interned = InternedData.FromString(interner.take())
    assert [(e.iid, e.name) for e in interned.event_names] == [(1, "a"), (2, "b")]
    assert [(e.iid, e.name) for e in interned.debug_annotation_names] == [(1, "a")]
    assert interner.take() == b""  # taken once
    values = [True, 7, 2.5, "0x7faf", "plain", "call=0x55c7, n=1", None, [1, "x"]]
    annotations = [DebugAnnotation.FromString(interner.value(v)) for v in values]
    assert [a.WhichOneof("value") for a in annotations] == [
        "bool_value", "int_value", "double_value", "pointer_value", "string_value_iid",
        "string_value", "string_value", "string_value"]
    assert annotations[0].bool_value is True and annotations[1].int_value == 7
    assert annotations[2].double_value == 2.5 and annotations[3].pointer_value == 0x7FAF
    assert annotations[5].string_value == "call=0x55c7, n=1"
    assert annotations[6].string_value == "null"
    assert annotations[7].string_value == '[1, "x"]'  # anything else: as JSON
    [plain] = InternedData.FromString(interner.take()).debug_annotation_string_values
    assert (plain.iid, plain.str) == (annotations[4].string_value_iid, b"plain")


def test_a_child_that_ends_after_its_parent_is_cut() -> None:
    a, b, c, point = span(0, 10), span(5, 15), span(10, 12), span(3, None)
    out = nested([c, point, b, a])
    assert out == [a, point, b, c]
    assert (b.end, c.end, a.end, point.end) == (10, 12, 10, None)
    short, long = span(0, 4), span(0, 10)  # at one time: the longer is the parent
    assert nested([short, long]) == [long, short] and (long.end, short.end) == (10, 4)


def test_lanes_nest_or_keep_apart() -> None:
    a, b, c, d = span(0, 10), span(2, 5), span(3, 12), span(11, 13)
    assert lanes([d, c, b, a]) == [[a, b, d], [c]]
    a, b, e = span(0, 10), span(2, 5), span(10, 11)
    assert lanes([a, b, e], nest=False) == [[a, e], [b]]
    a, b, e = span(0, 10), span(2, 5), span(10, 11)
    assert lanes([a, b, e], nest=False, gap=2) == [[a], [b, e]]
    p, q = span(1, None, "p"), span(1, None, "q")  # points: apart only with a gap
    assert lanes([p, q], nest=False) == [[p, q]]
    assert lanes([p, q], nest=False, gap=2) == [[p], [q]]
    assert lanes([]) == []
    short, long, same_end = span(0, 4), span(0, 10), span(5, 10)
    assert lanes([short, long, same_end]) == [[long, short, same_end]]  # all nest


def test_children_fit_under_a_parent_one_after_another() -> None:
    parent = span(0, 10)
    c1, c2, c3, c4, point = span(1, 4), span(3, 5), span(4, 10), span(9, 11), span(10, None)
    inside, outside = under(parent, [c4, c3, point, c2, c1])
    assert inside == [c1, c3, point] and outside == [c2, c4]
    assert under(span(5, 10), [span(4, 6)]) == ([], [span(4, 6)])
    assert under(span(0, 0), [span(0, 1)]) == ([], [span(0, 1)])  # an RPC of no length


def test_begin_end_and_instants_in_nesting_order() -> None:
    a, b, point = span(0, 10, "a"), span(2, 4, "b"), span(10, None, "i")
    got = [(ts, kind, s.name) for ts, kind, s in track_events([point, b, a])]
    assert got == [(0, "B", "a"), (2, "B", "b"), (4, "E", "b"), (10, "I", "i"), (10, "E", "a")]
    a, c = span(0, 10, "a"), span(10, 12, "c")
    got = [(ts, kind, s.name) for ts, kind, s in track_events([c, a])]
    assert got == [(0, "B", "a"), (10, "E", "a"), (10, "B", "c"), (12, "E", "c")]
    late = [span(0, 5, "x"), span(6, None, "y")]
    assert [(ts, kind) for ts, kind, _ in track_events(late)] == [(0, "B"), (5, "E"), (6, "I")]
    together = [span(0, 4, "short"), span(0, 10, "long")]
    got = [(ts, kind, s.name) for ts, kind, s in track_events(together)]
    assert got == [(0, "B", "long"), (0, "B", "short"), (4, "E", "short"), (10, "E", "long")]


def test_events_of_all_tracks_in_time_order() -> None:
    model = TraceModel(slices=[span(0, 10, "a", 1), span(3, 4, "b", 2), span(5, None, "c", 1)])
    got = [(ts, kind, s.name) for ts, kind, s in ordered_events(model)]
    assert got == [(0, "B", "a"), (3, "B", "b"), (4, "E", "b"), (5, "I", "c"), (10, "E", "a")]
    assert model.counts() == {"slices": 3, "flows": 0, "tracks": 0}
    model = TraceModel(slices=[span(0, 10, "a", 1), span(5, None, "p", 2)])
    got = [(ts, kind, s.name) for ts, kind, s in ordered_events(model)]
    assert got == [(0, "B", "a"), (5, "I", "p"), (10, "E", "a")]


def test_json_track_order_and_microseconds() -> None:
    process = Track(1, "p", 9, is_process=True)
    thread = Track(2, "t", 9, tid=5, parent=1, rank=3)
    under_thread = Track(3, "s", 9, parent=2, rank=1)
    tracks = {t.uuid: t for t in (process, thread, under_thread)}
    assert _json_order(under_thread, tracks) == (3, 1)
    assert _json_order(thread, tracks) == (3,) and _json_order(process, tracks) == ()
    assert _us(1234567) == 1234.567 and _us(1) == 0.001 and _us(1500) == 1.5


def test_close_points_go_to_lanes_of_their_own_in_chrome_json(tmp_path: Path) -> None:
    """Points 0 and 1 ns apart on one thread: each on its own 1 ns slice, on lanes
    "events", "events (2)", "events (3)" right after the thread, no two touching."""
    process = Track(1, "client", 9, is_process=True)
    thread = Track(2, "main", 9, tid=5, parent=1, rank=0)
    other = Track(3, "poller", 9, tid=6, parent=1, rank=1)
    points = [span(10, None, "a", 2), span(10, None, "b", 2), span(11, None, "c", 2),
              span(20, None, "d", 2), span(4, 30, "e", 3)]
    points[0].flows_out, points[4].flows_in = [1], [1]
    model = TraceModel([process, thread, other], points, {1: "core_to_poller"})
    path = tmp_path / "trace.json"
    write_json(model, path)
    events = json.loads(path.read_text())["traceEvents"]
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
               if e.get("name") == "thread_name"}
    assert threads[(9, 5)] == "main" and threads[(9, 6)] == "poller"
    lane = {name: tid for (_, tid), name in threads.items()}
    assert {"main: events", "main: events (2)", "main: events (3)"} <= set(lane)
    assert lane["main: events"] > 1 << 22 and len(set(lane.values())) == len(lane)
    order = {e["tid"]: e["args"]["sort_index"] for e in events
             if e.get("name") == "thread_sort_index"}
    assert [order[lane[n]] for n in ("main", "main: events", "main: events (2)",
                                     "main: events (3)", "poller")] == [1, 2, 3, 4, 5]
    begins = {e["name"]: e for e in events if e["ph"] == "B"}
    assert [threads[(9, begins[n]["tid"])] for n in "abcd"] == [
        "main: events", "main: events (2)", "main: events (3)", "main: events"]
    assert begins["a"]["ts"] == 0.01 and begins["e"]["tid"] == 6
    ends = [e for e in events if e["ph"] == "E" and e["tid"] == lane["main: events"]]
    assert [e["ts"] for e in ends] == [0.011, 0.021]  # a point lasts 1 ns
    [flow_out] = [e for e in events if e["ph"] == "s"]
    [flow_in] = [e for e in events if e["ph"] == "f"]
    assert flow_out == {"ph": "s", "id": 1, "name": "core_to_poller", "cat": "flow", "pid": 9,
                        "tid": lane["main: events"], "ts": 0.01}
    assert flow_in == {"ph": "f", "bp": "e", "id": 1, "name": "core_to_poller", "cat": "flow",
                       "pid": 9, "tid": 6, "ts": 0.004}
    assert {"ph": "M", "name": "thread_sort_index", "pid": 9, "tid": 5,
            "args": {"sort_index": 1}} in events
    assert {"ph": "M", "name": "thread_name", "pid": 9, "tid": 5,
            "args": {"name": "main"}} in events
    assert begins["e"] == {"ph": "B", "name": "e", "cat": "test", "pid": 9, "tid": 6,
                           "ts": 0.004, "args": {}}
    assert path.read_text().startswith('{"traceEvents":[{"ph":"M","name":"process_name",')
    check_point_lanes(events, threads)
    [process_name] = [e for e in events if e.get("name") == "process_name"]
    assert process_name == {"ph": "M", "name": "process_name", "pid": 9, "tid": 0,
                            "args": {"name": "client"}}


def raw_events(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines[1:]]


@pytest.mark.parametrize("run_dir", COMMITTED_RUNS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_committed_run_renders_a_well_formed_trace(run_dir: Path, tmp_path: Path) -> None:
    """Decoded, each trace has one slice per client call on its RPC track (counted in the
    raw events), a slice per sent message named in order, a flow that starts and ends once
    per link, and tracks that nest."""
    run = Run.load(run_dir)
    renderer = PerfettoRenderer(out=tmp_path)
    [path] = renderer.render(run)
    trace = decode(path)
    raw = raw_events(run_dir)
    client_pids = {int(pid) for pid, role in
                   json.loads((run_dir / "events.jsonl").read_text().splitlines()[0])[
                       "processes"].items() if role in ("client", "run")}
    started = [e for e in raw if e["kind"] == "rpc.started" and e["pid"] in client_pids]
    rpc_tracks = {u for u, t in trace.tracks.items() if t.name.startswith("RPCs")}
    calls = [i for i in trace.items if i.track in rpc_tracks and i.category == "rpc.call"
             and trace.pid_of(i.track) in client_pids]
    assert sorted(c.ts + trace_origin(raw) for c in calls) == sorted(e["ts"] for e in started)
    sends = Counter(e["pid"] for e in raw if e["kind"] == "core.start_batch"
                    and e["pid"] in client_pids and "SEND_MESSAGE" in e["ops"])
    batch_tracks = {u for u, t in trace.tracks.items()
                    if t.name.startswith(("RPCs", "batches"))}
    named = [i.name for i in trace.items if i.track in batch_tracks
             and i.category == "rpc.batch" and trace.pid_of(i.track) in client_pids]
    sent = [n for n in named if "sent" in n]
    assert len(sent) == sum(sends.values())
    numbers = sorted(int(part.split()[1]) for n in sent for part in n.split(", ")
                     if part.endswith("sent"))
    assert numbers[:1] in ([], [1])
    assert all(b - a in (0, 1) for a, b in itertools.pairwise(numbers))
    starts = [f for i in trace.items for f in i.flows_out]
    ends = [f for i in trace.items for f in i.flows_in]
    assert sorted(starts) == sorted(ends) == list(range(1, len(starts) + 1))
    assert renderer.counts["flows"] == len(starts)
    for uuid in trace.tracks:
        spans = sorted(((i.ts, i.end) for i in trace.on(uuid) if i.end is not None),
                       key=lambda s: (s[0], -s[1]))
        stack: list[int] = []
        for begin, end in spans:
            while stack and stack[-1] <= begin:
                stack.pop()
            assert not stack or end <= stack[-1]
            stack.append(end)


def trace_origin(raw: list[dict[str, Any]]) -> int:
    return min(int(e["ts"]) for e in raw if e["kind"] != "core.line")


def hand_made_run(processes: dict[int, str]) -> Run:
    """Hook and viztracer events on four threads of a client (pid 100) and one thread of a
    process the header does not name (pid 200); no RPC. Times in ns; the first event that
    is not a core log line (``outer``, 1000) is the trace's 0."""
    from toygrpc.model.events import (
        CoreLine,
        DrainSpan,
        FutureCreated,
        FutureResolved,
        GlueSpan,
        HandlerSerialization,
        PollerSocket,
        PythonSlice,
        ThreadStarted,
    )
    from toygrpc.model.manifest import Manifest
    from toygrpc.model.timeline import Timeline

    events = [
        CoreLine(10, 100, 102, "I0000 a line of the core's that said nothing"),
        PythonSlice(1000, 100, 100, 500, "outer", {"n": 1}),  # [0, 500]
        GlueSpan(1050, 100, 100, 100, "execute_batch", call=0x7F01),  # [50, 150]
        PythonSlice(1100, 100, 100, 600, "inner"),  # [100, 700]: cut at 500
        GlueSpan(1100, 100, 100, 200, "_handle_rpc"),  # [100, 300]: overlaps, no nesting
        HandlerSerialization(1120, 100, 100, 10, "request_deserializer", "/M", 5),  # in [50, 150]
        FutureCreated(1200, 100, 100, 0x10, "x.py:f"),  # an instant inside "inner"
        ThreadStarted(1250, 100, 102, "t", 102),
        PollerSocket(1260, 100, 103, 3, 4),
        FutureCreated(1270, 200, 200, 0x20, "y.py:g"),
        FutureResolved(1300, 100, 101, 0x10, True),
        DrainSpan(1400, 100, 100, 0, 1, 0),  # [400, 400]: after both glue spans
        PythonSlice(1600, 100, 100, 0, "zero"),  # [600, 600]
    ]
    timeline = Timeline(events, processes=processes,
                        threads={(100, 100): "main", (100, 101): "poller",
                                 (100, 102): "event_engine"})
    return Run(Manifest(run_dir=Path("/nonexistent"), mode="client"), timeline)


def test_threads_python_stack_and_span_lanes_of_a_hand_made_run(tmp_path: Path) -> None:
    """Each thread a track under its process, main first, the core's next, the poller, then
    the unnamed; the Python stack nested (a child cut at its parent's end), instants in it;
    the hook spans on lanes of their own under the thread, a second lane for the span that
    overlaps without nesting."""
    renderer = PerfettoRenderer(out=tmp_path)
    [path] = renderer.render(hand_made_run({100: "client"}))
    trace = decode(path)
    tracks = trace.tracks
    [client] = [t for t in tracks.values() if t.process.pid == 100]
    [other] = [t for t in tracks.values() if t.process.pid == 200]
    assert (client.process.process_name, other.process.process_name) == ("client", "process")
    threads = {t.thread.tid: t for t in tracks.values() if t.HasField("thread")}
    assert {tid: (t.thread.pid, t.thread.thread_name, t.sibling_order_rank)
            for tid, t in threads.items()} == {
        100: (100, "main", 0), 102: (100, "event_engine 102", 1), 101: (100, "poller", 2),
        103: (100, "thread 103", 3), 200: (200, "thread 200", 4)}
    assert all(t.parent_uuid == client.uuid for tid, t in threads.items() if tid != 200)
    assert threads[200].parent_uuid == other.uuid
    spans = {t.name: t for t in tracks.values() if "grpc spans" in t.name}
    assert sorted(spans) == ["main: grpc spans", "main: grpc spans (2)"]
    assert [(spans[n].parent_uuid, spans[n].sibling_order_rank) for n in sorted(spans)] == [
        (threads[100].uuid, 0), (threads[100].uuid, 1)]
    for track in (*spans.values(), client, other):
        assert not track.HasField("thread")
    for track in tracks.values():  # at the top: the processes only
        assert track.HasField("parent_uuid") != track.HasField("process")
    assert all(t.HasField("child_ordering") == (t.HasField("process") or t.HasField("thread"))
               for t in tracks.values())

    def on(track: Any) -> list[tuple[int, int | None, str, str]]:
        return sorted((i.ts, i.end, i.name, i.category) for i in trace.on(track.uuid))

    assert on(threads[100]) == [(0, 500, "outer", "python"), (100, 500, "inner", "python"),
                                (200, None, "loop.create_future", "hook"),
                                (600, 600, "zero", "python")]
    assert on(spans["main: grpc spans"]) == [
        (50, 150, "cygrpc.execute_batch", "glue"), (120, 130, "request_deserializer", "glue"),
        (400, 400, "_handle_events (queue drain)", "hook")]
    assert on(spans["main: grpc spans (2)"]) == [(100, 300, "cygrpc._handle_rpc", "glue")]
    assert on(threads[101]) == [(300, None, "set_result", "hook")]
    assert on(threads[102]) == [(250, None, "thread started: t", "hook")]
    assert on(threads[103]) == [(260, None, "poller socket pair registered with the loop",
                                 "hook")]
    assert on(threads[200]) == [(270, None, "loop.create_future", "hook")]
    args = {i.name: i.args for i in trace.items if i.track in (threads[100].uuid, threads[103].uuid)
            or i.name.startswith(("cygrpc", "request"))}
    assert args == {"outer": {"n": 1}, "inner": {}, "zero": {},
                    "loop.create_future": {"future": 0x10, "caller": "x.py:f", "batch": 0},
                    "poller socket pair registered with the loop": {"read_fd": 3, "write_fd": 4},
                    "cygrpc.execute_batch": {"call": 0x7F01}, "cygrpc._handle_rpc": {"call": 0},
                    "request_deserializer": {"method": "/M", "bytes": 5, "call": 0}}
    # _handle_rpc is a server call (no method named, no batch): the RPC track shows it
    [rpcs] = [t for t in tracks.values() if t.name.startswith("RPCs")]
    assert (rpcs.name, rpcs.parent_uuid, rpcs.sibling_order_rank) == ("RPCs", client.uuid, -100)
    [call] = trace.on(rpcs.uuid)
    assert (call.ts, call.end, call.name, call.category) == (100, 300, "RPC OK", "rpc.call")
    assert call.args == {"rpc": 1, "side": "server", "status": "OK", "latency_us": 0.2,
                         "batches": 0, "missing": "no chains"}
    assert renderer.counts == {"slices": 13, "flows": 0, "tracks": 10}


def test_a_process_the_header_does_not_name_still_has_its_track(tmp_path: Path) -> None:
    """Without roles in the header, each process that has events gets a track of its own,
    named "process", in pid order; so does one left out of the header, its RPCs and
    threads under it."""
    for processes, expected in (({}, [(100, "process"), (200, "process")]),
                                ({200: "server"}, [(200, "server"), (100, "process")])):
        [path] = PerfettoRenderer(out=tmp_path).render(hand_made_run(processes))
        trace = decode(path)
        found = [(t.process.pid, t.process.process_name) for t in trace.tracks.values()
                 if t.HasField("process")]
        assert found == expected
        uuid = {t.process.pid: u for u, t in trace.tracks.items() if t.HasField("process")}
        [rpcs] = [t for t in trace.tracks.values() if t.name == "RPCs"]
        assert rpcs.parent_uuid == uuid[100]
        assert {t.thread.tid: t.parent_uuid for t in trace.tracks.values()
                if t.HasField("thread")} == {100: uuid[100], 101: uuid[100], 102: uuid[100],
                                             103: uuid[100], 200: uuid[200]}


def test_points_share_a_lane_two_ns_apart_and_lanes_sort_by_rank(tmp_path: Path) -> None:
    """A point's 1 ns slice needs 2 ns clear before the next on its lane (the µs rounding
    must never make them touch): points at 10 and 13 share a lane, 12 takes another. Each
    lane's rank is its number: under a thread, span lane 1, events lane 1, span lane 2,
    events lane 2 (ties keep the order tracks were made in)."""
    process = Track(1, "client", 9, is_process=True)
    thread = Track(2, "main", 9, tid=5, parent=1, rank=0)
    spans = Track(3, "main: grpc spans", 9, parent=2, rank=0)
    spans2 = Track(4, "main: grpc spans (2)", 9, parent=2, rank=1)
    slices = [span(10, None, "a", 2), span(12, None, "b", 2), span(13, None, "c", 2),
              span(0, 20, "s", 3), span(5, 25, "t", 4)]
    path = tmp_path / "trace.json"
    write_json(TraceModel([process, thread, spans, spans2], slices), path)
    events = json.loads(path.read_text())["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    lane_of = {e["name"]: names[e["tid"]] for e in events if e["ph"] == "B"}
    assert lane_of == {"a": "main: events", "b": "main: events (2)", "c": "main: events",
                       "s": "main: grpc spans", "t": "main: grpc spans (2)"}
    order = sorted((e["args"]["sort_index"], names[e["tid"]]) for e in events
                   if e.get("name") == "thread_sort_index")
    assert [name for _, name in order] == ["main", "main: grpc spans", "main: events",
                                           "main: grpc spans (2)", "main: events (2)"]


def test_a_run_without_events_renders_empty_traces(tmp_path: Path) -> None:
    """Nothing captured: both formats still write their file, with nothing in it."""
    from toygrpc.model.manifest import Manifest
    from toygrpc.model.timeline import Timeline

    run = Run(Manifest(run_dir=Path("/nonexistent"), mode="client"), Timeline([]))
    renderer = PerfettoRenderer(out=tmp_path)
    assert renderer.render(run) == [tmp_path / "trace.perfetto-trace"]
    assert (tmp_path / "trace.perfetto-trace").read_bytes() == b""
    assert renderer.counts == {"slices": 0, "flows": 0, "tracks": 0}
    PerfettoRenderer(out=tmp_path, trace_format="json").render(run)
    assert json.loads((tmp_path / "trace.json").read_text()) == {
        "traceEvents": [], "displayTimeUnit": "ns"}


def test_rpcs_share_a_lane_when_one_ends_as_the_next_begins(tmp_path: Path) -> None:
    """Four server calls (``_handle_rpc`` spans, ns): A [0, 200], C [100, 300], B [200, 400],
    D [300, 350]. A lane takes a call that starts at or after the end of its latest one:
    A then B on the first (B starts as A ends), C then D on the second (D overlaps B)."""
    from toygrpc.model.events import GlueSpan
    from toygrpc.model.manifest import Manifest
    from toygrpc.model.timeline import Timeline

    calls = [(0, 200, "A"), (100, 200, "C"), (200, 200, "B"), (300, 50, "D")]
    events: list[Event] = [GlueSpan(ts, 1, 1, dur, "_handle_rpc", call=n + 1, detail=f"/{name}")
                           for n, (ts, dur, name) in enumerate(calls)]
    run = Run(Manifest(run_dir=Path("/nonexistent"), mode="server"),
              Timeline(events, processes={1: "server"}, threads={(1, 1): "main"}))
    [path] = PerfettoRenderer(out=tmp_path).render(run)
    trace = decode(path)
    rows = {t.name: sorted((i.ts, i.end, i.name) for i in trace.on(uuid))
            for uuid, t in trace.tracks.items() if t.name.startswith("RPCs")}
    assert rows == {"RPCs": [(0, 200, "/A OK"), (200, 400, "/B OK")],
                    "RPCs (2)": [(100, 300, "/C OK"), (300, 350, "/D OK")]}


def test_threads_in_the_ui_by_rank_then_role_then_id(tmp_path: Path) -> None:
    """main, the core's threads (grouped by role: event_engine before grpc_global_tim), the
    poller, then the rest grouped by role, the unnamed first; by thread id within a role."""
    from toygrpc.model.events import ThreadStarted
    from toygrpc.model.manifest import Manifest
    from toygrpc.model.timeline import Timeline

    roles = {5: "main", 2: "poller", 9: "event_engine", 7: "event_engine",
             3: "grpc_global_tim", 4: "lifeguard", 8: "Thread-3"}
    events: list[Event] = [ThreadStarted(10 * tid, 1, tid, f"t{tid}", tid)
                           for tid in range(1, 10)]
    run = Run(Manifest(run_dir=Path("/nonexistent"), mode="client"),
              Timeline(events, processes={1: "client"},
                       threads={(1, tid): role for tid, role in roles.items()}))
    [path] = PerfettoRenderer(out=tmp_path).render(run)
    trace = decode(path)
    order = sorted((t.sibling_order_rank, t.thread.thread_name) for t in trace.tracks.values()
                   if t.HasField("thread"))
    assert [name for _, name in order] == [
        "main", "event_engine 7", "event_engine 9", "grpc_global_tim 3", "poller",
        "thread 1", "thread 6", "Thread-3 8", "lifeguard 4"]


def test_a_link_over_shared_steps_is_named_after_its_largest_stage() -> None:
    """Steps (stage ending there, ns): s0 (first), s1 a 5, s2 z 3 shared, s3 c 10, s4 y 0
    shared, s5 e 1. Arrows s0 -> s1 (a), s1 -> s3 (z 3 + c 10: c), s3 -> s5 (y 0 + e 1: e);
    none to a shared step. (The larger stage is never the first nor the last by name.)"""
    from toygrpc.analysis.chains import Step
    from toygrpc.model.events import ThreadStarted

    events = [ThreadStarted(n, 1, 1, f"s{n}", 1) for n in range(6)]
    steps = [Step("created", events[0], "", None), Step("core_call", events[1], "a", 5),
             Step("completed", events[2], "z", 3, shared=True),
             Step("returned", events[3], "c", 10),
             Step("woken", events[4], "y", 0, shared=True), Step("drained", events[5], "e", 1)]
    assert link_stages([steps]) == {(id(events[0]), id(events[1])): "a",
                                    (id(events[1]), id(events[3])): "c",
                                    (id(events[3]), id(events[5])): "e"}


def test_a_batch_without_messages_is_named_by_its_ops(tmp_path: Path) -> None:
    """A server call (``_handle_rpc``, 1000-2000 ns) whose batches carry no message: one
    with two ops (an abort's metadata and status), one with none recorded. Named by their
    ops joined with " + ", or by the chain's kind; no core log, so no stage to show."""
    from toygrpc.model.events import FutureCreated, FutureResolved, GlueSpan, TaskResumed
    from toygrpc.model.manifest import Manifest
    from toygrpc.model.timeline import Timeline

    events: list[Event] = [
        GlueSpan(1000, 1, 1, 1000, "_handle_rpc", call=7, detail="/M"),
        GlueSpan(1100, 1, 1, 200, "execute_batch", batch_id=1, call=7,
                 ops=("SendInitialMetadataOperation", "SendStatusFromServerOperation")),
        FutureCreated(1110, 1, 1, 5, "grpc/aio/_server.py:x", in_batch=1),
        FutureResolved(1250, 1, 1, 5, True), TaskResumed(1260, 1, 1, 5),
        GlueSpan(1400, 1, 1, 200, "execute_batch", batch_id=2, call=7),
        FutureCreated(1410, 1, 1, 6, "grpc/aio/_server.py:x", in_batch=2),
        FutureResolved(1550, 1, 1, 6, True), TaskResumed(1560, 1, 1, 6)]
    run = Run(Manifest(run_dir=Path("/nonexistent"), mode="server"),
              Timeline(events, processes={1: "server"}, threads={(1, 1): "main"}))
    [path] = PerfettoRenderer(out=tmp_path).render(run)
    trace = decode(path)
    got = sorted((i.ts, i.end, i.name, i.args["ops"]) for i in trace.items
                 if i.category == "rpc.batch")
    assert got == [(110, 260, "SendInitialMetadata + SendStatusFromServer",
                    "SendInitialMetadata, SendStatusFromServer"), (410, 560, "batch", "")]
