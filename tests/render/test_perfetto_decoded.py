"""The Perfetto trace of the committed run, decoded with the ``perfetto`` package's own
protos (and the Chrome JSON read as JSON), checked against values read by hand from the
run's raw events (tests/render/oracle.py): tracks, slices, instants, flows, their times.

No browser and no capture: these run offline (the UI's own view of fresh captures is
tests/render/test_perfetto.py)."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.render import oracle
from toygrpc.analysis.run import Run
from toygrpc.errors import UsageError
from toygrpc.render.base import renderer_for
from toygrpc.render.perfetto import PerfettoRenderer
from toygrpc.render.plots import StagesPlot, SwimlanePlot
from toygrpc.render.summary import SummaryRenderer

METHOD = "/HelloService/Hello OK"
# Thread tracks of the client, as the trace names them: role, and the thread id unless
# the role says which thread it is.
# (22796, an event_engine thread with no event, has no track.)
CLIENT_THREADS = {22792: "main", 22794: "poller", 22795: "event_engine 22795",
                  22797: "event_engine 22797", 22798: "event_engine 22798"}
# The event a step of a client batch is, as the trace titles it.
STEP_TITLES = {"created": "loop.create_future", "core_call": "grpc_call_start_batch",
               "completed": "cq_end_op_for_next", "returned": "RETURN_EVENT OP_COMPLETE",
               "woken": "selector woke on the poller fd", "drained": "_handle_events (queue drain)",
               "resolved": "set_result", "resumed": "task resumed"}


@dataclass
class Decoded:
    """A slice or instant read back from the protobuf."""

    track: int
    ts: int
    end: int | None
    name: str
    category: str
    args: dict[str, Any]
    flows_out: list[int] = field(default_factory=list)
    flows_in: list[int] = field(default_factory=list)


@dataclass
class DecodedTrace:
    tracks: dict[int, Any]  # uuid -> TrackDescriptor
    items: list[Decoded]

    def track_named(self, name: str, pid: int) -> int:
        [uuid] = [u for u, t in self.tracks.items() if self.pid_of(u) == pid
                  and (t.name or t.thread.thread_name or t.process.process_name) == name]
        return uuid

    def pid_of(self, uuid: int) -> int:
        track = self.tracks[uuid]
        while not track.HasField("process"):
            if track.HasField("thread"):
                return int(track.thread.pid)
            track = self.tracks[track.parent_uuid]
        return int(track.process.pid)

    def on(self, uuid: int) -> list[Decoded]:
        return [i for i in self.items if i.track == uuid]

    def at(self, uuid: int, ts: int, name: str) -> Decoded:
        [item] = [i for i in self.items if i.track == uuid and i.ts == ts and i.name == name]
        return item


def decode(path: Path, sequences: int = 1) -> DecodedTrace:
    """Tracks and slices of a native trace, interned names resolved per packet sequence,
    B/E paired per track; ``sequences``: how many packet sequences it must have (1, 2...)."""
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TrackEvent

    trace = Trace()
    trace.ParseFromString(path.read_bytes())
    tables: dict[int, dict[str, dict[int, str]]] = defaultdict(lambda: defaultdict(dict))
    tracks: dict[int, Any] = {}
    items: list[Decoded] = []
    open_: dict[int, list[Decoded]] = defaultdict(list)
    begun: set[int] = set()  # the sequences whose first packet was read
    last_ts: dict[int, int] = {}
    for packet in trace.packet:
        if packet.HasField("track_descriptor"):
            assert not begun  # the descriptors come first
            tracks[packet.track_descriptor.uuid] = packet.track_descriptor
            continue
        assert packet.HasField("track_event")
        sequence = packet.trusted_packet_sequence_id
        if sequence not in begun:  # a sequence's first event says its state is new
            assert sequence == len(begun) + 1  # one after the other: 1, then 2
            assert packet.sequence_flags == 3  # incremental state cleared, and needed
            begun.add(sequence)
        else:
            assert packet.sequence_flags == 0
        assert packet.timestamp >= last_ts.get(sequence, 0)  # in time order in a sequence
        last_ts[sequence] = packet.timestamp
        table = tables[sequence]
        interned = packet.interned_data
        for name, entries in (("name", interned.event_names),
                              ("category", interned.event_categories),
                              ("arg", interned.debug_annotation_names)):
            for entry in entries:
                assert entry.iid not in table[name]  # each written once
                table[name][entry.iid] = entry.name
        for entry in interned.debug_annotation_string_values:
            table["value"][entry.iid] = entry.str.decode()
        event = packet.track_event
        assert event.track_uuid in tracks
        if event.type == TrackEvent.TYPE_SLICE_END:
            done = open_[event.track_uuid].pop()
            done.end = packet.timestamp
            assert not event.name_iid and not event.flow_ids
            continue
        args: dict[str, Any] = {}
        for annotation in event.debug_annotations:
            kind = annotation.WhichOneof("value")
            value = getattr(annotation, kind)
            if kind == "string_value_iid":
                value = table["value"][value]
            args[table["arg"][annotation.name_iid]] = value
        [category] = [table["category"][iid] for iid in event.category_iids]
        item = Decoded(event.track_uuid, packet.timestamp, None, table["name"][event.name_iid],
                       category, args, list(event.flow_ids), list(event.terminating_flow_ids))
        items.append(item)
        if event.type == TrackEvent.TYPE_SLICE_BEGIN:
            open_[event.track_uuid].append(item)
        else:
            assert event.type == TrackEvent.TYPE_INSTANT
    assert all(not stack for stack in open_.values())  # every slice ended
    assert len(begun) == sequences
    return DecodedTrace(tracks, items)


@pytest.fixture(scope="module")
def run() -> Run:
    return Run.load(oracle.FIXTURE_RUN)


@pytest.fixture
def native(run: Run, tmp_path: Path) -> DecodedTrace:
    """The native trace, written for each test (mutation testing sees each test render)."""
    out = tmp_path
    renderer = PerfettoRenderer(out=out)
    [path] = renderer.render(run)
    assert path == out / "trace.perfetto-trace"
    decoded = decode(path)
    assert renderer.counts == {"slices": len(decoded.items), "flows": oracle.LINKS,
                               "tracks": len(decoded.tracks)}
    return decoded


def rel(ts: int) -> int:
    return ts - oracle.ORIGIN_NS


def test_processes_and_threads(native: DecodedTrace) -> None:
    processes = {t.process.pid: t for t in native.tracks.values() if t.HasField("process")}
    assert {pid: t.process.process_name for pid, t in processes.items()} == {
        oracle.SERVER_PID: "server", oracle.CLIENT_PID: "client"}
    assert all(t.child_ordering == t.EXPLICIT for t in processes.values())
    client = processes[oracle.CLIENT_PID].uuid
    threads = {t.thread.tid: t for t in native.tracks.values() if t.HasField("thread")
               and t.thread.pid == oracle.CLIENT_PID}
    assert {tid: t.thread.thread_name for tid, t in threads.items()
            if tid in CLIENT_THREADS} == CLIENT_THREADS
    assert all(t.parent_uuid == client and t.child_ordering == t.EXPLICIT
               for t in threads.values())
    # main, then the core's threads, then the poller: their order in the UI
    ranks = {name: threads[tid].sibling_order_rank for tid, name in CLIENT_THREADS.items()}
    assert ranks["main"] < ranks["event_engine 22795"] < ranks["event_engine 22798"] < ranks[
        "poller"]
    rpcs = native.tracks[native.track_named("RPCs", oracle.CLIENT_PID)]
    assert rpcs.parent_uuid == client and rpcs.sibling_order_rank < 0
    assert not rpcs.HasField("thread") and not rpcs.HasField("process")
    spans = native.track_named("main: grpc spans", oracle.CLIENT_PID)
    assert native.tracks[spans].parent_uuid == threads[22792].uuid
    # The server's glue spans at lines 116 (_handle_cancellation_from_core, 4029447 ns) and
    # 124 (_handle_exceptions, starting 155 us later, 4034947 ns) overlap without nesting:
    # they go on two span tracks under the server's main thread, ranked in order.
    first = native.track_named("main: grpc spans", oracle.SERVER_PID)
    second = native.track_named("main: grpc spans (2)", oracle.SERVER_PID)
    assert (native.tracks[first].sibling_order_rank, native.tracks[second].sibling_order_rank
            ) == (0, 1)
    assert native.tracks[first].parent_uuid == native.tracks[second].parent_uuid
    cancellation = native.at(first, rel(1795573897138616731),
                             "cygrpc._handle_cancellation_from_core")
    exceptions = native.at(second, rel(1795573897138771942), "cygrpc._handle_exceptions")
    assert cancellation.end == rel(1795573897138616731 + 4029447)
    assert exceptions.end == rel(1795573897138771942 + 4034947)
    assert not any(t.name.startswith("main: grpc spans (3") for t in native.tracks.values())


@pytest.mark.parametrize("number, call", list(enumerate(oracle.CLIENT_CALLS, 1)),
                         ids=lambda v: str(getattr(v, "index", v)))
def test_each_client_rpc_and_its_batch_on_the_rpc_track(
        native: DecodedTrace, number: int, call: oracle.ClientCall) -> None:
    track = native.track_named("RPCs", oracle.CLIENT_PID)
    rpc = native.at(track, rel(call.start), METHOD)
    assert rpc.end == rel(call.finished[2]) and rpc.category == "rpc.call"
    server_latency = {1: 5804359, 2: 2301295, 3: 1050999}[number]  # summary.json's
    assert rpc.args == {"rpc": number, "side": "client", "status": "OK",
                        "latency_us": round(call.latency / 1000, 3), "batches": 1,
                        "link": call.link, "other side": f"server pid {oracle.SERVER_PID}, "
                        f"same link id, {server_latency / 1000:.1f} us"}
    batch = native.at(track, rel(call.ts("core_call")), "message 1 sent, message 1 received")
    assert batch.end == rel(call.ts("resumed")) and batch.category == "rpc.batch"
    deltas = call.deltas()
    assert batch.args == {
        "ops": "SendInitialMetadata, SendMessage, SendCloseFromClient, ReceiveInitialMetadata, "
               "ReceiveMessage, ReceiveStatusOnClient",
        **{f"stages_us.{k}": round(v / 1000, 3) for k, v in deltas.items()
           if k != "python_before_core"}}
    assert len(native.on(track)) == 6  # 3 RPCs, 3 batches: nothing else, nothing dropped


@pytest.mark.parametrize("call", oracle.CLIENT_CALLS, ids=lambda c: f"rpc{c.index}")
def test_each_step_is_an_instant_on_its_thread_joined_by_flows(
        native: DecodedTrace, call: oracle.ClientCall) -> None:
    """The eight steps of a client batch, at their time on their thread, one flow from each
    to the next, the stage's duration in the args of the event the flow ends on."""
    steps = []
    for step, (_, _, ts, tid) in call.steps.items():
        thread = native.track_named(CLIENT_THREADS[tid], oracle.CLIENT_PID)
        if step == "drained":  # a span the hooks time: on the thread's span track
            thread = native.track_named("main: grpc spans", oracle.CLIENT_PID)
        item = native.at(thread, rel(ts), STEP_TITLES[step])
        assert (item.end is None) == (step != "drained"), step
        steps.append((step, item))
    deltas = call.deltas()
    for (_, a), (step, b) in itertools.pairwise(steps):
        assert len(set(a.flows_out) & set(b.flows_in)) == 1, step
        stage = dict(zip(("core_call", "completed", "returned", "woken", "drained", "resolved",
                          "resumed"), list(deltas), strict=True))[step]
        assert b.args[f"{stage}_us"] == round(deltas[stage] / 1000, 3), step
    core_call, completed = steps[1][1], steps[2][1]
    assert completed.args == {"tag": int(call.tag, 16), "ok": True,
                              "core_and_network_us": round(deltas["core_and_network"] / 1000, 3),
                              "network_server_to_client_us": completed.args[
                                  "network_server_to_client_us"]}
    assert core_call.args["tag"] == int(call.tag, 16)  # an address: a pointer value
    assert core_call.category == "core" and core_call.args["ops"].startswith("SEND_INITIAL")
    assert core_call.args["python_before_core_us"] == round(
        deltas["python_before_core"] / 1000, 3)
    assert steps[0][1].category == "hook" and steps[6][1].args["error"] == ""
    assert steps[0][1].args["caller"] == "grpc/aio/_call.py:_invoke"


def test_the_client_server_arrows(native: DecodedTrace) -> None:
    """Each client batch start leads to the server's request call completing (its call
    arriving), on the server's core thread, the network time in its args."""
    call = oracle.CLIENT_CALLS[0]
    _, start, tid = oracle.SERVER_CALL_STARTS[0]
    server = native.track_named(f"event_engine {tid}", oracle.SERVER_PID)
    arrived = native.at(server, rel(start), "cq_end_op_for_next")
    client = native.track_named("main", oracle.CLIENT_PID)
    batch_start = native.at(client, rel(call.ts("core_call")), "grpc_call_start_batch")
    assert len(batch_start.flows_out) == 2  # to its completion, and across
    assert len(set(batch_start.flows_out) & set(arrived.flows_in)) == 1
    assert arrived.args["network_client_to_server_us"] == round(
        (start - call.ts("core_call")) / 1000, 3)
    assert arrived.args["awaiting_call_us"] > 0


def test_every_flow_has_one_start_and_one_end(native: DecodedTrace) -> None:
    starts = [f for i in native.items for f in i.flows_out]
    ends = [f for i in native.items for f in i.flows_in]
    assert len(starts) == len(set(starts)) == oracle.LINKS
    assert sorted(starts) == sorted(ends) == list(range(1, oracle.LINKS + 1))
    categories = {i.category for i in native.items if i.flows_out or i.flows_in}
    assert categories <= {"hook", "glue", "rpc", "core"}


def test_times_count_from_the_first_event(native: DecodedTrace) -> None:
    first = min(i.ts for i in native.items)
    assert first == 0  # line 4: the server's grpc_init
    [init] = [i for i in native.items if i.ts == 0]
    assert init.name == "grpc_init" and native.pid_of(init.track) == oracle.SERVER_PID
    assert not any(i.name.startswith("Log level") for i in native.items)  # core lines: not


def test_every_track_nests(native: DecodedTrace) -> None:
    """On one track, slices nest (the UI would misnest or drop overlapping ones)."""
    for uuid in native.tracks:
        spans = sorted(((i.ts, i.end) for i in native.on(uuid) if i.end is not None),
                       key=lambda s: (s[0], -s[1]))
        stack: list[int] = []
        for begin, end in spans:
            while stack and stack[-1] <= begin:
                stack.pop()
            assert not stack or end <= stack[-1], (native.tracks[uuid].name, begin, end)
            stack.append(end)


def test_the_server_rpcs(native: DecodedTrace) -> None:
    # the second server call starts before the first one's handler is done: another lane
    rows = [native.on(native.track_named(name, oracle.SERVER_PID))
            for name in ("RPCs", "RPCs (2)")]
    calls = sorted((i for row in rows for i in row if i.category == "rpc.call"),
                   key=lambda i: i.ts)
    assert [(c.ts, c.args["rpc"], c.args["batches"]) for c in calls] == [
        (rel(start), n, 4) for n, (_, start, _) in enumerate(oracle.SERVER_CALL_STARTS, 1)]
    names = [i.name for row in rows for i in row if i.category == "rpc.batch"]
    assert names == ["ReceiveCloseOnServer"] * 3  # under its RPC, from start to resumed
    # A request call is posted before its call arrives, and the message batches overlap
    # the close batch: they do not fit under the RPC, and go to lanes of their own.
    overflow = sorted((i for name in ("batches", "batches (2)")
                       for i in native.on(native.track_named(name, oracle.SERVER_PID))),
                      key=lambda i: i.ts)
    assert sorted(i.name for i in overflow) == sorted(
        ["request call (waiting for a client)", "message 1 received", "message 1 sent"] * 3)
    assert overflow[0].ts == rel(1795573896940305000)  # line 32: the first request call
    assert overflow[0].end is not None and calls[0].end is not None
    assert overflow[0].end < calls[0].end
    # In the UI, under the server: its RPC lanes, then its batch lanes, then its threads.
    ranks = [native.tracks[native.track_named(name, oracle.SERVER_PID)].sibling_order_rank
             for name in ("RPCs", "RPCs (2)", "batches", "batches (2)")]
    threads = [t.sibling_order_rank for t in native.tracks.values()
               if t.HasField("thread") and t.thread.pid == oracle.SERVER_PID]
    assert ranks == sorted(ranks) and len(set(ranks)) == 4 and ranks[-1] < min(threads)


def test_chrome_json_of_the_same_model(run: Run, tmp_path: Path) -> None:
    renderer = PerfettoRenderer(out=tmp_path, trace_format="json")
    [path] = renderer.render(run)
    assert path == tmp_path / "trace.json"
    data = json.loads(path.read_text())
    assert data["displayTimeUnit"] == "ns"
    events = data["traceEvents"]
    names = {(e["pid"], e["args"]["name"]) for e in events if e.get("name") == "process_name"}
    assert names == {(oracle.SERVER_PID, "server"), (oracle.CLIENT_PID, "client")}
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
               if e["ph"] == "M" and e.get("name") == "thread_name"}
    assert threads[(oracle.CLIENT_PID, 22794)] == "poller"
    rpc_tid = next(tid for (pid, tid), name in threads.items()
                   if pid == oracle.CLIENT_PID and name == "RPCs")
    assert rpc_tid > 1 << 22  # a made-up thread for a track that is not one
    begins = [e for e in events if e["ph"] == "B"]
    ends = [e for e in events if e["ph"] == "E"]
    assert len(begins) == len(ends) == renderer.counts["slices"]
    call = oracle.CLIENT_CALLS[0]
    [rpc] = [e for e in begins if e["tid"] == rpc_tid and e["name"] == METHOD
             and e["ts"] == round(rel(call.start) / 1000, 3)]
    assert rpc["args"]["latency_us"] == round(call.latency / 1000, 3) and rpc["cat"] == "rpc.call"
    flows_out = [e for e in events if e["ph"] == "s"]
    flows_in = [e for e in events if e["ph"] == "f"]
    assert len(flows_out) == len(flows_in) == oracle.LINKS
    assert all(e["bp"] == "e" for e in flows_in)
    assert sorted(e["id"] for e in flows_out) == list(range(1, oracle.LINKS + 1))
    # a point (an instant) is a 1 ns slice on an "events" lane under its thread
    completed = rel(call.ts("completed")) / 1000
    [point] = [e for e in begins if e["name"] == "cq_end_op_for_next"
               and e["ts"] == round(completed, 3) and e["pid"] == oracle.CLIENT_PID]
    assert threads[(point["pid"], point["tid"])] == "event_engine 22795: events"
    [arrow] = [e for e in flows_in if e["tid"] == point["tid"] and e["ts"] == point["ts"]
               and e["name"] == "core_and_network"]
    [source] = [e for e in flows_out if e["id"] == arrow["id"]]
    assert source["ts"] == round(rel(call.ts("core_call")) / 1000, 3)
    [end] = [e for e in ends if e["tid"] == point["tid"] and e["ts"] == round(
        (rel(call.ts("completed")) + 1) / 1000, 3)]
    assert end["pid"] == oracle.CLIENT_PID
    order = {e["tid"]: e["args"]["sort_index"] for e in events
             if e.get("name") == "thread_sort_index" and e["pid"] == oracle.CLIENT_PID}
    tid_of = {name: tid for (pid, tid), name in threads.items() if pid == oracle.CLIENT_PID}
    # Tree order: a thread, then the tracks under it (its events lanes, in order).
    assert order[tid_of["event_engine 22795: events"]] == order[22795] + 1
    assert order[tid_of["poller: events"]] == order[22794] + 1
    assert order[tid_of["RPCs"]] < order[22792] < order[22795] < order[22794]
    check_point_lanes(events, threads)
    # every event in one of the two processes, span lanes' too
    assert {e["pid"] for e in events} == {oracle.SERVER_PID, oracle.CLIENT_PID}


def check_point_lanes(events: list[dict[str, Any]], threads: dict[tuple[int, int], str]
                      ) -> None:
    """Points (1 ns slices) on an events lane never overlap, nor touch: a flow's end binds
    to the one slice at its time. Lanes are numbered on from the first: "events", then
    "events (2)", "(3)"..."""
    lanes_of: dict[tuple[int, str], list[int]] = {}
    for (pid, _), name in threads.items():
        if ": events" in name:
            owner, _, number = name.partition(": events")
            lanes_of.setdefault((pid, owner), []).append(
                int(number.strip(" ()")) if number else 1)
    assert lanes_of
    for numbers in lanes_of.values():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), numbers
    lane_tids = {key for key, name in threads.items() if ": events" in name}
    last_end: dict[tuple[int, int], float] = {}
    depth: dict[tuple[int, int], int] = {}
    for e in events:
        key = (e["pid"], e["tid"])
        if key not in lane_tids or e["ph"] not in ("B", "E"):
            continue
        if e["ph"] == "B":
            assert depth.get(key, 0) == 0 and e["ts"] > last_end.get(key, -1.0), e
            depth[key] = 1
        else:
            depth[key] = 0
            last_end[key] = e["ts"]


def test_a_trace_format_is_checked_and_renderers_are_found_by_name_or_file() -> None:
    with pytest.raises(ValueError) as bad:
        PerfettoRenderer(trace_format="svg")  # type: ignore[arg-type]  # what a caller may pass
    assert str(bad.value) == "trace format 'svg': choose one of proto, json"
    assert PerfettoRenderer(trace_format="json").trace_format == "json"
    assert PerfettoRenderer().trace_format == "proto" and PerfettoRenderer().counts == {}
    assert PerfettoRenderer.file_names == ("trace.perfetto-trace", "trace.json")
    for name, cls in (("perfetto", PerfettoRenderer), ("summary", SummaryRenderer),
                      ("swimlane", SwimlanePlot), ("stages", StagesPlot),
                      ("trace.json", PerfettoRenderer), ("out/stages.png", StagesPlot),
                      ("summary.json", SummaryRenderer), ("x/swimlane.svg", SwimlanePlot)):
        assert renderer_for(name) is cls, name
    with pytest.raises(UsageError) as error:
        renderer_for("notes.txt")
    assert str(error.value) == ("no renderer named or writing 'notes.txt': choose one of "
                                "perfetto, summary, swimlane, stages")


def test_a_file_renderer_writes_into_the_run_directory_by_default(
        run: Run, run_copy: Path) -> None:
    assert PerfettoRenderer().folder(run) == oracle.FIXTURE_RUN
    assert PerfettoRenderer(out=Path("/x")).folder(run) == Path("/x")
    assert PerfettoRenderer().render(Run.load(run_copy)) == [run_copy / "trace.perfetto-trace"]
    assert decode(run_copy / "trace.perfetto-trace").items


# traces/samples/stream: one bidi-stream call (3 messages each way). Its first event
# that is not a core log line is line 4 (the server's grpc_init); the client's batches,
# each from its core.start_batch line (its ops there), named as the trace names them.
STREAM_RUN = oracle.FIXTURE_RUN.parents[3] / "traces" / "samples" / "stream"
STREAM_ORIGIN = 1795617210965503000
STREAM_CLIENT_BATCHES = [  # (line, start, track, name)
    (84, 1795617211120939000, "RPCs", "SendInitialMetadata"),
    (91, 1795617211121035000, "batches", "ReceiveStatusOnClient"),  # waits for the end
    (124, 1795617211123463000, "RPCs", "ReceiveInitialMetadata"),
    (129, 1795617211123535000, "batches (2)", "message 1 sent"),
    (169, 1795617211125255000, "batches (2)", "message 2 sent"),
    (221, 1795617211128728000, "batches (2)", "message 3 sent"),
    (249, 1795617211129424000, "RPCs", "message 1 received"),
    (260, 1795617211129564000, "batches (2)", "SendCloseFromClient"),
    (268, 1795617211129727000, "RPCs", "message 2 received"),
    (281, 1795617211129841000, "RPCs", "message 3 received"),
    (292, 1795617211129923000, "RPCs", "message 4 received"),  # the end of the stream
]
STREAM_CLIENT_PID = 7778


def test_the_batches_of_a_bidi_stream(tmp_path: Path) -> None:
    """Each message batch is named by its number in its direction; the others by their
    ops; each on the RPC's lane while they follow one another, else on "batches" lanes."""
    lines = (STREAM_RUN / "events.jsonl").read_text().splitlines()
    for line, start, _, _ in STREAM_CLIENT_BATCHES:  # the cited lines say so
        raw = json.loads(lines[line - 1])
        assert (raw["kind"], raw["ts"], raw["pid"]) == ("core.start_batch", start,
                                                        STREAM_CLIENT_PID), line
    assert json.loads(lines[3])["ts"] == STREAM_ORIGIN
    [path] = PerfettoRenderer(out=tmp_path).render(Run.load(STREAM_RUN))
    trace = decode(path)
    batches = sorted((i for i in trace.items if i.category == "rpc.batch"
                      and trace.pid_of(i.track) == STREAM_CLIENT_PID), key=lambda i: i.ts)
    assert [(i.ts, trace.tracks[i.track].name, i.name) for i in batches] == [
        (start - STREAM_ORIGIN, track, name) for _, start, track, name in STREAM_CLIENT_BATCHES]
    # message 1 sent: started line 129, completed 156, returned 160 (on the poller), the
    # loop woke 162, drained 163, resolved 164, its task resumed 165
    sent = batches[3]
    assert sent.end == 1795617211125182882 - STREAM_ORIGIN
    assert sent.args == {"ops": "SendMessage", "stages_us.core_and_network": 1313.0,
                         "stages_us.core_to_poller": 248.0, "stages_us.poller_to_wake": 36.077,
                         "stages_us.wake_to_drain": 18.617,
                         "stages_us.drain_to_resolution": 10.926,
                         "stages_us.resolution_to_resume": 21.262}
    assert batches[1].end == 1795617211133112210 - STREAM_ORIGIN  # line 329, its task resumed
    [call] = [i for i in trace.items if i.category == "rpc.call"
              and trace.pid_of(i.track) == STREAM_CLIENT_PID]
    # lines 79 and 332: rpc.started, rpc.finished
    assert (call.ts, call.end) == (1795617211120627773 - STREAM_ORIGIN,
                                   1795617211133202994 - STREAM_ORIGIN)
    assert (call.name, call.args["batches"]) == ("/HelloService/HelloBidiStream OK", 11)
    # The drain at line 253 served two batches. "message 3 sent" waited for it from the
    # loop's wake (line 245); "message 1 received" came back (line 251, on the poller)
    # while the loop was awake: its arrow skips the shared wake, and is named after the
    # poller-to-wake time it holds, not the wake-to-drain (0 for it).
    [drain] = [i for i in trace.items if i.ts == 1795617211129485096 - STREAM_ORIGIN]
    assert drain.name == "_handle_events (queue drain)"
    assert drain.args == {"resolved": 2, "drain": 5,
                          "wake_to_drain_us": (1795617211129485096 - 1795617211129378608) / 1000,
                          "poller_to_wake_us": (1795617211129485096 - 1795617211129464000) / 1000}


def test_a_run_without_the_core_log_starts_each_batch_at_its_waiter(
        run: Run, tmp_path: Path) -> None:
    """The committed run without its core events (as a capture with the core's trace off
    would hold): each client batch runs from its waiter's creation to its task resuming,
    says the core call is missing, and has no stage to show."""
    from toygrpc.model.timeline import Timeline

    timeline = run.timeline
    hooks_only = Timeline([e for e in timeline.events if not e.kind.startswith("core.")],
                          processes=timeline.processes, threads=timeline.threads)
    [path] = PerfettoRenderer(out=tmp_path).render(Run(run.manifest, hooks_only))
    trace = decode(path)
    batches = sorted((i for i in trace.items if i.category == "rpc.batch"
                      and trace.pid_of(i.track) == oracle.CLIENT_PID), key=lambda i: i.ts)
    origin = 1795573896937542325  # line 6, the first event left: the server's poller starts
    assert [(i.ts, i.end) for i in batches] == [
        (call.ts("created") - origin, call.ts("resumed") - origin)
        for call in oracle.CLIENT_CALLS]
    for batch in batches:
        assert batch.name == "message 1 sent, message 1 received"
        assert batch.args == {"ops": "SendInitialMetadata, SendMessage, SendCloseFromClient, "
                                     "ReceiveInitialMetadata, ReceiveMessage, "
                                     "ReceiveStatusOnClient", "missing": "core_call"}
    calls = [i for i in trace.items if i.category == "rpc.call"
             and trace.pid_of(i.track) == oracle.CLIENT_PID]
    assert [c.args["missing"] for c in calls] == ["chain 1: core_call"] * 3


@pytest.fixture(scope="module")
def python_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A fresh capture with the Python layer: its slices are encoded by name codes, which
    each half interns on its own."""
    from toygrpc.capture.launch import CaptureOptions
    from toygrpc.pipeline import capture_run

    out = tmp_path_factory.mktemp("python-layer") / "run"
    return capture_run(CaptureOptions(mode="client", out=out, rpcs=2, python_layer=True))


@pytest.mark.parametrize("which", ["fixture", "python layer"])
def test_a_trace_written_in_two_halves_holds_the_same_events(
        run: Run, python_run: Run, which: str, tmp_path: Path) -> None:
    """Halves by time, two packet sequences written at once (a forked child writes the
    later one): the same tracks, and every event with the same time, names, arguments and
    flows, in the same order, as the trace written in one."""
    from toygrpc.render.perfetto import build_model, write_proto

    run = run if which == "fixture" else python_run
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    whole.mkdir()
    halves.mkdir()
    write_proto(build_model(run), whole / "trace", split_from=1 << 62)
    write_proto(build_model(run), halves / "trace", split_from=1)
    one, two = decode(whole / "trace"), decode(halves / "trace", sequences=2)
    assert one.tracks == two.tracks
    assert one.items == two.items and len(one.items) > 100
    assert [p.name for p in halves.iterdir()] == ["trace"]  # the later half's file: gone


def test_a_failed_write_leaves_no_half_behind(run: Run, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopped while writing the first half (Ctrl-C, a full disk): the child is stopped
    and the later half's file, made by the writer, is removed."""
    import toygrpc.render.perfetto as perfetto

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    model = perfetto.build_model(run)
    monkeypatch.setattr(perfetto, "_write_streams", interrupted)
    with pytest.raises(KeyboardInterrupt):
        perfetto.write_proto(model, tmp_path / "trace", split_from=1)
    assert [p.name for p in tmp_path.iterdir()] == ["trace"]


@pytest.mark.parametrize("which", ["fixture", "python layer"])
def test_a_later_half_that_begins_with_a_slice_end_says_its_state_is_new(
        run: Run, python_run: Run, which: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut where a slice ends: the later sequence's first packet is that end, and it
    still carries the flags that say the sequence's incremental state is new (``decode``
    checks each sequence's first packet), with the same events as the whole trace."""
    import toygrpc.render.perfetto as perfetto

    run = run if which == "fixture" else python_run
    streams = []
    original_split = perfetto._split_time

    def at_a_slice_end(given: list[Any]) -> int | None:
        streams.extend(given)
        middle = original_split(given)
        assert middle is not None
        ends = [stream.times[i] for stream in given for i, code in enumerate(stream.codes)
                if code == perfetto.END and stream.times[i] >= middle]
        return min(ends)  # the first end at or after the middle: first in the later half

    monkeypatch.setattr(perfetto, "_split_time", at_a_slice_end)
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    perfetto.write_proto(perfetto.build_model(run), whole, split_from=1 << 62)
    perfetto.write_proto(perfetto.build_model(run), halves, split_from=1)
    assert streams  # the cut was made where this test put it
    one, two = decode(whole), decode(halves, sequences=2)
    assert one.items == two.items
