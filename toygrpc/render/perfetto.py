"""The trace for the Perfetto UI: native protobuf by default, Chrome JSON on request.

What it shows, for each traced process (named ``client``/``server``):

- an **RPC track**: one slice per RPC (method, status, latency, the other side), and
  inside it one slice per batch, from its core call to the task that awaited it
  resuming; a message of a stream is a batch of its own, so its own slice;
- one track per **thread** (main, the core's threads, the poller, then the rest) with
  the Python layer (viztracer) as it nests, and every point the hooks or the core
  logged as an instant at its place in that stack;
- under each thread, tracks of their own for the **spans the hooks time** (glue calls,
  queue drains): they start in one frame and end in another, so they never nest with
  the Python stack and never share its track;
- one **flow** per link of the analysis (``Analysis.all_links``), from instant to
  instant: the stage it covers (``Chain.steps``) and its duration are in the args of
  the event it ends on (and the flow's name in Chrome JSON).

Slices that overlap without nesting go to another lane (another track), never onto
the same one: the UI drops nothing and misnests nothing. Times are relative to the
run's first event. The protobuf is built with the ``perfetto`` package's trace builder
(TrackEvent, interned names); ``write_json`` writes the same model as Chrome JSON, for
tools that need it (points become 1 ns slices there, on lanes of their own, since
Chrome JSON flows bind to slices only).
"""

from __future__ import annotations

import heapq
import json
import struct
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, ClassVar, Literal

from toygrpc.analysis.chains import Rpc, Step
from toygrpc.analysis.run import Run
from toygrpc.model.events import (
    CoreLine,
    DrainSpan,
    Event,
    GlueSpan,
    HandlerSerialization,
    PythonSlice,
)
from toygrpc.model.timeline import collector_paused
from toygrpc.render import protowire as pw
from toygrpc.render.base import FileRenderer

Format = Literal["proto", "json"]
FORMATS: dict[Format, str] = {"proto": "trace.perfetto-trace", "json": "trace.json"}
THREAD_RANK = {"main": 0, "core": 1, "poller": 2}  # the rest after these
JSON_POINT_NS = 1  # a point's length in Chrome JSON, where flows need a slice to bind to
SEQUENCE_ID = 1
RPC_CATEGORY, BATCH_CATEGORY = "rpc.call", "rpc.batch"  # the RPC track's slices
NO_ARGS: dict[str, Any] = {}  # a thread slice's: its event says them (Slice.arguments)
NO_LINKS: tuple[Sequence[int], Sequence[int], dict[str, Any] | None] = ((), (), None)


@dataclass
class Track:
    """A row of the UI: a process, a thread, or a track under one of them."""

    uuid: int
    name: str
    pid: int
    tid: int = 0  # a thread track's thread (0 for other tracks)
    parent: int = 0  # the uuid of the track it sits under (0: top level)
    rank: int = 0  # its place among its siblings
    is_process: bool = False


@dataclass(slots=True)
class Slice:
    """A span (``end`` set) or an instant (``end`` None) on a track, with its flows.

    A large run has millions: slots, and ``args`` shared with the event when the trace
    adds nothing to them (never changed in place)."""

    track: int
    ts: int
    end: int | None
    name: str
    category: str
    args: dict[str, Any] = field(default_factory=dict)
    flows_out: Sequence[int] = ()
    flows_in: Sequence[int] = ()
    # A thread's event: its arguments are its details (and ``extra``), made when written,
    # not held for each of millions of slices at once.
    event: Event | None = None
    extra: dict[str, Any] | None = None

    def arguments(self) -> dict[str, Any]:
        """What the trace shows with the slice."""
        if self.event is None:
            return self.args
        details = self.event.details()
        return {**details, **self.extra} if self.extra else details


@dataclass
class TraceModel:
    """Tracks, slices and flows, in nanoseconds since the run's first event."""

    tracks: list[Track] = field(default_factory=list)
    slices: list[Slice] = field(default_factory=list)
    flow_names: dict[int, str] = field(default_factory=dict)
    origin_ns: int = 0
    # Tracks whose slices are already in nesting order (``track_events`` need not sort
    # them again): a thread's stack, a lane.
    in_order: set[int] = field(default_factory=set)

    def counts(self) -> dict[str, int]:
        return {"slices": len(self.slices), "flows": len(self.flow_names),
                "tracks": len(self.tracks)}


class PerfettoRenderer(FileRenderer):
    """Writes ``trace.perfetto-trace`` (native protobuf), or ``trace.json`` for ``json``."""

    name = "perfetto"
    file_names: ClassVar[tuple[str, ...]] = tuple(FORMATS.values())

    def __init__(self, out: Path | None = None, trace_format: Format = "proto") -> None:
        super().__init__(out)
        if trace_format not in FORMATS:
            raise ValueError(f"trace format {trace_format!r}: choose one of "
                             f"{', '.join(FORMATS)}")
        self.trace_format: Format = trace_format
        self.counts: dict[str, int] = {}

    def render(self, run: Run) -> list[Path]:
        path = self.folder(run) / FORMATS[self.trace_format]
        with collector_paused():
            model = build_model(run)
            if self.trace_format == "json":
                write_json(model, path)
            else:
                write_proto(model, path)
        self.counts = model.counts()
        return [path]


# --- the model ---------------------------------------------------------------------


def thread_rank(role: str) -> int:
    if role in THREAD_RANK:
        return THREAD_RANK[role]
    return 1 if role.startswith(("event_engine", "core", "grpc")) else 3


def build_model(run: Run) -> TraceModel:
    """Everything the trace shows, laid out on tracks; both file formats write this."""
    timeline, analysis = run.timeline, run.analysis
    per_thread: dict[tuple[int, int], list[Event]] = defaultdict(list)
    for event in timeline.events:
        if not isinstance(event, CoreLine):
            per_thread[(event.pid, event.tid)].append(event)
    origin = min([min(map(_START, events)) for events in per_thread.values()]
                 + [r.start for r in analysis.rpcs], default=0)
    model = TraceModel(origin_ns=origin)
    uuids = iter(range(1, 1 << 30))

    def add_track(**values: Any) -> Track:
        track = Track(uuid=next(uuids), **values)
        model.tracks.append(track)
        return track

    pids = list(timeline.processes) or sorted({pid for pid, _ in per_thread})
    process_tracks = {pid: add_track(name=timeline.processes.get(pid, "process"), pid=pid,
                                     is_process=True) for pid in pids}
    # One flow per link: the events at its ends carry its id; the stage goes in the args
    # of the event it ends on.
    # Per linked event (by id): the flows it starts, those it ends, the stages they cover.
    links: dict[int, tuple[list[int], list[int], dict[str, Any]]] = {}
    stage_of_link = link_stages(chain.steps() for chain in analysis.chains)
    for flow_id, (source, target, label) in enumerate(analysis.all_links(), 1):
        stage = stage_of_link.get((id(source), id(target)),
                                  "network_" + label.replace(" -> ", "_to_"))
        model.flow_names[flow_id] = stage
        ends = links.get(id(source))
        if ends is None:
            ends = links[id(source)] = ([], [], {})
        ends[0].append(flow_id)
        ends = links.get(id(target))
        if ends is None:
            ends = links[id(target)] = ([], [], {})
        ends[1].append(flow_id)
        ends[2][f"{stage}_us"] = round((target.ts - source.ts) / 1000, 3)

    def rel(ts: int) -> int:
        return ts - origin

    # RPCs and their batches, on lanes under the process.
    by_pid: dict[int, list[Rpc]] = defaultdict(list)
    for rpc in analysis.rpcs:
        by_pid[rpc.pid].append(rpc)
    for pid, rpcs in by_pid.items():
        if pid not in process_tracks:
            process_tracks[pid] = add_track(name="process", pid=pid, is_process=True)
        # Per lane: its RPCs, latest last, and the batches under them.
        rpc_lanes: list[tuple[list[Slice], list[Slice]]] = []
        overflow: list[Slice] = []
        for number, rpc in enumerate(rpcs, 1):
            call = rpc_slice(rpc, number, rel)
            free = next((row for row in rpc_lanes if (row[0][-1].end or 0) <= call.ts), None)
            if free is None:
                free = ([], [])
                rpc_lanes.append(free)
            free[0].append(call)
            inside, outside = under(call, batch_slices(rpc, rel))
            free[1].extend(inside)
            overflow.extend(outside)
        # A lane lists its latest RPC first.
        rows = [("RPCs", calls[::-1] + batches) for calls, batches in rpc_lanes]
        rows += [("batches", row) for row in lanes(overflow, nest=False)]
        for index, (name, row) in enumerate(rows):
            number = index + 1 if name == "RPCs" else index - len(rpc_lanes) + 1
            track = add_track(name=name + (f" ({number})" if number > 1 else ""), pid=pid,
                              parent=process_tracks[pid].uuid, rank=-100 + index)
            for s in row:
                s.track = track.uuid
            model.slices += row
            if name == "batches":
                model.in_order.add(track.uuid)

    # Threads: the Python stack with instants in it; hook spans on tracks below.
    thread_roles = dict(timeline.threads)
    order = sorted(per_thread, key=lambda key: (
        key[0], thread_rank(thread_roles.get(key, "")), thread_roles.get(key, ""), key[1]))
    for rank, (pid, tid) in enumerate(order):
        if pid not in process_tracks:
            process_tracks[pid] = add_track(name="process", pid=pid, is_process=True)
        role = thread_roles.get((pid, tid), "thread")
        label = role if role in ("main", "poller") else f"{role} {tid}"
        thread = add_track(name=label, pid=pid, tid=tid, parent=process_tracks[pid].uuid,
                           rank=rank)
        stack: list[Slice] = []
        spans: list[Slice] = []
        uuid = thread.uuid
        for event in per_thread[(pid, tid)]:
            ts = event.ts - origin
            flows_out, flows_in, arrivals = links.get(id(event), NO_LINKS)
            if isinstance(event, PythonSlice):  # the most, by far: the short way
                stack.append(Slice(uuid, ts, ts + (event.dur or 0), event.name, "python",
                                   NO_ARGS, flows_out, flows_in, event, arrivals))
                continue
            item = Slice(uuid, ts, None, event.title(), event.category, NO_ARGS, flows_out,
                         flows_in, event, arrivals)
            dur = getattr(event, "dur", None)
            if isinstance(event, GlueSpan | DrainSpan | HandlerSerialization):
                item.end = item.ts + (dur or 0)
                spans.append(item)
            else:
                stack.append(item)  # an instant: nests wherever it falls
        model.slices += nested(stack)
        model.in_order.add(uuid)
        for lane, lane_slices in enumerate(lanes(spans)):
            track = add_track(name=f"{label}: grpc spans" + (f" ({lane + 1})" if lane else ""),
                              pid=pid, parent=thread.uuid, rank=lane)
            for s in lane_slices:
                s.track = track.uuid
            model.slices += lane_slices
            model.in_order.add(track.uuid)
    return model


def link_stages(chains: Iterable[Sequence[Step]]) -> dict[tuple[int, int], str]:
    """The stage each chain link covers, as ``Chain.steps`` attributes it (given the steps
    of each chain). A link skips the shared steps between its ends (no arrow leads to
    them): it is named after the stage that holds most of its time."""
    stages: dict[tuple[int, int], str] = {}
    for steps in chains:
        source: Step | None = None
        shares: dict[str, int] = {}
        for step in steps:
            if step.stage:
                shares[step.stage] = shares.get(step.stage, 0) + (step.delta or 0)
            if step.shared:
                continue
            if source is not None and shares:
                stages[(id(source.event), id(step.event))] = max(shares, key=shares.__getitem__)
            source, shares = step, {}
    return stages


def rpc_slice(rpc: Rpc, number: int, rel: Any) -> Slice:
    args: dict[str, Any] = {"rpc": number, "side": rpc.side, "status": rpc.status,
                            "latency_us": round(rpc.latency / 1000, 3),
                            "batches": len(rpc.chains)}
    if rpc.link:
        args["link"] = rpc.link
    if rpc.peer is not None:
        args["other side"] = (f"{rpc.peer.side} pid {rpc.peer.pid}, same link id, "
                              f"{rpc.peer.latency / 1000:.1f} us")
    if rpc.missing:
        args["missing"] = rpc.missing
    return Slice(0, rel(rpc.start), rel(max(rpc.end, rpc.start)),
                 f"{rpc.method or 'RPC'} {rpc.status}", RPC_CATEGORY, args)


def batch_slices(rpc: Rpc, rel: Any) -> list[Slice]:
    """One slice per chain of the RPC, from its core call to its task resuming."""
    result = []
    sent = received = 0
    for chain in rpc.chains:
        steps = chain.steps()
        start = chain.core_call or (steps[0].event if steps else None)
        if start is None:
            continue
        end = max(step.at for step in steps)
        ops = [op.removesuffix("Operation") for op in chain.ops]
        parts = []
        if "SendMessage" in ops:
            sent += 1
            parts.append(f"message {sent} sent")
        if "ReceiveMessage" in ops:
            received += 1
            parts.append(f"message {received} received")
        if chain.kind == "request_call":
            name = "request call (waiting for a client)"
        elif parts:
            name = ", ".join(parts)
        else:
            name = " + ".join(ops) or chain.kind
        args = {"ops": ops, "stages_us": {k: round(v / 1000, 3)
                                          for k, v in chain.stages().items()}}
        if chain.missing:
            args["missing"] = chain.missing
        result.append(Slice(0, rel(start.ts), rel(end), name, BATCH_CATEGORY, args))
    return result


def under(parent: Slice, children: list[Slice]) -> tuple[list[Slice], list[Slice]]:
    """The children that fit under ``parent`` one after another, and the rest."""
    inside: list[Slice] = []
    outside: list[Slice] = []
    last = parent.ts
    for child in sorted(children, key=lambda s: s.ts):
        end = child.end if child.end is not None else child.ts
        if last <= child.ts and end <= (parent.end or 0):
            inside.append(child)
            last = end
        else:
            outside.append(child)
    return inside, outside


def nested(items: list[Slice]) -> list[Slice]:
    """Python slices (and instants among them) as a proper stack: a child that would end
    after its parent (clock mapping rounds) is cut at its parent's end."""
    sort_by_start(items, _nesting_key)
    ends: list[int] = []  # those of the open slices, innermost last
    for item in items:
        ts, end = item.ts, item.end
        while ends and ends[-1] <= ts:
            ends.pop()
        if end is None:
            continue
        if ends and end > ends[-1]:
            item.end = end = ends[-1]
        ends.append(end)
    return items


def sort_by_start(items: list[Slice], key: Callable[[Slice], tuple[int, int]]) -> None:
    """Sorts by start, at one start by ``key`` (the longer first): when no two start at
    once (the usual, in nanoseconds), by start alone, without a key made per slice."""
    starts = [s.ts for s in items]
    if len(set(starts)) == len(starts):
        items.sort(key=_START)
    else:
        items.sort(key=key)


def _nesting_key(s: Slice) -> tuple[int, int]:
    return s.ts, -(s.end if s.end is not None else s.ts)


def _lane_key(s: Slice) -> tuple[int, int]:
    return s.ts, -(s.end or s.ts)


_START = attrgetter("ts")


def lanes(spans: list[Slice], nest: bool = True, gap: int = 0) -> list[list[Slice]]:
    """Spans spread over as few lanes as needed for each lane to nest properly (or, with
    ``nest`` False, for none to overlap; ``gap`` more apart)."""
    sort_by_start(spans, _lane_key)
    result: list[list[Slice]] = []
    stacks: list[list[int]] = []  # per lane: the ends of its open spans
    for span in spans:
        end = span.end if span.end is not None else span.ts
        for lane, stack in enumerate(stacks):
            while stack and stack[-1] + gap <= span.ts:
                stack.pop()
            if not stack or (nest and end <= stack[-1]):
                stack.append(end)
                result[lane].append(span)
                break
        else:
            stacks.append([end])
            result.append([span])
    return result


# --- the writers -------------------------------------------------------------------


def ordered_events(model: TraceModel) -> Iterator[tuple[int, str, Slice]]:
    """Begin (``B``), end (``E``) and instant (``I``) events of every track, in time order;
    on one track, in nesting order.

    The tracks' streams are merged as ``heapq.merge`` would (at one time, the earlier
    track first), but a stream is read on without the heap for as long as it stays
    ahead of every other stream's next event: a thread's stack runs long."""
    per_track: dict[int, list[Slice]] = defaultdict(list)
    for s in model.slices:
        per_track[s.track].append(s)
    heap: list[list[Any]] = []
    for order, (track, items) in enumerate(per_track.items()):
        stream = track_events(items, track in model.in_order)
        first = next(stream, None)
        if first is not None:
            heap.append([first[0], order, first, stream])
    heapq.heapify(heap)
    while len(heap) > 1:
        top = heap[0]
        _, order, event, stream = top
        other = heap[1] if len(heap) == 2 or heap[1][:2] < heap[2][:2] else heap[2]
        limit, limit_order = other[0], other[1]
        yield event
        for event in stream:
            ts = event[0]
            if ts < limit or (ts == limit and order < limit_order):
                yield event
            else:
                top[0], top[2] = ts, event
                heapq.heapreplace(heap, top)
                break
        else:
            heapq.heappop(heap)
    if heap:
        yield heap[0][2]
        yield from heap[0][3]


def track_events(items: list[Slice], in_order: bool = False
                 ) -> Iterator[tuple[int, str, Slice]]:
    """One track's events; ``in_order``: its slices are sorted already (by start, the
    longer first)."""
    if not in_order:
        items = list(items)
        sort_by_start(items, _nesting_key)
    open_: list[Slice] = []
    ends: list[int] = []  # the open slices' ends
    for item in items:
        ts, end = item.ts, item.end
        while ends and ends[-1] <= ts and (end is not None or ends[-1] < ts):
            yield ends.pop(), "E", open_.pop()
        if end is None:
            yield ts, "I", item
        else:
            yield ts, "B", item
            open_.append(item)
            ends.append(end)
    while open_:
        yield ends.pop(), "E", open_.pop()


def write_proto(model: TraceModel, path: Path) -> None:
    """Native Perfetto protobuf: track descriptors, then TrackEvents with interned names.

    Encoded by ``protowire`` straight to bytes (no message object per event) into one
    buffer, written in blocks."""
    pending: list[bytes] = []
    with path.open("wb") as file:
        for track in model.tracks:
            pending.append(pw.packet(pw.bytes_field(pw.PACKET_TRACK_DESCRIPTOR,
                                                    _track_descriptor(track))))
        encoder = _EventEncoder()
        interner = encoder.interner
        varint = pw.varint
        # A packet's first bytes, by its length: the packet's tag and length, then the
        # timestamp's tag (its first field).
        starts = [pw.tag(pw.TRACE_PACKET, pw.LENGTH) + size_bytes
                  + pw.tag(pw.PACKET_TIMESTAMP, pw.VARINT) for size_bytes in pw.SMALL_VARINTS]
        # What follows an event's timestamp in its packet: the sequence id and the event.
        head = pw.uint_field(pw.PACKET_SEQUENCE_ID, SEQUENCE_ID) + pw.tag(
            pw.PACKET_TRACK_EVENT, pw.LENGTH)
        flags = pw.uint_field(pw.PACKET_SEQUENCE_FLAGS,
                              SEQ_INCREMENTAL_STATE_CLEARED | SEQ_NEEDS_INCREMENTAL_STATE)
        # Most events repeat one of a few shapes (a Python slice's end, a named slice
        # without arguments on its thread): encoded once each, with what follows the
        # timestamp.
        ends: dict[int, bytes] = {}
        plain: dict[tuple[str, str, str, int], bytes] = {}
        count, block = 0, WRITE_BLOCK_PACKETS
        for ts, kind, item in ordered_events(model):
            if kind == "E":
                tail = ends.get(item.track)
                if tail is None:
                    event = encoder.end(item)
                    tail = ends[item.track] = head + varint(len(event)) + event
            else:
                args = item.arguments()
                if not item.flows_out and not item.flows_in and not args:
                    key = (kind, item.name, item.category, item.track)
                    tail = plain.get(key)
                    if tail is None:
                        event = encoder.event(kind, item, args)
                        tail = plain[key] = head + varint(len(event)) + event
                else:
                    event = encoder.event(kind, item, args)
                    tail = head + varint(len(event)) + event
            stamp = varint(ts)
            if interner.added or interner.fresh:
                if interner.added:
                    tail += pw.bytes_field(pw.PACKET_INTERNED_DATA, interner.take())
                if interner.fresh:
                    tail += flags
                    interner.fresh = False
            length = 1 + len(stamp) + len(tail)
            if length < SMALL_LENGTHS:
                pending.append(starts[length] + stamp + tail)
            else:
                pending.append(pw.packet(pw.tag(pw.PACKET_TIMESTAMP, pw.VARINT) + stamp + tail))
            count += 1
            if count == block:
                file.write(b"".join(pending))
                pending.clear()
                count = 0
        file.write(b"".join(pending))


# TracePacket.SequenceFlags and TrackEvent.Type, TrackDescriptor.ChildTracksOrdering values
SEQ_INCREMENTAL_STATE_CLEARED, SEQ_NEEDS_INCREMENTAL_STATE = 1, 2
EVENT_TYPES = {"B": 1, "E": 2, "I": 3}  # TYPE_SLICE_BEGIN, TYPE_SLICE_END, TYPE_INSTANT
CHILD_ORDERING_EXPLICIT = 3
WRITE_BLOCK_PACKETS = 1 << 15  # about 1 MB
SMALL_LENGTHS = len(pw.SMALL_VARINTS)


def _track_descriptor(track: Track) -> bytes:
    parts = [pw.uint_field(pw.TRACK_UUID, track.uuid)]
    if track.is_process:
        parts.append(pw.bytes_field(pw.TRACK_PROCESS, pw.uint_field(pw.PROCESS_PID, track.pid)
                                    + pw.string_field(pw.PROCESS_NAME, track.name)))
    elif track.tid:
        parts.append(pw.bytes_field(pw.TRACK_THREAD, pw.uint_field(pw.THREAD_PID, track.pid)
                                    + pw.uint_field(pw.THREAD_TID, track.tid)
                                    + pw.string_field(pw.THREAD_NAME, track.name)))
    else:
        parts.insert(1, pw.string_field(pw.TRACK_NAME, track.name))
    if track.parent:
        parts.append(pw.uint_field(pw.TRACK_PARENT_UUID, track.parent))
    if track.is_process or track.tid:
        parts.append(pw.uint_field(pw.TRACK_CHILD_ORDERING, CHILD_ORDERING_EXPLICIT))
    parts.append(pw.uint_field(pw.TRACK_SIBLING_ORDER_RANK, track.rank))
    return b"".join(parts)


class _EventEncoder:
    """Encodes ``TrackEvent`` messages, keeping the fields that repeat between events: a
    name's, a category's, a track's, an argument name's and an interned string value's.
    Each is interned on first use, in the order a field-by-field encoding interns them
    (the event's name, its category, then each argument's name and value), so the iids
    are the same."""

    def __init__(self, interner: _Interner | None = None) -> None:
        self.interner = interner or _Interner()
        self.names: dict[str, bytes] = {}
        self.categories: dict[str, bytes] = {}
        self.tracks: dict[int, bytes] = {}
        self.keys: dict[str, bytes] = {}  # argument name -> its name_iid field
        self.strings: dict[str, bytes] = {}  # interned string value -> its value field

    def end(self, item: Slice) -> bytes:
        return _EVENT_TYPE_FIELDS["E"] + pw.uint_field(pw.EVENT_TRACK_UUID, item.track)

    def event(self, kind: str, item: Slice, args: dict[str, Any]) -> bytes:
        name_field = self.names.get(item.name)
        if name_field is None:
            name_field = self.names[item.name] = pw.uint_field(
                pw.EVENT_NAME_IID, self.interner.iid(pw.INTERNED_NAMES, item.name))
        category_field = self.categories.get(item.category)
        if category_field is None:
            category_field = self.categories[item.category] = pw.uint_field(
                pw.EVENT_CATEGORY_IIDS, self.interner.iid(pw.INTERNED_CATEGORIES,
                                                          item.category))
        track_field = self.tracks.get(item.track)
        if track_field is None:
            track_field = self.tracks[item.track] = pw.uint_field(pw.EVENT_TRACK_UUID,
                                                                  item.track)
        parts = [category_field]
        if args:
            annotation = self.annotation
            for key, value in args.items():
                if type(value) in _PLAIN_TYPES or not isinstance(value, dict | list | tuple):
                    parts.append(annotation(key, value))
                else:
                    parts += [annotation(k, v) for k, v in flat_args({key: value})]
        parts += (_EVENT_TYPE_FIELDS[kind], name_field, track_field)
        if item.flows_out:
            parts += [_FLOW_ID_TAG + _FIXED64(flow) for flow in item.flows_out]
        if item.flows_in:
            parts += [_TERMINATING_FLOW_ID_TAG + _FIXED64(flow) for flow in item.flows_in]
        return b"".join(parts)

    def annotation(self, key: str, value: Any) -> bytes:
        """One ``debug_annotations`` field: the argument's name, then its value."""
        key_field = self.keys.get(key)
        if key_field is None:
            key_field = self.keys[key] = pw.uint_field(
                pw.ANNOTATION_NAME_IID,
                self.interner.iid(pw.INTERNED_ANNOTATION_NAMES, key))
        kind = type(value)
        if kind is str:
            value_field = self.strings.get(value)
            if value_field is None:
                value_field = self.interner.value(value)
                if "0x" not in value:  # interned, so seen again (unlike addresses)
                    self.strings[value] = value_field
        elif kind is int and _INT64_MIN <= value < _INT64_END:
            value_field = _INT_TAG + pw.varint(value)
        elif kind is float:
            value_field = _DOUBLE_TAG + _DOUBLE(value)
        else:
            value_field = self.interner.value(value)
        size = len(key_field) + len(value_field)
        return _ANNOTATION_TAG + pw.varint(size) + key_field + value_field


_PLAIN_TYPES = frozenset({str, int, float, bool})
_ANNOTATION_TAG = pw.tag(pw.EVENT_DEBUG_ANNOTATIONS, pw.LENGTH)
_INT_TAG = pw.tag(pw.ANNOTATION_INT, pw.VARINT)
_DOUBLE_TAG = pw.tag(pw.ANNOTATION_DOUBLE, pw.FIXED64)
_DOUBLE = struct.Struct("<d").pack
_FIXED64 = struct.Struct("<Q").pack
_FLOW_ID_TAG = pw.tag(pw.EVENT_FLOW_IDS, pw.FIXED64)
_TERMINATING_FLOW_ID_TAG = pw.tag(pw.EVENT_TERMINATING_FLOW_IDS, pw.FIXED64)
_INT64_MIN, _INT64_END = -(1 << 63), 1 << 63
_EVENT_TYPE_FIELDS = {kind: pw.uint_field(pw.EVENT_TYPE, value)
                      for kind, value in EVENT_TYPES.items()}


def flat_args(args: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested dicts as ``outer.inner`` keys, lists as one comma-separated string."""
    for key, value in args.items():
        if isinstance(value, dict):
            yield from flat_args(value, f"{prefix}{key}.")
        elif isinstance(value, list | tuple):
            yield f"{prefix}{key}", ", ".join(str(v) for v in value)
        else:
            yield f"{prefix}{key}", value


INT64 = range(-(1 << 63), 1 << 63)


class _Interner:
    """Interned names, categories, argument names and string values of a sequence: each
    is written once, then referred to by number (what keeps the file small). A string
    with an address in it (the core's call arguments) is unique: written as it is.

    New entries wait in ``added`` until the packet that first uses them takes them
    (``take``), as that packet's ``interned_data``."""

    def __init__(self) -> None:
        self.tables: dict[int, dict[str, int]] = defaultdict(dict)
        self.added: dict[int, list[bytes]] = {}
        self.fresh = True

    def iid(self, table_field: int, text: str) -> int:
        table = self.tables[table_field]
        iid = table.get(text)
        if iid is None:
            iid = table[text] = len(table) + 1
            self.added.setdefault(table_field, []).append(
                pw.interned_entry(iid, text.encode()))
        return iid

    def take(self) -> bytes:
        """The ``InternedData`` of the entries added since the last call (b"" if none)."""
        if not self.added:
            return b""
        data = b"".join(pw.bytes_field(table_field, entry)
                        for table_field in sorted(self.added)
                        for entry in self.added[table_field])
        self.added = {}
        return data

    def value(self, value: Any) -> bytes:
        """The value field of a debug annotation."""
        if isinstance(value, bool):
            return pw.uint_field(pw.ANNOTATION_BOOL, int(value))
        if isinstance(value, int):
            if value not in INT64:
                raise ValueError(f"Value out of range: {value}")
            return pw.uint_field(pw.ANNOTATION_INT, value)
        if isinstance(value, float):
            return pw.double_field(pw.ANNOTATION_DOUBLE, value)
        if isinstance(value, str) and _is_address(value):
            return pw.uint_field(pw.ANNOTATION_POINTER, int(value, 16))
        if isinstance(value, str) and "0x" not in value:
            return pw.uint_field(pw.ANNOTATION_STRING_IID,
                                 self.iid(pw.INTERNED_STRING_VALUES, value))
        return pw.string_field(pw.ANNOTATION_STRING,
                               value if isinstance(value, str) else json.dumps(value))


def _is_address(text: str) -> bool:
    """An object's or tag's address as the hooks and the core print it (``0x7f...``)."""
    return (text.startswith("0x") and 2 < len(text) <= 18
            and not text[2:].strip("0123456789abcdef"))


def write_json(model: TraceModel, path: Path) -> None:
    """Chrome JSON of the same model. Instants become 1 ns slices on lanes under their
    thread (flows bind only to slices there); every slice is a ``B``/``E`` pair, written
    in nesting order, so rounding to microseconds cannot turn nesting into overlap."""
    tracks = {t.uuid: t for t in model.tracks}
    points: dict[int, list[Slice]] = defaultdict(list)
    kept: list[Slice] = []
    for s in model.slices:
        if s.end is None:
            points[s.track].append(s)
        else:
            kept.append(s)
    uuid = max(tracks, default=0) + 1
    for track_uuid, items in points.items():
        owner = tracks[track_uuid]
        for s in items:
            s.end = s.ts + JSON_POINT_NS
        for lane, lane_items in enumerate(lanes(items, nest=False, gap=2 * JSON_POINT_NS)):
            track = Track(uuid, f"{owner.name}: events" + (f" ({lane + 1})" if lane else ""),
                          owner.pid, parent=owner.uuid, rank=lane)
            uuid += 1
            tracks[track.uuid] = track
            for s in lane_items:
                s.track = track.uuid
                kept.append(s)
    # Chrome JSON knows processes and threads only: every other track is a made-up thread.
    tids: dict[int, int] = {}
    fake = 1 << 22  # above any Linux thread id
    for track in tracks.values():
        if track.tid:
            tids[track.uuid] = track.tid
        elif not track.is_process:
            fake += 1
            tids[track.uuid] = fake
    sort_index = {t.uuid: i for i, t in enumerate(
        sorted(tracks.values(), key=lambda t: _json_order(t, tracks)))}
    out: list[dict[str, Any]] = []
    for track in tracks.values():
        if track.is_process:
            out.append({"ph": "M", "name": "process_name", "pid": track.pid, "tid": 0,
                        "args": {"name": track.name}})
            continue
        out.append({"ph": "M", "name": "thread_name", "pid": track.pid,
                    "tid": tids[track.uuid], "args": {"name": track.name}})
        out.append({"ph": "M", "name": "thread_sort_index", "pid": track.pid,
                    "tid": tids[track.uuid], "args": {"sort_index": sort_index[track.uuid]}})
    view = TraceModel(list(tracks.values()), kept, model.flow_names, model.origin_ns)
    for ts, kind, item in ordered_events(view):
        track = tracks[item.track]
        where = {"pid": track.pid, "tid": tids[track.uuid], "ts": _us(ts)}
        if kind == "E":
            out.append({"ph": "E", **where})
            continue
        out.append({"ph": "B", "name": item.name, "cat": item.category, **where,
                    "args": item.arguments()})
        for flow_id in item.flows_out:
            out.append({"ph": "s", "id": flow_id, "name": model.flow_names[flow_id],
                        "cat": "flow", **where})
        for flow_id in item.flows_in:
            out.append({"ph": "f", "bp": "e", "id": flow_id,
                        "name": model.flow_names[flow_id], "cat": "flow", **where})
    path.write_text(json.dumps({"traceEvents": out, "displayTimeUnit": "ns"},
                               separators=(",", ":")))


def _json_order(track: Track, tracks: dict[int, Track]) -> tuple[int, ...]:
    """Tracks in tree order (parent, then its children by rank)."""
    chain: list[int] = []
    current: Track | None = track
    while current is not None and not current.is_process:
        chain.append(current.rank)
        current = tracks.get(current.parent)
    return tuple(reversed(chain))


def _us(ns: int) -> str | float:
    return round(ns / 1000, 3)
