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
import os
import shutil
import struct
import tempfile
from array import array
from bisect import bisect_left, bisect_right
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import islice, repeat
from operator import attrgetter, itemgetter, le, lt, sub
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Literal

from toygrpc.analysis.chains import Rpc, Step
from toygrpc.analysis.run import Run
from toygrpc.forked import ForkedWork, can_fork
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
# The stages of the links an event ends, each with its duration in microseconds (its key
# in the event's arguments, ``<stage>_us``, and the value).
Arrivals = tuple[tuple[str, float], ...]
FORMATS: dict[Format, str] = {"proto": "trace.perfetto-trace", "json": "trace.json"}
THREAD_RANK = {"main": 0, "core": 1, "poller": 2}  # the rest after these
JSON_POINT_NS = 1  # a point's length in Chrome JSON, where flows need a slice to bind to
SEQUENCE_ID = 1
# A trace of this many events (begins, ends, instants) or more is written in two halves at
# once, where a second process can be forked (``write_proto``); the halves' time is
# found from about this many samples of each stream.
SPLIT_FROM_EVENTS = 200_000
SPLIT_SAMPLES = 1024
RPC_CATEGORY, BATCH_CATEGORY = "rpc.call", "rpc.batch"  # the RPC track's slices
NO_ARGS: dict[str, Any] = {}  # a thread slice's: its event says them (Slice.arguments)
NO_LINKS: tuple[tuple[int, ...], tuple[int, ...], Arrivals] = ((), (), ())
# The events a thread's track shows as slices beside its stack (on lanes of their own).
_SPAN_TYPES = (GlueSpan, DrainSpan, HandlerSerialization)


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
    # A thread's event: its arguments are its details (and ``extra``, what the links it
    # ends add), made when written, not held for each of millions of slices at once.
    event: Event | None = None
    extra: Arrivals = ()

    def arguments(self) -> dict[str, Any]:
        """What the trace shows with the slice."""
        if self.event is None:
            return self.args
        return with_arrivals(self.event.details(), self.extra)


@dataclass
class TraceModel:
    """Tracks, slices and flows, in nanoseconds since the run's first event."""

    tracks: list[Track] = field(default_factory=list)
    slices: list[Slice] = field(default_factory=list)
    flow_names: dict[int, str] = field(default_factory=dict)
    origin_ns: int = 0
    # Tracks whose slices are already in nesting order (``track_events`` need not sort
    # them again): a lane.
    in_order: set[int] = field(default_factory=set)
    # Each thread's track, held as its events (``ThreadStack``): a large run has millions
    # of Python slices, and the native writer encodes them without a Slice each.
    stacks: dict[int, ThreadStack] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        stacked = sum(len(stack.events) for stack in self.stacks.values())
        return {"slices": len(self.slices) + stacked, "flows": len(self.flow_names),
                "tracks": len(self.tracks)}

    def groups(self) -> list[list[Slice] | ThreadStack]:
        """Each track's slices (or stack), in the order its events go first when tracks'
        events fall at one time: that of ``tracks``, then tracks of slices not among them
        (hand-made models), by their first slice. ``build_model`` adds a track's slices
        right after the track, so this is also the order of its first slice."""
        per_track: dict[int, list[Slice]] = {}
        for s in self.slices:
            items = per_track.get(s.track)
            if items is None:
                items = per_track[s.track] = []
            items.append(s)
        groups: list[list[Slice] | ThreadStack] = []
        for track in self.tracks:
            stack = self.stacks.get(track.uuid)
            if stack is not None and stack.events:
                groups.append(stack)
            items = per_track.pop(track.uuid, None)
            if items:
                groups.append(items)
        groups += per_track.values()
        return groups

    def expanded(self) -> TraceModel:
        """The same model with every stack made into slices (for Chrome JSON), in
        ``groups`` order."""
        slices = [s for group in self.groups()
                  for s in (group.slices() if isinstance(group, ThreadStack) else group)]
        return TraceModel(self.tracks, slices, self.flow_names, self.origin_ns,
                          self.in_order | set(self.stacks))


# What the analysis links to a thread's event (by ``id``): the flows it starts, those it
# ends, and the stage of each link it ends with its duration (``Arrivals``, added to its
# arguments). Tuples, mostly of one: a large run links millions of events.
Links = dict[int, tuple[tuple[int, ...], tuple[int, ...], Arrivals]]


@dataclass
class ThreadStack:
    """A thread's track: its Python slices, nesting, with the instants of the hooks and
    the core among them, in nesting order (by start, the longer first). Kept as the
    events: the native writer encodes them straight from these, and ``slices`` makes
    the ``Slice``s when a writer needs them (Chrome JSON)."""

    track: int
    events: list[Event]
    links: Links
    origin: int
    # The ids of the Python slices among ``links`` (few if any): most slices need no
    # look-up in ``links``, a large table.
    linked_slices: set[int] = field(default_factory=set)

    def slices(self) -> list[Slice]:
        """The stack as slices, a child that would end after its parent cut (``nested``)."""
        items = []
        track, origin = self.track, self.origin
        for event in self.events:
            ts = event.ts - origin
            flows_out, flows_in, arrivals = self.links.get(id(event), NO_LINKS)
            if isinstance(event, PythonSlice):
                items.append(Slice(track, ts, ts + (event.dur or 0), event.name, "python",
                                   NO_ARGS, flows_out, flows_in, event, arrivals))
            else:
                items.append(Slice(track, ts, None, event.title(), event.category, NO_ARGS,
                                   flows_out, flows_in, event, arrivals))
        return nested(items)


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


def with_arrivals(details: dict[str, Any], arrivals: Arrivals) -> dict[str, Any]:
    """An event's details and the stages of the links it ends, a later one of a stage
    overriding (in its place) an earlier one's, as in a dict."""
    if not arrivals:
        return details
    merged = dict(details)
    merged.update(arrivals)
    return merged


def thread_rank(role: str) -> int:
    if role in THREAD_RANK:
        return THREAD_RANK[role]
    return 1 if role.startswith(("event_engine", "core", "grpc")) else 3


def build_model(run: Run) -> TraceModel:
    """Everything the trace shows, laid out on tracks; both file formats write this."""
    timeline, analysis = run.timeline, run.analysis
    # Per thread: its stack's events (Python slices, instants) and its spans'.
    per_thread: dict[tuple[int, int], tuple[list[Event], list[Event]]] = {}
    pid = tid = -1
    on_stack: list[Event] = []
    beside: list[Event] = []
    for event in timeline.events:  # millions: the thread of the last event kept at hand
        if type(event) is not PythonSlice and isinstance(event, CoreLine):
            continue
        if event.tid != tid or event.pid != pid:
            pid, tid = event.pid, event.tid
            on_stack, beside = per_thread.setdefault((pid, tid), ([], []))
        if type(event) is PythonSlice or not isinstance(event, _SPAN_TYPES):
            on_stack.append(event)
        else:
            beside.append(event)
    origin = min([min(map(_START, events)) for lists in per_thread.values()
                  for events in lists if events] + [r.start for r in analysis.rpcs], default=0)
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
    links: Links = {}
    no_links = NO_LINKS
    linked_slices: set[int] = set()
    stage_of_link = link_stages(chain.steps() for chain in analysis.chains)
    flow_names = model.flow_names
    for flow_id, (source, target, label) in enumerate(analysis.all_links(), 1):
        source_id, target_id = id(source), id(target)
        stage = stage_of_link.get((source_id, target_id))
        if stage is None:
            stage = "network_" + label.replace(" -> ", "_to_")
        flow_names[flow_id] = stage
        flows_out, flows_in, arrivals = links.get(source_id, no_links)
        links[source_id] = ((*flows_out, flow_id), flows_in, arrivals)
        flows_out, flows_in, arrivals = links.get(target_id, no_links)
        arrival = (stage + "_us", round((target.ts - source.ts) / 1000, 3))
        links[target_id] = (flows_out, (*flows_in, flow_id), (*arrivals, arrival))
        if isinstance(source, PythonSlice):
            linked_slices.add(source_id)
        if isinstance(target, PythonSlice):
            linked_slices.add(target_id)

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
        stack, span_events = per_thread[(pid, tid)]
        spans: list[Slice] = []
        for event in span_events:
            ts = event.ts - origin
            flows_out, flows_in, arrivals = links.get(id(event), NO_LINKS)
            spans.append(Slice(thread.uuid, ts, ts + (getattr(event, "dur", 0) or 0),
                               event.title(), event.category, NO_ARGS, flows_out, flows_in,
                               event, arrivals))
        sort_stack(stack)  # a Python slice, or an instant: nests wherever it falls
        model.stacks[thread.uuid] = ThreadStack(thread.uuid, stack, links, origin,
                                                linked_slices)
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


def sort_stack(events: list[Event]) -> None:
    """A thread's stack events in nesting order, as ``sort_by_start`` sorts their slices
    (by start, at one start the longer first; an instant has no length); a stack whose
    starts only rise (the usual) is left as it is."""
    starts = list(map(_START, events))
    if all(map(lt, starts, islice(starts, 1, None))):
        return
    if len(set(starts)) == len(starts):
        events.sort(key=_START)
    else:
        events.sort(key=_event_nesting_key)


def _event_nesting_key(event: Event) -> tuple[int, int]:
    dur = (event.dur or 0) if isinstance(event, PythonSlice) else 0
    return event.ts, -(event.ts + dur)


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


def write_proto(model: TraceModel, path: Path, split_from: int | None = None) -> None:
    """Native Perfetto protobuf: track descriptors, then TrackEvents with interned names.

    Encoded by ``protowire`` straight to bytes (no message object per event). Each
    track's events are a ``_Stream``, merged as ``ordered_events`` merges them. The events
    that may intern names (or carry arguments or flows) are encoded as the merge reaches
    them, so the iids and the packets that carry the names are those of an encoding one
    event after the other. The merge runs ``MERGED_AHEAD`` stretches ahead of the
    writing: the rest, most of it alike but for the timestamp, is encoded a block of a
    stream at a time (``protowire.stamped``), up to where the merge has gone. Written in
    blocks of packets.

    A trace of ``split_from`` events or more (``SPLIT_FROM_EVENTS`` unless given) is
    written in two halves by time, at once: a forked child encodes the later half as a
    second packet sequence (its own interned names) into a file of its own, appended once
    both are done. Perfetto orders packets by time across sequences, and pairs a slice's
    end with its beginning by track."""
    encoder = _PacketEncoder(SEQUENCE_ID)
    streams = [(_stack_stream(group) if isinstance(group, ThreadStack)
                else _slice_stream(group, group[0].track in model.in_order)).done(encoder)
               for group in model.groups()]
    descriptors = [pw.packet(pw.bytes_field(pw.PACKET_TRACK_DESCRIPTOR,
                                            _track_descriptor(track)))
                   for track in model.tracks]
    if split_from is None:
        split_from = SPLIT_FROM_EVENTS
    split = _split_time(streams) if sum(len(s.times) for s in streams) >= split_from \
        and can_fork() else None
    if split is None:
        with path.open("wb") as file:
            _write_streams(file, descriptors, streams, encoder)
        return
    cuts = [bisect_left(stream.times, split) for stream in streams]
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".later", dir=path.parent)
    later = Path(name)  # made here: this writer's own, removed whatever happens
    try:
        os.close(handle)
        with ForkedWork(lambda: _write_later_half(later, streams, cuts)) as second:
            first = [stream.part(0, cut).done(encoder)
                     for stream, cut in zip(streams, cuts, strict=True)]
            with path.open("wb") as file:
                _write_streams(file, descriptors, first, encoder)
            second.join()
        with path.open("ab") as file, later.open("rb") as rest:
            shutil.copyfileobj(rest, file, 1 << 20)
    finally:
        later.unlink(missing_ok=True)


def _write_later_half(path: Path, streams: list[_Stream], cuts: list[int]) -> None:
    """The events from ``cuts`` on, as the second packet sequence (``write_proto``)."""
    encoder = _PacketEncoder(SEQUENCE_ID + 1)
    later = [stream.part(cut, len(stream.times)).done(encoder)
             for stream, cut in zip(streams, cuts, strict=True)]
    with path.open("wb") as file:
        _write_streams(file, [], later, encoder)


def _split_time(streams: list[_Stream]) -> int | None:
    """The time that halves the streams' events (a weighted median of samples), or None
    where the halves cannot be cut by time (a stream out of time order)."""
    if not all(stream.in_order for stream in streams):
        return None
    samples: list[tuple[int, int]] = []
    for stream in streams:
        step = max(1, len(stream.times) // SPLIT_SAMPLES)
        samples += zip(stream.times[::step], repeat(step))
    samples.sort()
    half, seen = sum(weight for _, weight in samples) / 2, 0
    for ts, weight in samples:
        seen += weight
        if seen >= half:
            return ts
    return None


def _write_streams(file: BinaryIO, descriptors: list[bytes], streams: list[_Stream],
                   encoder: _PacketEncoder) -> None:
    """The track ``descriptors``, then the merged streams' packets, in blocks."""
    pending = list(descriptors)
    count, block = 0, WRITE_BLOCK_PACKETS
    ahead: deque[tuple[_Stream, int, int]] = deque()  # merged, not written yet
    stretches = _merged(streams, encoder)
    while True:
        for stretch in stretches:  # the merge runs ahead, for longer blocks
            ahead.append(stretch)
            if len(ahead) == MERGED_AHEAD:
                break
        if not ahead:
            break
        stream, start, stop = ahead.popleft()
        while start < stop:
            end = min(stop, start + block - count)
            pending += stream.packets(start, end)
            count += end - start
            start = end
            if count >= block:
                file.write(b"".join(pending))
                pending.clear()
                count = 0
    file.write(b"".join(pending))


def _merged(streams: list[_Stream], encoder: _PacketEncoder
            ) -> Iterator[tuple[_Stream, int, int]]:
    """The streams' events in time order, as ``(stream, start, stop)`` stretches of one
    stream: ``ordered_events``'s merge (at one time, the earlier stream first), a stream
    read on for as long as it stays ahead of every other stream's next event. The
    special events are encoded on the way, in that order."""
    heap = [(stream.times[0], order, 0, stream) for order, stream in enumerate(streams)
            if stream.times]
    heapq.heapify(heap)
    while heap:
        _, order, start, stream = heap[0]
        times = stream.times
        if len(heap) == 1:
            stop = len(times)
        else:
            other = heap[1] if len(heap) == 2 or heap[1] < heap[2] else heap[2]
            if not stream.in_order:
                stop = stream.stretch(start, other[0], order < other[1])
            elif order < other[1]:
                stop = bisect_right(times, other[0], start + 1)
            else:
                stop = bisect_left(times, other[0], start + 1)
        if stream.next_special < stop:
            stream.encode_special(stop, encoder)
        stream.merged = stop
        yield stream, start, stop
        if stop < len(times):
            heapq.heapreplace(heap, (times[stop], order, stop, stream))
        else:
            heapq.heappop(heap)


class _Stream:
    """One track's events for the writer, in the order it writes them: ``times``, and at
    each the index of an encoding (``codes``) in ``tails`` (what follows the timestamp)
    and ``heads`` (what comes before it, by the timestamp's length in bytes).

    An event encoded on its own (one with arguments or flows, or the first of its
    encoding, which may intern names) sits at a position of ``special``, with its
    ``items`` entry: the Slice or Event (a begin if it has a length, else an instant), or
    the code for a code's first event (no tuple with the kind: there may be millions),
    or ``END`` for a slice's end that begins a ``part``.
    ``encode_special`` encodes them (into ``packets_of_special``) in the order of the
    merge; ``packets`` then encodes the rest a block at a time."""

    __slots__ = ("block", "block_start", "codes", "done_special", "heads", "in_order",
                 "items", "links", "merged", "names", "next_special", "packets_of_special",
                 "special", "tails", "times", "track", "written_special")

    def __init__(self, track: int, links: Links | None = None) -> None:
        self.track = track
        # Machine integers, not int objects: 8 bytes an event rather than 40.
        self.times = array("q")
        self.codes = array("i")
        self.special = array("q")
        self.items: list[Slice | Event | int] = []
        self.names = [""]  # per code, the name of its slices (code 0: a slice's end)
        self.tails: list[bytes] = []
        self.heads: list[list[bytes]] = []
        self.in_order = True
        self.links: Links = links or {}
        self.packets_of_special: dict[int, bytes] = {}  # by position, until written
        self.done_special = 0  # how many special events are encoded
        self.written_special = 0  # how many are written (and dropped)
        self.merged = 0  # the events before it are merged (their special ones encoded)
        self.next_special = _NEVER  # the position of the next one (set by ``done``)
        self.block: list[bytes] = []  # the packets of events block_start... (encoded ahead)
        self.block_start = 0

    def done(self, encoder: _PacketEncoder) -> _Stream:
        """Sets up the encodings, once the events are in: the end event's now (it interns
        nothing), the others' at their first event."""
        self.in_order = all(map(le, self.times, islice(self.times, 1, None)))
        self.next_special = self.special[0] if self.special else _NEVER
        self.tails = [b""] * len(self.names)
        self.heads = [[b""] * len(self.names) for _ in range(11)]  # by varint length
        self._set(END, encoder.tail(encoder.end_of(self.track)))
        return self

    def part(self, start: int, stop: int) -> _Stream:
        """Events ``start`` to ``stop`` as a stream of their own, before ``done``. A part
        that does not start at the beginning is another sequence's: each code's first
        event in it interns its name again, so it is special there."""
        part = _Stream(self.track, self.links)
        part.times, part.codes, part.names = self.times[start:stop], self.codes[start:stop], \
            self.names
        low, high = bisect_left(self.special, start), bisect_left(self.special, stop)
        positions = [at - start for at in self.special[low:high]]
        items = self.items[low:high]
        if start:
            codes = part.codes
            # each code's first position: the last written, going backwards
            firsts = dict(zip(reversed(codes), range(len(codes) - 1, -1, -1), strict=True))
            firsts.pop(END, None)
            firsts_here = {item for item in items if type(item) is int}  # first overall
            added = [(at, code) for code, at in firsts.items() if code not in firsts_here]
            if added:
                merged = sorted([*zip(positions, items, strict=True), *added],
                                key=itemgetter(0))
                positions, items = [at for at, _ in merged], [item for _, item in merged]
            if codes and codes[0] == END and (not positions or positions[0]):
                # a slice's end first: encoded on its own too, so that whichever part is
                # first in the merge, its first packet says the sequence's state is new
                positions, items = [0, *positions], [END, *items]
        part.special = array("q", positions)
        part.items = items
        return part

    def _set(self, code: int, tail: bytes) -> None:
        self.tails[code] = tail
        for length in range(1, 11):
            self.heads[length][code] = _packet_head(1 + length + len(tail))

    def stretch(self, start: int, limit: int, first: bool) -> int:
        """Where the stretch from ``start`` ends: at the first later event past ``limit``
        (at ``limit`` unless ``first``, this stream going first at one time)."""
        times = self.times
        if self.in_order:
            return (bisect_right if first else bisect_left)(times, limit, start + 1)
        stop = start + 1
        while stop < len(times) and (times[stop] < limit or (first and times[stop] == limit)):
            stop += 1
        return stop

    def encode_special(self, stop: int, encoder: _PacketEncoder) -> None:
        """Encodes the special events before ``stop`` not encoded yet."""
        special, index = self.special, self.done_special
        times, items, packets, links = self.times, self.items, self.packets_of_special, self.links
        encode, packet, track = encoder.encode, encoder.packet, self.track
        interner, varint, packet_tail = encoder.interner, pw.varint, encoder.packet_tail
        at = special[index]
        while at < stop:
            item = items[index]
            if isinstance(item, int):
                if item == END:  # a part's first event, a slice's end (``part``)
                    event = encoder.end_of(track)
                else:  # a code's first event
                    event = encode("B", self.names[item], "python", track)
                    self._set(item, encoder.tail(event))
            elif isinstance(item, Slice):
                event = encode("I" if item.end is None else "B", item.name, item.category,
                               item.track, item.arguments(), item.flows_out, item.flows_in)
            else:
                kind = "B" if isinstance(item, PythonSlice) else "I"
                flows_out, flows_in, arrivals = links.get(id(item), NO_LINKS)
                event = encode(kind, item.title(), item.category, track,
                               with_arrivals(item.details(), arrivals), flows_out, flows_in)
            if interner.added or interner.fresh or len(event) >= SMALL_LENGTHS:
                packets[at] = packet(times[at], event)
            else:  # ``packet``'s usual case, written out: there are many
                tail = packet_tail + _SMALL[len(event)] + event
                stamp = varint(times[at])
                packets[at] = _packet_head(1 + len(stamp) + len(tail)) + stamp + tail
            index += 1
            at = special[index] if index < len(special) else _NEVER
        self.done_special, self.next_special = index, at

    def packets(self, start: int, stop: int) -> list[bytes]:
        """The packets of events ``start`` to ``stop`` (after those before ``start``)."""
        end = self.block_start + len(self.block)
        if stop > end:
            written = self.packets_of_special  # those before ``start`` are
            while self.written_special < len(self.special) and (
                    self.special[self.written_special] < start):
                del written[self.special[self.written_special]]
                self.written_special += 1
            self.block_start = start
            self.block = self._encoded(start, min(self.merged, max(stop, start + STREAM_BLOCK)))
        return self.block[start - self.block_start:stop - self.block_start]

    def _encoded(self, start: int, stop: int) -> list[bytes]:
        if self.in_order:
            out = pw.stamped(self.times, self.codes, self.heads, self.tails, start, stop)
        else:
            heads, tails = self.heads, self.tails
            stamps = map(pw.varint, self.times[start:stop])
            out = [heads[len(stamp)][code] + stamp + tails[code]
                   for stamp, code in zip(stamps, self.codes[start:stop], strict=True)]
        special = self.special
        index = bisect_left(special, start)
        while index < len(special) and special[index] < stop:
            out[special[index] - start] = self.packets_of_special[special[index]]
            index += 1
        return out


END = 0  # the code of a slice's end in every stream


def _slice_stream(items: list[Slice], in_order: bool) -> _Stream:
    stream = _Stream(items[0].track)
    times, codes = stream.times, stream.codes
    for ts, kind, item in track_events(items, in_order):
        if kind != "E":
            stream.special.append(len(times))
            stream.items.append(item)
        times.append(ts)
        codes.append(END)
    return stream


def _stack_stream(stack: ThreadStack) -> _Stream:
    """A thread's stream, straight from its events: ``nested`` (a child cut at its
    parent's end) and ``track_events`` in one pass. A Python slice without arguments or
    flows (nearly all) is only a time and its name's code."""
    stream = _Stream(stack.track, stack.links)
    times, codes, special, items = stream.times, stream.codes, stream.special, stream.items
    add_time, add_code = times.append, codes.append
    linked, origin = stack.linked_slices, stack.origin
    templates: dict[str, int] = {}
    ends = [_NEVER]  # the ends of the open slices, innermost last, above one never reached
    top = _NEVER
    events = stack.events
    for event, ts in zip(events, map(sub, map(_START, events), repeat(origin)), strict=True):
        if type(event) is PythonSlice or isinstance(event, PythonSlice):
            while top <= ts:  # slices ended by now
                add_time(top)
                add_code(END)
                ends.pop()
                top = ends[-1]
            end = ts + (event.dur or 0)
            if end > top:  # ends after its parent: cut
                end = top
            if event.args or (linked and id(event) in linked):
                special.append(len(times))
                items.append(event)
                add_code(END)
            else:
                code = templates.get(event.name)
                if code is None:
                    code = templates[event.name] = len(stream.names)
                    stream.names.append(event.name)
                    special.append(len(times))
                    items.append(code)
                add_code(code)
            add_time(ts)
            ends.append(end)
            top = end
        else:  # an instant: after the slices that ended before it
            while top < ts:
                add_time(top)
                add_code(END)
                ends.pop()
                top = ends[-1]
            special.append(len(times))
            items.append(event)
            add_time(ts)
            add_code(END)
    ends.reverse()
    times.extend(ends[:-1])
    codes.extend([END] * (len(ends) - 1))
    return stream


_NEVER = 1 << 64  # later than any time of a trace


def _packet_head(length: int) -> bytes:
    """A packet's bytes before its timestamp's varint: the packet's tag and ``length``,
    then the timestamp's tag (its first field)."""
    if length < SMALL_LENGTHS:
        return _PACKET_STARTS[length]
    return _PACKET_TAG + pw.varint(length) + _TIMESTAMP_TAG


# TracePacket.SequenceFlags and TrackEvent.Type, TrackDescriptor.ChildTracksOrdering values
SEQ_INCREMENTAL_STATE_CLEARED, SEQ_NEEDS_INCREMENTAL_STATE = 1, 2
EVENT_TYPES = {"B": 1, "E": 2, "I": 3}  # TYPE_SLICE_BEGIN, TYPE_SLICE_END, TYPE_INSTANT
CHILD_ORDERING_EXPLICIT = 3
_SEQUENCE_FLAGS = pw.uint_field(pw.PACKET_SEQUENCE_FLAGS,
                                SEQ_INCREMENTAL_STATE_CLEARED | SEQ_NEEDS_INCREMENTAL_STATE)
WRITE_BLOCK_PACKETS = 1 << 15  # about 1 MB
STREAM_BLOCK = 1 << 14  # events of a stream encoded at once (at most)
MERGED_AHEAD = 1 << 12  # stretches merged before they are written
SMALL_LENGTHS = len(pw.SMALL_VARINTS)
_SMALL = pw.SMALL_VARINTS
_STRINGS_KEPT = 1 << 16  # encodings kept per argument name (each string value's)
_PACKET_TAG = pw.tag(pw.TRACE_PACKET, pw.LENGTH)
_TIMESTAMP_TAG = pw.tag(pw.PACKET_TIMESTAMP, pw.VARINT)
# A packet's first bytes, by its length (a varint of one or two bytes).
_PACKET_STARTS = [_PACKET_TAG + size + _TIMESTAMP_TAG for size in pw.SMALL_VARINTS]


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
    name's, a category's and a track's (together, per event type), an argument name's and
    a string argument's. Each name is interned on first use, in the order a
    field-by-field encoding interns them (the event's name, its category, then each
    argument's name and value), so the iids are the same."""

    def __init__(self, interner: _Interner | None = None) -> None:
        self.interner = interner or _Interner()
        # (type, name, category, track) -> the fields before the arguments, and after
        self.fixed: dict[tuple[str, str, str, int], tuple[bytes, bytes]] = {}
        self.keys: dict[str, bytes] = {}  # argument name -> its name_iid field
        # Per argument name: string value -> the whole annotation (few values repeat a
        # lot: the same addresses, the same operations), and the same for booleans.
        self.strings: dict[str, dict[str, bytes]] = {}
        self.bools: dict[str, dict[bool, bytes]] = {}
        # Per argument name: what comes before a double, or an int (by its varint's length).
        self.double_heads: dict[str, bytes] = {}
        self.int_heads: dict[str, list[bytes]] = {}

    def end_of(self, track: int) -> bytes:
        return _EVENT_TYPE_FIELDS["E"] + pw.uint_field(pw.EVENT_TRACK_UUID, track)

    def encode(self, kind: str, name: str, category: str, track: int,
               args: dict[str, Any] = NO_ARGS, flows_out: Sequence[int] = (),
               flows_in: Sequence[int] = ()) -> bytes:
        key = (kind, name, category, track)
        fixed = self.fixed.get(key)
        if fixed is None:
            name_field = pw.uint_field(pw.EVENT_NAME_IID,
                                       self.interner.iid(pw.INTERNED_NAMES, name))
            fixed = self.fixed[key] = (
                pw.uint_field(pw.EVENT_CATEGORY_IIDS,
                              self.interner.iid(pw.INTERNED_CATEGORIES, category)),
                _EVENT_TYPE_FIELDS[kind] + name_field + pw.uint_field(pw.EVENT_TRACK_UUID,
                                                                      track))
        before, after = fixed
        if not (args or flows_out or flows_in):
            return before + after
        parts = [before]
        if args:
            annotation, strings, doubles = self.annotation, self.strings, self.double_heads
            for arg, value in args.items():
                value_type = type(value)
                if value_type is str:  # the most: a string seen before under this name?
                    seen = strings.get(arg)
                    found = seen.get(value) if seen is not None else None
                    parts.append(found or annotation(arg, value))
                elif value_type is float and arg in doubles:  # a stage's duration
                    parts.append(doubles[arg] + _DOUBLE(value))
                elif value_type is list or value_type is tuple:
                    parts.append(annotation(arg, ", ".join(map(str, value))))
                elif value_type in _PLAIN_TYPES or not isinstance(value, dict | list | tuple):
                    parts.append(annotation(arg, value))
                else:
                    parts += [annotation(k, v) for k, v in flat_args({arg: value})]
        parts.append(after)
        if flows_out:
            parts += map(_FLOW_ID_FIELD, flows_out)
        if flows_in:
            parts += map(_TERMINATING_FLOW_ID_FIELD, flows_in)
        return b"".join(parts)

    def annotation(self, key: str, value: Any) -> bytes:
        """One ``debug_annotations`` field: the argument's name, then its value."""
        kind = type(value)
        if kind is float:
            head = self.double_heads.get(key)
            if head is None:
                key_field = self.key_field(key)
                head = self.double_heads[key] = (_ANNOTATION_TAG + pw.varint(len(key_field) + 9)
                                                 + key_field + _DOUBLE_TAG)
            return head + _DOUBLE(value)
        if kind is int and _INT64_MIN <= value < _INT64_END:
            number = pw.varint(value)
            heads = self.int_heads.get(key)
            if heads is None:
                heads = self.int_heads[key] = [b""] * 11
            head = heads[len(number)]
            if not head:
                key_field = self.key_field(key)
                head = heads[len(number)] = (
                    _ANNOTATION_TAG + pw.varint(len(key_field) + 1 + len(number)) + key_field
                    + _INT_TAG)
            return head + number
        seen: dict[Any, bytes] | None = None
        if kind is str or kind is bool:
            table: dict[str, dict[Any, bytes]] = self.strings if kind is str else self.bools
            seen = table.get(key)
            if seen is None:
                seen = table[key] = {}
            found = seen.get(value)
            if found is not None:
                return found
        key_field = self.key_field(key)
        value_field = self.interner.value(value)
        size = len(key_field) + len(value_field)
        annotation = _ANNOTATION_TAG + pw.varint(size) + key_field + value_field
        if seen is not None and len(seen) < _STRINGS_KEPT:
            seen[value] = annotation
        return annotation

    def key_field(self, key: str) -> bytes:
        """An argument name's ``name_iid`` field (interned on first use)."""
        key_field = self.keys.get(key)
        if key_field is None:
            key_field = self.keys[key] = pw.uint_field(
                pw.ANNOTATION_NAME_IID, self.interner.iid(pw.INTERNED_ANNOTATION_NAMES, key))
        return key_field


class _PacketEncoder(_EventEncoder):
    """Events as whole ``TracePacket`` records of one packet sequence: the first packet
    says the sequence's incremental state is new, and each packet carries the interned
    names it is the first to use."""

    def __init__(self, sequence_id: int = SEQUENCE_ID) -> None:
        super().__init__()
        # What follows an event's timestamp in its packet: the sequence id, the event's tag.
        self.packet_tail = (pw.uint_field(pw.PACKET_SEQUENCE_ID, sequence_id)
                            + pw.tag(pw.PACKET_TRACK_EVENT, pw.LENGTH))

    def tail(self, event: bytes) -> bytes:
        """What follows the timestamp in the packet of an ``event``: the sequence id and
        the event."""
        return self.packet_tail + pw.varint(len(event)) + event

    def packet(self, ts: int, event: bytes) -> bytes:
        """The packet of an ``event`` at ``ts``, with the names it is the first to use."""
        size = len(event)
        tail = (self.packet_tail + (_SMALL[size] if size < SMALL_LENGTHS else pw.varint(size))
                + event)
        interner = self.interner
        if interner.added or interner.fresh:
            if interner.added:
                tail += pw.bytes_field(pw.PACKET_INTERNED_DATA, interner.take())
            if interner.fresh:
                tail += _SEQUENCE_FLAGS
                interner.fresh = False
        stamp = pw.varint(ts)
        return _packet_head(1 + len(stamp) + len(tail)) + stamp + tail


_PLAIN_TYPES = frozenset({str, int, float, bool})
_ANNOTATION_TAG = pw.tag(pw.EVENT_DEBUG_ANNOTATIONS, pw.LENGTH)
_INT_TAG = pw.tag(pw.ANNOTATION_INT, pw.VARINT)
_DOUBLE_TAG = pw.tag(pw.ANNOTATION_DOUBLE, pw.FIXED64)
_DOUBLE = struct.Struct("<d").pack
_FLOW_ID_TAG = pw.tag(pw.EVENT_FLOW_IDS, pw.FIXED64)
_TERMINATING_FLOW_ID_TAG = pw.tag(pw.EVENT_TERMINATING_FLOW_IDS, pw.FIXED64)
# A flow id's field, tag and value, by one call to struct.
_FLOW_ID_FIELD = partial(struct.Struct(f"<{len(_FLOW_ID_TAG)}sQ").pack, _FLOW_ID_TAG)
_TERMINATING_FLOW_ID_FIELD = partial(
    struct.Struct(f"<{len(_TERMINATING_FLOW_ID_TAG)}sQ").pack, _TERMINATING_FLOW_ID_TAG)
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
    model = model.expanded()
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
