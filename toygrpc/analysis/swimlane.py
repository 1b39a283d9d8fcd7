"""The swimlane of one RPC: its chains' causal steps, in time order, on the lanes of threads.

Built only from the analysis (``Rpc.steps()``: the causal steps and their stages, and
``cross_process_links``), so every row's stage and every arrow is the analysis's own;
the terminal, the plots and ``show --json`` all draw this one model.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from toygrpc.analysis.chains import Analysis, Chain, Rpc, cross_process_links
from toygrpc.errors import UsageError
from toygrpc.model.events import Event
from toygrpc.model.timeline import Timeline

LANE_KINDS = ("main", "core", "poller", "other")


def pick_rpc(analysis: Analysis, index: int | None = None) -> Rpc:
    """The RPC to show: the ``index``-th (1-based, as in summary.json), else a typical one.

    Typical = the median-latency complete client RPC (server RPCs when the run traced no
    client; all RPCs of that side when none is complete), so the default view is
    neither the cold first call nor an outlier.
    """
    rpcs = analysis.rpcs
    if not rpcs:
        raise UsageError("this run has no RPCs to show (did the traced program make any "
                         "grpc.aio calls?)")
    if index is not None:
        if not 1 <= index <= len(rpcs):
            raise UsageError(f"--rpc {index} is out of range: this run has {len(rpcs)} RPCs "
                             f"(1-{len(rpcs)})")
        return rpcs[index - 1]
    side = [r for r in rpcs if r.side == "client"] or [r for r in rpcs if r.side == "server"]
    candidates = [r for r in side if r.complete] or side or rpcs
    by_latency = sorted(candidates, key=lambda r: (r.latency, r.start))
    return by_latency[(len(by_latency) - 1) // 2]


def rpc_number(analysis: Analysis, rpc: Rpc) -> int:
    """1-based position of ``rpc`` in the run (by identity: Rpc equality walks ``peer``)."""
    return next(i for i, r in enumerate(analysis.rpcs, 1) if r is rpc)


@dataclass(frozen=True)
class Lane:
    """A column of the swimlane: one thread role of one process."""

    pid: int
    process: str
    kind: str  # main, core (the core's own threads: EventEngine...), poller, other

    @property
    def label(self) -> str:
        return f"{self.process} {self.kind}"


@dataclass
class SwimStep:
    """One row: a step of a chain (or an RPC's start/end) on the lane of its thread."""

    event: Event | None
    pid: int
    ts: int
    offset: int  # ns from the shown RPC's start
    lane: int  # index into SwimlaneModel.lanes
    thread: str  # the timeline's role of the thread (event_engine, main, poller...)
    tid: int
    chain: int  # 1-based chain number in this view; 0 for RPC start/end rows
    step: str  # a name of chains.STEPS, or "RPC start"/"RPC end"
    what: str  # what the event is (grpc_call_start_batch, set_result...)
    stage: str  # the stage that ends at this step ("" if none)
    delta: int | None  # the stage's share (ns), as the analysis counts it
    sources: list[int] = field(default_factory=list)  # lanes control came from (arrows)
    note: str = ""
    shared: bool = False  # a wake/drain that served an earlier handoff: ts is when it served

    @property
    def label(self) -> str:
        return f"#{self.chain} {self.step}" if self.chain else self.step


@dataclass
class SwimlaneModel:
    """Everything one swimlane view shows; rendered by the terminal, plots and --json."""

    rpc: Rpc
    number: int
    lanes: list[Lane]
    steps: list[SwimStep]  # in time order
    chains: list[tuple[int, Rpc, Chain]]  # (number, its RPC, chain)
    links: list[tuple[int, int, str]]  # (source step, target step, label) indexes into steps


def lane_kind(role: str) -> str:
    """Which lane a thread role goes to: the core's many threads share one."""
    if role in ("main", "poller"):
        return role
    if role.startswith(("python", "Thread-")):
        return "other"  # a Python thread of the program (its comm name)
    return "core"


def build_swimlane(analysis: Analysis, timeline: Timeline, rpc: Rpc) -> SwimlaneModel:
    """The rows of one RPC's swimlane: its chains' steps (and its peer's), in time order."""
    rpcs = [rpc] + ([rpc.peer] if rpc.peer is not None else [])
    numbered = sorted(((r, c) for r in rpcs for c in r.chains), key=lambda rc: rc[1].future.ts)
    chains = [(n, r, c) for n, (r, c) in enumerate(numbered, 1)]
    number_of = {id(c): n for n, _, c in chains}
    steps_of = {id(r): r.steps() for r in rpcs}
    pids = sorted({r.pid for r in rpcs}, key=lambda p: (timeline.processes.get(p) != "client", p))

    def role(event: Event) -> str:
        return timeline.thread_role(event.pid, event.tid)

    used = {(s.event.pid, lane_kind(role(s.event))) for steps in steps_of.values()
            for _, s in steps}
    lanes = [Lane(pid, timeline.processes.get(pid, str(pid)), kind) for pid in pids
             for kind in LANE_KINDS if kind != "other" or (pid, kind) in used]
    lane_index = {(lane.pid, lane.kind): i for i, lane in enumerate(lanes)}

    rows: list[SwimStep] = []
    by_event: dict[int, int] = {}  # id(event) -> first row showing it
    chain_rows: dict[int, list[int]] = {}
    for r in rpcs:
        main = lane_index[(r.pid, "main")]
        label = "RPC start" if r.side == "client" else "call arrived"
        rows.append(SwimStep(None, r.pid, r.start, r.start - rpc.start, main, "main", r.pid, 0,
                             label, f"{r.side} {r.method}", "", None))
    for r in rpcs:
        for local, step in steps_of[id(r)]:
            number = number_of[id(r.chains[local - 1])]
            event = step.event
            thread = role(event)
            if not step.shared:
                by_event.setdefault(id(event), len(rows))
                chain_rows.setdefault(number, []).append(len(rows))
            rows.append(SwimStep(event, event.pid, step.at, step.at - rpc.start,
                                 lane_index[(event.pid, lane_kind(thread))], thread, event.tid,
                                 number, step.name, event.title(), step.stage, step.delta,
                                 note=step.note, shared=step.shared))
    for r in rpcs:
        main = lane_index[(r.pid, "main")]
        label = "RPC end" if r.side == "client" else "handler done"
        rows.append(SwimStep(None, r.pid, r.end, r.end - rpc.start, main, "main", r.pid, 0,
                             label, r.status, "python_after_core", r.after_core()))
    links: list[tuple[int, int, str]] = []
    for number in sorted(chain_rows):  # consecutive causal steps: Chain.links(), one arrow each
        links.extend((a, b, "handoff") for a, b in itertools.pairwise(chain_rows[number]))
    client = rpc if rpc.side == "client" else rpc.peer
    if client is not None:
        for source, target, label in cross_process_links(client):
            if id(source) in by_event and id(target) in by_event:
                links.append((by_event[id(source)], by_event[id(target)], label))
    for a, b, _ in links:
        if (rows[a].pid, rows[a].tid) != (rows[b].pid, rows[b].tid):
            rows[b].sources.append(rows[a].lane)
    order = sorted(range(len(rows)), key=lambda i: rows[i].ts)  # stable: start rows first
    position = {old: new for new, old in enumerate(order)}
    steps = [rows[i] for i in order]
    links = [(position[a], position[b], label) for a, b, label in links]
    return SwimlaneModel(rpc, rpc_number(analysis, rpc), lanes, steps, chains, links)
