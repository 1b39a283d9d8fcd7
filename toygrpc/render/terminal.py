"""Terminal views of a run with rich: one RPC as a swimlane, and the stage table.

They answer "what happened in one call, on which thread" without opening Perfetto.
Views are plain objects with ``__rich_console__`` (print them with any Console, at
any width) and ``_repr_mimebundle_`` (a notebook shows them as text and HTML);
they build on ``build_swimlane``, the same model the plots and ``show --json`` use.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from toygrpc.analysis.chains import STAGES, STEPS, Analysis, Chain, Rpc, cross_process_links
from toygrpc.analysis.stages import StageStats
from toygrpc.errors import UsageError
from toygrpc.model import (
    CoreApiCall,
    CoreBatchStarted,
    CoreRequestCall,
    CoreReturnEvent,
    CoreTagCompleted,
    DrainSpan,
    Event,
    FutureCreated,
    FutureResolved,
    LoopWake,
    TaskResumed,
)
from toygrpc.model.timeline import Timeline

LANE_KINDS = ("main", "core", "poller", "other")
PROCESS_STYLES = {"client": "cyan", "server": "magenta"}
ARROW_STYLE = "bold yellow"


# --- choosing an RPC ------------------------------------------------------------------


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


# --- the swimlane model ---------------------------------------------------------------


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
    delta: int | None  # ns since the previous step of the chain (the stage's share)
    sources: list[int] = field(default_factory=list)  # lanes control came from (arrows)
    note: str = ""

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


def step_stage(chain: Chain, name: str) -> str:
    """The stage that ends at step ``name`` of ``chain`` (as ``Chain.stages`` counts it)."""
    if name == "completed" and chain.kind != "batch":
        return "awaiting_call"
    if name == "drained" and chain.shared_wake:
        return "poller_to_wake"
    return STAGES[name][0]


def describe(event: Event) -> str:
    """A short name for what an event is, as the core or asyncio calls it."""
    if isinstance(event, CoreBatchStarted):
        return "grpc_call_start_batch"
    if isinstance(event, CoreRequestCall):
        return "grpc_server_request_call"
    if isinstance(event, CoreTagCompleted):
        return "cq_end_op_for_next" + ("" if event.ok else " (not ok)")
    if isinstance(event, CoreReturnEvent):
        return f"RETURN_EVENT {event.event_type}"
    if isinstance(event, CoreApiCall):
        return event.name
    if isinstance(event, FutureCreated):
        return "loop.create_future"
    if isinstance(event, FutureResolved):
        return "set_result" if event.ok else "set_exception"
    if isinstance(event, LoopWake):
        return "selector woke on the poller fd"
    if isinstance(event, DrainSpan):
        return "_handle_events (queue drain)"
    if isinstance(event, TaskResumed):
        return "task resumed"
    return event.kind


def short_ops(ops: Iterable[str]) -> str:
    return " ".join(op.removesuffix("Operation") for op in ops)


def build_swimlane(analysis: Analysis, timeline: Timeline, rpc: Rpc) -> SwimlaneModel:
    """The rows of one RPC's swimlane: its chains' steps (and its peer's), in time order."""
    rpcs = [rpc] + ([rpc.peer] if rpc.peer is not None else [])
    numbered = sorted(((r, c) for r in rpcs for c in r.chains), key=lambda rc: rc[1].future.ts)
    chains = [(n, r, c) for n, (r, c) in enumerate(numbered, 1)]
    pids = sorted({r.pid for r in rpcs}, key=lambda p: (timeline.processes.get(p) != "client", p))

    def role(event: Event) -> str:
        return timeline.thread_role(event.pid, event.tid)

    used = {(e.pid, lane_kind(role(e))) for _, _, c in chains for n in STEPS
            if (e := c.step(n)) is not None}
    lanes = [Lane(pid, timeline.processes.get(pid, str(pid)), kind) for pid in pids
             for kind in LANE_KINDS if kind != "other" or (pid, kind) in used]
    lane_index = {(lane.pid, lane.kind): i for i, lane in enumerate(lanes)}

    def lane_for(pid: int, thread: str) -> int:
        return lane_index[(pid, lane_kind(thread))]

    rows: list[SwimStep] = []
    by_event: dict[int, int] = {}  # id(event) -> first row showing it
    chain_rows: dict[int, list[int]] = {}
    for r in rpcs:
        main = lane_index[(r.pid, "main")]
        label = "RPC start" if r.side == "client" else "call arrived"
        rows.append(SwimStep(None, r.pid, r.start, r.start - rpc.start, main, "main", r.pid, 0,
                             label, f"{r.side} {r.method}", "", None))
    previous_resumed: dict[int, int] = {}  # id(rpc) -> ts where its previous chain ended
    for number, owner, chain in chains:
        indexes: list[int] = []
        last: Event | None = None
        for name in STEPS:
            event = chain.step(name)
            if event is None:
                continue
            thread = role(event)
            if name == "created":
                since = previous_resumed.get(id(owner), owner.start)
                delta = event.ts - since if event.ts >= since else None
                stage = "python_before_core" if delta is not None else ""
            else:
                delta = event.ts - last.ts if last is not None else None
                stage = step_stage(chain, name)
            note = ""
            if name == "woken" and chain.shared_wake:
                note = "woken earlier, by another completion (shared wake)"
            if name == "completed" and chain.kind != "batch":
                note = "a client's call arrived"
            row = SwimStep(event, event.pid, event.ts, event.ts - rpc.start,
                           lane_for(event.pid, thread), thread, event.tid, number, name,
                           describe(event), stage, delta, note=note)
            by_event.setdefault(id(event), len(rows))
            indexes.append(len(rows))
            rows.append(row)
            last = event
        chain_rows[number] = indexes
        if chain.resumed is not None:
            previous_resumed[id(owner)] = chain.resumed.ts
    for r in rpcs:
        main = lane_index[(r.pid, "main")]
        label = "RPC end" if r.side == "client" else "handler done"
        resumed = previous_resumed.get(id(r))
        after = r.end - resumed if r.side == "client" and resumed is not None else None
        rows.append(SwimStep(None, r.pid, r.end, r.end - rpc.start, main, "main", r.pid, 0,
                             label, r.status, "python_after_core" if after is not None else "",
                             after))
    links: list[tuple[int, int, str]] = []
    for number in chain_rows:  # consecutive present steps: Chain.links(), one arrow each
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


# --- rich views -----------------------------------------------------------------------


def mimebundle(renderable: RenderableType, width: int = 120) -> dict[str, str]:
    """text/plain and text/html of a rich renderable, for Jupyter's rich display."""
    console = Console(file=io.StringIO(), width=width, record=True, force_jupyter=False,
                      color_system="truecolor")
    console.print(renderable)
    return {"text/plain": console.export_text(styles=False),
            "text/html": console.export_html(inline_styles=True)}


def us(ns: float) -> str:
    return f"{ns / 1000:.1f}"


class RpcSwimlane:
    """One RPC as a swimlane: a column per thread role, a row per step, arrows on hand-offs."""

    def __init__(self, analysis: Analysis, timeline: Timeline, rpc: Rpc) -> None:
        self.model = build_swimlane(analysis, timeline, rpc)

    def _lane_text(self, step: SwimStep, width: int) -> Text:
        lanes = self.model.lanes
        centre = [i * width + width // 2 for i in range(len(lanes))]
        chars = [" "] * (len(lanes) * width)
        styles = ["dim"] * len(chars)
        for c in centre:
            chars[c] = "│"
        target = step.lane
        left = [s for s in step.sources if s <= target]
        right = [s for s in step.sources if s > target]
        if left:
            start = centre[min(left)]
            for x in range(start, centre[target]):
                chars[x], styles[x] = "─", ARROW_STYLE
            for s in left:
                chars[centre[s]] = "┴" if s != min(left) else "╰"
            if min(left) == target:  # another thread of the same lane
                chars[centre[target]] = "┆"
            chars[centre[target] - 1] = "▶"
        if right:
            end = centre[max(right)]
            for x in range(centre[target] + 1, end + 1):
                chars[x], styles[x] = "─", ARROW_STYLE
            for s in right:
                chars[centre[s]] = "┴" if s != max(right) else "╯"
            chars[centre[target] + 1] = "◀"
        process = lanes[target].process
        chars[centre[target]] = "●" if step.chain else "◆"
        styles[centre[target]] = f"bold {PROCESS_STYLES.get(process, 'green')}"
        text = Text()
        for ch, style in zip(chars, styles, strict=True):
            text.append(ch, style)
        return text

    def _lane_header(self, width: int) -> Text:
        lanes = self.model.lanes
        groups: list[tuple[str, int]] = []
        for lane in lanes:
            if groups and groups[-1][0] == lane.process:
                groups[-1] = (lane.process, groups[-1][1] + 1)
            else:
                groups.append((lane.process, 1))
        text = Text(no_wrap=True)
        for process, count in groups:
            text.append(process.center(count * width, "╌" if count > 1 else " ")[:count * width],
                        PROCESS_STYLES.get(process, "green"))
        text.append("\n")
        for lane in lanes:
            name = lane.kind if len(lane.kind) < width else lane.kind[:width - 1]
            text.append(name.center(width), "bold")
        return text

    def title(self) -> str:
        rpc = self.model.rpc
        peer = ""
        if rpc.peer is not None:
            peer = f"; its {rpc.peer.side} side shown too"
        return (f"RPC {self.model.number}: {rpc.side} {rpc.method} {rpc.status}, "
                f"{us(rpc.latency)} µs{peer}")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        model = self.model
        n = len(model.lanes)
        offsets = [f"{step.offset / 1000:+.1f}" for step in model.steps]
        deltas = [us(step.delta) if step.delta is not None else "" for step in model.steps]
        widths = {"µs": max(map(len, offsets), default=2),
                  "step": max((len(s.label) for s in model.steps), default=4),
                  "thread": max((len(s.thread) for s in model.steps), default=6),
                  "Δ µs": max(4, *map(len, deltas))}
        if options.max_width < 100:  # narrow: the lane already says which thread
            del widths["thread"]
        # Columns are 3 apart (a divider and two pads); the stage column takes what is left.
        fixed = sum(widths.values()) + 3 * (len(widths) + 1)
        width = max(5, min(9, (options.max_width - fixed - 20) // max(n, 1)))
        stage_width = options.max_width - fixed - n * width
        table = Table(title=self.title(), box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
                      padding=(0, 1), title_justify="left", expand=False)
        table.add_column("µs", justify="right", no_wrap=True, min_width=widths["µs"])
        table.add_column(self._lane_header(width), no_wrap=True, min_width=n * width)
        table.add_column("step", no_wrap=True, min_width=widths["step"])
        if "thread" in widths:
            table.add_column("thread", no_wrap=True, min_width=widths["thread"])
        if stage_width >= 8:
            table.add_column("stage", no_wrap=True, overflow="ellipsis", max_width=stage_width)
        table.add_column("Δ µs", justify="right", no_wrap=True, min_width=widths["Δ µs"])
        for step, offset, delta in zip(model.steps, offsets, deltas, strict=True):
            process = model.lanes[step.lane].process
            label = Text(step.label, PROCESS_STYLES.get(process, "green"))
            cells: list[RenderableType] = [offset, self._lane_text(step, width), label]
            if "thread" in widths:
                cells.append(step.thread)
            if stage_width >= 8:
                cells.append(step.stage)
            cells.append(delta)
            table.add_row(*cells)
        yield table
        legend = Text()
        for number, owner, chain in model.chains:
            what = chain.kind if chain.kind != "batch" else f"batch {short_ops(chain.ops)}"
            status = "" if chain.complete else f" (incomplete: no {chain.missing})"
            legend.append(f"#{number} ", "bold")
            legend.append(f"{owner.side}: {what}{status}\n")
        for r in (model.rpc, model.rpc.peer):
            if r is not None and not r.chains:
                legend.append(f"the {r.side} RPC has no chain to show: its completions were "
                              "not followed (see the hook diagnostics)\n", "yellow")
        notes = [f"#{s.chain} {s.step}: {s.note}" for s in model.steps if s.note and s.chain]
        for note in dict.fromkeys(notes):
            legend.append(f"{note}\n", "dim")
        legend.append("● step  ◆ RPC start/end  ─▶ control passes to another thread  "
                      "core: the core's own threads (EventEngine...)  "
                      "Δ: time since the chain's previous step (the stage's share)", "dim")
        yield legend

    def _repr_mimebundle_(self, include: Sequence[str] | None = None,
                          exclude: Sequence[str] | None = None,
                          **kwargs: Any) -> dict[str, str]:
        return mimebundle(self)


class StageTable:
    """p50/p90/p99/max of every stage over the run, in µs, with what each stage measures."""

    def __init__(self, stats: Sequence[StageStats]) -> None:
        self.stats = list(stats)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        inline = options.max_width >= 100  # else the definitions follow the table
        table = Table(title="Stages over the run (µs)", box=box.SIMPLE_HEAD, pad_edge=False,
                      show_edge=False, title_justify="left")
        table.add_column("stage", no_wrap=True)
        table.add_column("n", justify="right")
        for name in ("p50", "p90", "p99", "max"):
            table.add_column(name, justify="right", no_wrap=True)
        if inline:
            table.add_column("what it measures", ratio=1, min_width=20)
        for s in self.stats:
            values = [us(s.p50), us(s.p90), us(s.p99), us(s.max)] if s.count else ["-"] * 4
            row: list[RenderableType] = [Text(s.name, "" if s.count else "dim"), str(s.count),
                                         *values]
            if inline:
                row.append(Text(s.definition, "dim"))
            table.add_row(*row)
        yield table
        if not inline:
            definitions = Text()
            for s in self.stats:
                definitions.append(f"{s.name}", "bold")
                definitions.append(f": {s.definition}\n", "dim")
            yield definitions

    def _repr_mimebundle_(self, include: Sequence[str] | None = None,
                          exclude: Sequence[str] | None = None,
                          **kwargs: Any) -> dict[str, str]:
        return mimebundle(self)

