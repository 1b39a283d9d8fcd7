"""Causal chains: each completion followed across threads, and RPCs made of them.

A chain follows one grpc waiter future (every completion-queue tag grpc.aio uses
resolves exactly one):

    future created (main) -> core call carrying the tag (batch start or request-call, main)
    -> tag completed (cq_end_op_for_next, a core thread or main inline)
    -> RETURN_EVENT (poller) -> wake on the poller's fd (main) -> drain (main)
    -> future resolved (main) -> the awaiting task resumes (main)

How the pieces are matched (the core log and the hooks share no id):

- a batch's waiter is made inside ``execute_batch`` just before ``grpc_call_start_batch``
  on the same thread, so the n-th batch future of a thread matches that thread's n-th
  batch start (checked: the op counts agree);
- a request-call waiter is the future made just before ``grpc_server_request_*call``;
- the start's tag is then followed to the next completion and RETURN_EVENT of that tag
  (tags are addresses, reused after free: always the next one in time);
- the future's own id leads to its resolution, whose drain id leads to the drain, and
  the drain to the wake-up just before it; a waiter nobody resolved (cancelled, or the
  program stopped) is followed to the drain running at or after its RETURN_EVENT.

Time is attributed here and nowhere else: ``Chain.steps()`` (each step's share of its
chain, in time order by construction), ``Rpc.timeline()``/``Rpc.stages()`` (an RPC's
latency divided among its overlapping chains so that every instant counts once; see
docs/summary.md). Analysis passes are plain functions ``(timeline) -> result``.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TypeVar

from toygrpc.model.events import (
    CoreApiCall,
    CoreBatchStarted,
    CoreRequestCall,
    CoreReturnEvent,
    CoreTagCompleted,
    DrainSpan,
    Event,
    FutureCancelled,
    FutureCreated,
    FutureResolved,
    GlueSpan,
    LoopWake,
    RpcFinished,
    RpcStarted,
    TaskFinished,
    TaskResumed,
)
from toygrpc.model.timeline import Timeline
from toygrpc.model.types import ChainKind, Side

TAG_ARGUMENT = re.compile(r"\btag=(0x[0-9a-f]+)")
E = TypeVar("E", bound=Event)
FOREVER = 1 << 62  # the end of a piece that never ended
# A future made by a Cython coroutine has no Python frame of its own: its caller is the
# task step that ran the coroutine.
CYTHON_COROUTINE_CALLER = "events.py:_run"

# Steps of a chain, in causal order, with the stage that ends at each step.
STEPS = ("created", "core_call", "completed", "returned", "woken", "drained", "resolved",
         "resumed")
# The Chain field that holds each step's event.
STEP_FIELDS = {"created": "future", "core_call": "core_call", "completed": "completed",
               "returned": "returned", "woken": "woken", "drained": "drain",
               "resolved": "resolved", "resumed": "resumed", "cancelled": "cancelled"}
STAGES = {
    "created": ("python_before_core",
                "Python before the core: a batch's hand-off to the core (execute_batch), and "
                "an RPC's time while none of its batches is under way and one is to come"),
    "core_call": ("python_before_core", ""),
    "completed": ("core_and_network",
                  "in the core and on the network: from the batch start to a core thread "
                  "completing its tag"),
    "returned": ("core_to_poller",
                 "core to poller: from the completion to grpc_completion_queue_next returning "
                 "it on the poller thread"),
    "woken": ("poller_to_wake",
              "poller to main-thread wake: from RETURN_EVENT to the loop's selector returning "
              "the poller's fd, or, when the loop was already awake (a shared wake), to the "
              "loop getting to the completion"),
    "drained": ("wake_to_drain", "wake to drain: from the wake-up to the queue drain starting"),
    "resolved": ("drain_to_resolution",
                 "drain to resolution: from the drain's start to set_result on the future"),
    "resumed": ("resolution_to_resume",
                "resolution to resumed task: from set_result to the awaiting task running"),
}
STAGE_ORDER = ("python_before_core", "core_and_network", "core_to_poller", "poller_to_wake",
               "wake_to_drain", "drain_to_resolution", "resolution_to_resume", "python_after_core",
               "awaiting_call")
# What hooks alone measure (no core trace needed): coarser spans of a single-chain client
# RPC, the same in every capture mode, so a lighter mode gives the figure to set beside
# a heavier mode's stage times.
HOOK_SPANS = {
    "before_waiter": "RPC start to its waiter future being created (Python before the core)",
    "waiter": "waiter created to set_result: the core, the network, the peer and the "
              "handoff back through the poller",
    "resolution_to_resume": "set_result to the awaiting task running",
    "after_resume": "task resumed to the RPC's outcome reaching the caller",
    "latency": "the whole RPC",
}
STAGE_DEFINITIONS = {name: text for name, text in STAGES.values() if text} | {
    "python_after_core": "Python after the core: from the RPC's last chain to its outcome "
                         "reaching the caller (client) or its handler returning (server)",
    "awaiting_call": "server only: from a request-call being posted to a client's call "
                     "completing it (idle time, not work)",
}


@dataclass
class Chain:
    """One completion followed across threads; ``missing`` names the first absent link.

    A chain ends where it really ends (``outcome``): resolved (``ok``), resolved with an
    exception (``failed``: the batch's completion said not ok), its waiter cancelled before
    the completion resolved it (``cancelled``), still waiting when the program stopped
    (``in_flight``), or ``incomplete``: a step that should have been observed was not.
    """

    pid: int
    future: FutureCreated
    kind: ChainKind
    ops: tuple[str, ...] = ()
    core_call: Event | None = None  # CoreBatchStarted, CoreRequestCall or a tagged CoreApiCall
    completed: CoreTagCompleted | None = None
    returned: CoreReturnEvent | None = None
    woken: LoopWake | None = None
    drain: DrainSpan | None = None
    resolved: FutureResolved | None = None
    resumed: TaskResumed | None = None
    cancelled: FutureCancelled | None = None  # the waiter was cancelled before its resolution
    call: int = 0  # call object identity, from the glue span of the batch
    shared_wake: bool = False  # drained after a wake that an earlier event caused
    stopped: bool = False  # its RPC was still in flight when the program stopped

    # What ``steps()`` last returned, and the fields it was computed from: every view
    # reads a chain's steps several times, and at 100,000 RPCs computing them again was a
    # third of the analysis.
    _steps_memo: tuple[tuple[object, ...], list[Step]] | None = field(
        default=None, init=False, repr=False, compare=False)

    def step(self, name: str) -> Event | None:
        event: Event | None = getattr(self, STEP_FIELDS[name])
        return event

    @property
    def outcome(self) -> str:
        """How the chain ended: ok, failed, cancelled, in_flight or incomplete."""
        if self.resolved is not None:
            if self.missing:
                return "incomplete"
            return "ok" if self.resolved.ok else "failed"
        if self.stopped:
            return "in_flight"
        if self.cancelled is not None:
            return "cancelled"
        return "incomplete"

    @property
    def end_reason(self) -> str:
        """Why the chain ends where it does, in words ("" for a resolved, resumed chain)."""
        outcome = self.outcome
        if outcome == "failed" and self.resolved is not None:
            return f"failed: the completion was not ok ({self.resolved.error or 'exception'})"
        if outcome == "cancelled":
            return "cancelled: the waiter was cancelled before its completion resolved it"
        if outcome == "in_flight":
            return "in flight: still waiting for its " + (self.next_step or "end") + \
                " when the program stopped"
        if outcome == "incomplete":
            return f"incomplete: no {self.missing}"
        return ""

    @property
    def missing(self) -> str:
        """The first step that should have been observed and was not ("" if none is due:
        a cancelled waiter is resolved by nobody, a stopped program completes nothing)."""
        if self.resolved is None and (self.cancelled is not None or self.stopped):
            return ""
        return self.next_step

    @property
    def next_step(self) -> str:
        """The first absent step in causal order ("" when every step is there)."""
        for name, event in zip(STEPS, _STEP_EVENTS(self), strict=True):
            if event is None:
                return name
        return ""

    @property
    def complete(self) -> bool:
        """Every step up to the resumed task was observed (the chain may have failed)."""
        return self.resolved is not None and not self.missing

    def _observed(self) -> list[tuple[str, Event]]:
        """The present steps in causal order; a cancelled waiter's chain stops at its
        cancellation (what came after it resolved nothing; a wake before it that precedes
        a later step's drain served something else), and the task resumed from it."""
        cancel = self.cancelled if self.resolved is None else None
        steps: list[tuple[str, Event]] = []
        for name in STEPS:
            event = self.step(name)
            if event is None:
                continue
            if cancel is not None and (name == "resumed" or event.ts > cancel.ts):
                break
            steps.append((name, event))
        if cancel is not None:
            steps.append(("cancelled", cancel))
            if self.resumed is not None and self.resumed.ts >= cancel.ts:
                steps.append(("resumed", self.resumed))
        return steps

    def steps(self) -> list[Step]:
        """The causal steps, in time order by construction, each with the stage that ends at
        it and that stage's share: the one attribution of time that every view reads.

        A step's time ``at`` is its event's time, or the previous step's if the event came
        earlier (the core's log stamps whole microseconds, so a core step may read up to
        1 µs before the hook step it follows). A wake or drain that began before this
        chain's RETURN_EVENT served an earlier handoff (the loop was awake, or the drain loop
        popping until the queue is empty): it is ``shared``, placed when it actually reached
        this chain (the next step's time), and its share is the time the chain actually
        waited for it; the steps after it then take no more time for it."""
        key = self.steps_key()
        memo = self._steps_memo
        if memo is not None and all(map(operator.is_, memo[0], key)):
            return list(memo[1])
        result = self._compute_steps()
        self._steps_memo = (key, result)
        return list(result)

    def steps_key(self) -> tuple[object, ...]:
        """What ``steps()`` is computed from (compared by identity)."""
        return _STEPS_INPUTS(self)

    def _compute_steps(self) -> list[Step]:
        observed = self._observed()
        returned = self.returned.ts if self.returned is not None else None
        shared = [name in ("woken", "drained") and returned is not None and event.ts < returned
                  for name, event in observed]
        times: list[int] = []
        for _, event in observed:
            times.append(max(event.ts, times[-1]) if times else event.ts)
        # a shared step is placed where the chain was served: the next unshared step's time
        following = times[-1] if times else 0
        for index in range(len(observed) - 1, -1, -1):
            if shared[index]:
                times[index] = max(times[index], following)
            else:
                following = times[index]
        result: list[Step] = []
        previous_name = ""
        for (name, event), is_shared, at in zip(observed, shared, times, strict=True):
            if not result:
                result.append(Step(name, event, "", None, at=at))
            else:
                result.append(Step(name, event, self.stage_of(name, previous_name),
                                   at - result[-1].at, self._note(name, is_shared), is_shared,
                                   at))
            previous_name = name
        return result

    def _note(self, name: str, shared: bool) -> str:
        if name == "completed" and self.kind == "request_call":
            if self.completed is not None and not self.completed.ok:
                return "failed: the server stopped before a client's call came"
            return "a client's call arrived"
        if name == "completed" and self.kind == "notify":
            return "the core sent the notification"
        if shared and name == "woken":
            return "shared: the loop was already awake for an earlier completion; " \
                "the wait is until it got to this one"
        if shared and name == "drained":
            return "shared: a drain already running picked this completion up"
        if name == "cancelled":
            return "the waiter was cancelled: nothing resolves it"
        return ""

    def links(self) -> list[tuple[Event, Event]]:
        """Consecutive causal steps: one arrow each, never back in time across a handoff
        (a shared step served an earlier handoff: no arrow leads to it)."""
        return list(itertools.pairwise(s.event for s in self.steps() if not s.shared))

    def stage_of(self, name: str, after: str = "") -> str:
        """The stage that ends at step ``name`` (``after``: the causal step before it)."""
        if name == "completed" and self.kind != "batch":
            return "awaiting_call"  # a request-call waits for a client, not for work
        if name == "cancelled":
            following = STEPS.index(after) + 1 if after in STEPS else len(STEPS) - 1
            return STAGES[STEPS[min(following, len(STEPS) - 2)]][0]  # what it was waiting for
        return STAGES[name][0]

    def pending_stage(self) -> str:
        """The stage of a chain still waiting when the program stopped: its next step's."""
        following = self.next_step
        if not following:
            return ""
        return self.stage_of(following)

    @property
    def ok(self) -> bool:
        return self.resolved.ok if self.resolved is not None else False

    def stages(self) -> dict[str, int]:
        """Durations (ns) of the stages between this chain's steps, from the core call on."""
        return stages_of(self.steps())

    def pieces(self) -> list[tuple[int, int, str]]:
        """The chain's time as ``(begin, end, stage)`` pieces, one per step after the first;
        a chain in flight when the program stopped waits on in its pending stage."""
        result: list[tuple[int, int, str]] = []
        previous: int | None = None
        for step in self.steps():
            if previous is not None and step.delta:
                result.append((previous, step.at, step.stage))
            previous = step.at
        if (self.outcome == "in_flight" and self.cancelled is None and previous is not None
                and self.pending_stage()):
            result.append((previous, FOREVER, self.pending_stage()))
        return result


def stages_of(steps: list[Step]) -> dict[str, int]:
    """``Chain.stages()`` of a chain whose ``steps()`` are ``steps``."""
    result: dict[str, int] = {}
    counting = False
    for step in steps:
        if step.name == "core_call":
            counting = True
            continue
        if counting and step.delta is not None:
            result[step.stage] = result.get(step.stage, 0) + step.delta
    return result


# A chain's step events in STEPS order, and every field its steps are computed from.
_STEP_EVENTS = operator.attrgetter(*(STEP_FIELDS[name] for name in STEPS))
_STEPS_INPUTS = operator.attrgetter(*(STEP_FIELDS[name] for name in STEPS), "cancelled", "kind")


@dataclass(frozen=True)
class Step:
    """One causal step of a chain: the stage that ends at it and how long that stage took.

    ``delta`` is the time since the previous step (``None`` for a chain's first step;
    ``stage`` is ``""`` then). ``at`` is when the chain reached the step: its event's time,
    never before the previous step's. ``shared``: the event (a wake or a drain) served an
    earlier handoff, and this chain waited nothing for it.
    """

    name: str  # one of STEPS, or "cancelled"
    event: Event
    stage: str
    delta: int | None
    note: str = ""
    shared: bool = False
    at: int = 0


# Which stage an instant of an RPC belongs to when several of its chains are under way at
# once: the most advanced one (nearest to the caller) wins. See ``Rpc.stages``.
PRECEDENCE = ("awaiting_call", "core_and_network", "python_before_core", "core_to_poller",
              "poller_to_wake", "wake_to_drain", "drain_to_resolution", "resolution_to_resume")

_RANK = {name: rank for rank, name in enumerate(PRECEDENCE)}


@dataclass
class Rpc:
    """One RPC on one side, with its chains in order."""

    pid: int
    side: Side
    method: str
    call: int
    start: int
    end: int
    status: str  # the gRPC status code's name (OK, CANCELLED...), or "unfinished"
    chains: list[Chain] = field(default_factory=list)
    link: str = ""
    peer: Rpc | None = None  # the other side's RPC in trace both
    details: str = ""  # the status's details string, where there is one
    # What ``timeline()`` last returned and what it was computed from: the summary, the
    # stage table and the checks all read every RPC's stages.
    _timeline_memo: tuple[tuple[int, int, str], list[tuple[object, ...]],
                          list[tuple[int, int, str]]] | None = field(
        default=None, init=False, repr=False, compare=False)

    @property
    def latency(self) -> int:
        return self.end - self.start

    @property
    def complete(self) -> bool:
        """Every chain ended where it should have, each step observed."""
        return bool(self.chains) and not any(c.missing for c in self.chains)

    @property
    def missing(self) -> str:
        if not self.chains:
            return "no chains"
        for index, chain in enumerate(self.chains):
            if chain.missing:
                return f"chain {index + 1}: {chain.missing}"
        return ""

    @property
    def end_reason(self) -> str:
        """Why the RPC's chains end where they do ("" when every chain resolved and resumed)."""
        if not self.chains:
            return "no chains: none of its completions was followed"
        reasons = [f"chain {i}: {c.end_reason}" for i, c in enumerate(self.chains, 1)
                   if c.end_reason]
        return "; ".join(reasons)

    def steps(self) -> list[tuple[int, Step]]:
        """Every causal step of the RPC's chains, numbered by chain (1-based), in order.

        Each step carries its own chain's stage (``Chain.steps()``): per-message chains
        keep their own stages, which may overlap; ``stages()`` says how the RPC's latency
        divides. A client chain made while none of the RPC's chains was under way counts
        its ``created`` step from the RPC's start or the last step before it: Python's time
        (``python_before_core``), as ``stages()`` counts it too.
        """
        result: list[tuple[int, Step]] = []
        cursor = self.start
        for number, chain in enumerate(self.chains, 1):
            steps = chain.steps()
            for step in steps:
                if step.name == "created" and self.side == "client" and step.at >= cursor:
                    step = Step(step.name, step.event, "python_before_core", step.at - cursor,
                                step.note, step.shared, step.at)
                result.append((number, step))
            if steps:
                cursor = max(cursor, steps[-1].at)
        return result

    def timeline(self) -> list[tuple[int, int, str]]:
        """The RPC's latency cut into ``(begin, end, stage)`` pieces that tile
        ``[start, end]`` exactly: at every instant the stage of the most advanced chain
        under way (``PRECEDENCE``); while none is, Python's: ``python_before_core`` when a
        chain is still to come, ``python_after_core`` after the last one."""
        bounds = (self.start, self.end, self.status)
        inputs = [(chain, chain.stopped, *chain.steps_key()) for chain in self.chains]
        memo = self._timeline_memo
        if memo is not None and memo[0] == bounds and len(memo[1]) == len(inputs) and all(
                all(map(operator.is_, before, now))
                for before, now in zip(memo[1], inputs, strict=True)):
            return list(memo[2])
        result = self._compute_timeline()
        self._timeline_memo = (bounds, inputs, result)
        return list(result)

    def _compute_timeline(self) -> list[tuple[int, int, str]]:
        changes: dict[int, list[tuple[int, int]]] = defaultdict(list)  # (rank, +1 or -1)
        # Python's time is before the core while a chain is still to come: one begun at
        # the very end (a program stopped just after making a waiter) counts, and so does
        # the first chain of an unfinished RPC that had made none yet.
        last_begin = self.end if self.status == "unfinished" and not self.chains else self.start
        for chain in self.chains:
            for begin, end, stage in chain.pieces():
                begin, end = max(begin, self.start), min(end, self.end)
                if begin > end:
                    continue
                last_begin = max(last_begin, begin)
                if begin < end:
                    rank = _RANK[stage]
                    changes[begin].append((rank, 1))
                    changes[end].append((rank, -1))
        points = sorted({self.start, self.end, *changes})
        active = [0] * len(PRECEDENCE)  # chains under way per stage, by rank
        running = 0  # bit ``rank`` set while a chain is under way in that stage
        result: list[tuple[int, int, str]] = []
        for here, following in itertools.pairwise(points):
            for rank, change in changes.get(here, ()):
                active[rank] += change
                if active[rank] > 0:
                    running |= 1 << rank
                else:
                    running &= ~(1 << rank)
            if running:
                stage = PRECEDENCE[running.bit_length() - 1]  # the most advanced
            else:
                stage = "python_before_core" if here < last_begin else "python_after_core"
            if result and result[-1][2] == stage and result[-1][1] == here:
                result[-1] = (result[-1][0], following, stage)
            else:
                result.append((here, following, stage))
        return result

    def after_core(self) -> int:
        """The RPC's time after its last chain (``python_after_core``)."""
        return self.stages()["python_after_core"]

    def hook_spans(self) -> dict[str, int] | None:
        """``HOOK_SPANS`` (ns) of a client RPC with one chain whose waiter resolved and
        whose task resumed; None for any other RPC. Needs no core trace."""
        if self.side != "client" or len(self.chains) != 1:
            return None
        chain = self.chains[0]
        if chain.resolved is None or chain.resumed is None:
            return None
        return {"before_waiter": chain.future.ts - self.start,
                "waiter": chain.resolved.ts - chain.future.ts,
                "resolution_to_resume": chain.resumed.ts - chain.resolved.ts,
                "after_resume": self.end - chain.resumed.ts,
                "latency": self.latency}

    def stages(self) -> dict[str, int]:
        """Stage durations (ns) that add up to ``latency`` exactly, none negative, on either
        side: the sum of ``timeline()``'s pieces per stage (see docs/summary.md)."""
        totals = dict.fromkeys(STAGE_ORDER[:-1], 0)
        for begin, end, stage in self.timeline():
            totals[stage] = totals.get(stage, 0) + end - begin
        return totals


@dataclass
class Analysis:
    chains: list[Chain]
    rpcs: list[Rpc]

    def all_links(self) -> list[tuple[Event, Event, str]]:
        """Every arrow of the run: chain links, then client <-> server links (trace both)."""
        links = [(a, b, "handoff") for chain in self.chains for a, b in chain.links()]
        for rpc in self.rpcs:
            links.extend(cross_process_links(rpc))
        return links

    @property
    def links(self) -> int:
        return len(self.all_links())


def cross_process_links(client: Rpc) -> list[tuple[Event, Event, str]]:
    """The client's batch start -> the server's request completion, and the server's reply
    batch start -> the client's batch completion (for a client RPC with a traced peer)."""
    server = client.peer
    if client.side != "client" or server is None or not client.chains or not server.chains:
        return []
    links: list[tuple[Event, Event, str]] = []
    sent, request = client.chains[0].core_call, server.chains[0]
    if sent is not None and request.kind == "request_call" and request.completed is not None:
        links.append((sent, request.completed, "client -> server"))
    # The reply is the server's batch that sends the status; its start causes the
    # completion of the client's batch that receives the status (in a stream that batch
    # is made early, not last). Its own completion on the server may come later.
    reply = next((c.core_call for c in server.chains
                  if "SEND_STATUS_FROM_SERVER" in getattr(c.core_call, "ops", ())), None)
    received = next((c.completed for c in client.chains
                     if "RECV_STATUS_ON_CLIENT" in getattr(c.core_call, "ops", ())), None)
    if reply is not None and received is not None:
        links.append((reply, received, "server -> client"))
    return links


class EventsByKind:
    """A timeline's events grouped by kind in one pass, each group in time order: the
    passes below read the few kinds they need instead of testing every event of a run
    (millions of Python slices) against each kind they know."""

    def __init__(self, events: list[Event]) -> None:
        self._events = events
        groups: dict[type[Event], list[Event]] = defaultdict(list)
        for event in events:
            groups[type(event)].append(event)
        self._groups = groups
        # the processes in the order of their first event (chains are built in this order)
        self.pids = list(dict.fromkeys(map(operator.attrgetter("pid"), events)))
        self._by_pid: dict[type[Event], dict[int, list[Event]]] = {}
        self._last_event: dict[int, int] | None = None

    def of(self, kind: type[E]) -> list[E]:
        """The events that are a ``kind``, in time order (as ``isinstance`` picks them)."""
        types = [t for t in self._groups if issubclass(t, kind)]
        if len(types) == 1:
            return self._groups[types[0]]  # type: ignore[return-value]  # grouped by type
        if not types:
            return []
        return [e for e in self._events if isinstance(e, kind)]  # subclasses: keep the order

    def of_process(self, kind: type[E], pid: int) -> list[E]:
        """The events of process ``pid`` that are a ``kind``, in time order."""
        split = self._by_pid.get(kind)
        if split is None:
            split = self._by_pid[kind] = defaultdict(list)
            for event in self.of(kind):
                split[event.pid].append(event)
        return split.get(pid, [])  # type: ignore[return-value]  # filled with kind only

    def last_event(self, pid: int, default: int) -> int:
        """The time of process ``pid``'s last event (worked out the first time it is asked)."""
        if self._last_event is None:
            last: dict[int, int] = {}
            for event in self._events:
                if last.get(event.pid, event.ts) <= event.ts:
                    last[event.pid] = event.ts
            self._last_event = last
        return self._last_event.get(pid, default)


def build_chains(timeline: Timeline, kinds: EventsByKind | None = None) -> list[Chain]:
    """Every grpc waiter future of the timeline, followed as far as the events go."""
    kinds = kinds if kinds is not None else EventsByKind(timeline.events)
    chains: list[Chain] = []
    for pid in kinds.pids:
        chains.extend(_chains_of_process(pid, kinds))
    chains.sort(key=lambda c: c.future.ts)
    return chains


def _chains_of_process(pid: int, kinds: EventsByKind) -> list[Chain]:
    resolutions: dict[int, list[FutureResolved]] = defaultdict(list)
    resumptions: dict[int, list[TaskResumed]] = defaultdict(list)
    cancellations: dict[int, list[FutureCancelled]] = defaultdict(list)
    drains: dict[int, DrainSpan] = {}
    batch_spans: dict[int, GlueSpan] = {}
    completions: dict[str, list[CoreTagCompleted]] = defaultdict(list)
    returns: dict[str, list[CoreReturnEvent]] = defaultdict(list)
    starts: dict[int, list[Event]] = defaultdict(list)
    created = kinds.of_process(FutureCreated, pid)
    for setting in kinds.of_process(FutureResolved, pid):
        resolutions[setting.future_id].append(setting)
    for resumption in kinds.of_process(TaskResumed, pid):
        resumptions[resumption.future_id].append(resumption)
    for cancellation in kinds.of_process(FutureCancelled, pid):
        cancellations[cancellation.future_id].append(cancellation)
    for drain in kinds.of_process(DrainSpan, pid):
        drains[drain.drain_id] = drain
    wakes = kinds.of_process(LoopWake, pid)
    for glue in kinds.of_process(GlueSpan, pid):
        if glue.batch_id:
            batch_spans[glue.batch_id] = glue
    for completion in kinds.of_process(CoreTagCompleted, pid):
        completions[completion.tag].append(completion)
    for returned in kinds.of_process(CoreReturnEvent, pid):
        if returned.tag:
            returns[returned.tag].append(returned)
    # a thread's starts of each kind stay in time order (they are queued by kind below)
    for start_kind in (CoreBatchStarted, CoreRequestCall, CoreApiCall):
        for start in kinds.of_process(start_kind, pid):
            if start_kind is not CoreApiCall or "tag=" in start.args:  # type: ignore[attr-defined]
                starts[start.tid].append(start)
    wake_times = [w.ts for w in wakes]
    drain_list = sorted(drains.values(), key=lambda d: d.ts)
    drain_ends = list(itertools.accumulate((d.ts + d.dur for d in drain_list), max))

    # A batch waiter is made inside execute_batch; a request-call waiter is made by a
    # Cython coroutine (no Python frame of its own: the caller seen is the task step,
    # asyncio's Handle._run) and is resolved inside a drain (functor_run runs only there),
    # unless the server stopped before a call came.
    # Any other future resolved in a drain waits on some other tagged core call (the
    # server's shutdown notification): kind "notify".
    # A request-call waiter can also end unresolved: when the server stops, the core fails
    # its tag, but the task awaiting it may be cancelled before a drain resolves it (or
    # the process ended while it waited). Its chain still shows the core's side.
    # Future ids are addresses, reused once a future is freed: a future's resolution is
    # the first one after its creation and before the next creation of the same id.
    own_resolution: dict[int, FutureResolved | None] = {}
    next_creation: dict[int, int] = {}
    next_of: dict[int, int] = {}  # id(creation) -> when its future id is next reused
    for f in reversed(created):
        limit = next_creation.get(f.future_id, FOREVER)
        next_of[id(f)] = limit
        found = first_at_or_after(resolutions.get(f.future_id, []), f.ts)
        own_resolution[id(f)] = found if found is not None and found.ts < limit else None
        next_creation[f.future_id] = f.ts
    waiters = []
    for f in created:
        resolution = own_resolution[id(f)]
        if f.in_batch or (resolution is not None and resolution.in_drain) or (
                resolution is None and f.caller.endswith(CYTHON_COROUTINE_CALLER)):
            waiters.append(f)
    chains: list[Chain] = []
    by_tid: dict[int, list[FutureCreated]] = defaultdict(list)
    for f in waiters:
        by_tid[f.tid].append(f)
    for tid, futures in by_tid.items():
        # starts of each kind on this thread, consumed in order (futures come in time order)
        queues: dict[type[Event], list[Event]] = defaultdict(list)
        for start in starts.get(tid, []):
            if tag_of(start):
                queues[type(start)].append(start)
        cursor: dict[type[Event], int] = defaultdict(int)
        for future in futures:
            kind: ChainKind = "batch" if future.in_batch else (
                "request_call" if future.caller.endswith(CYTHON_COROUTINE_CALLER) else "notify")
            wanted: type[Event] = {"batch": CoreBatchStarted, "request_call": CoreRequestCall,
                                   "notify": CoreApiCall}[kind]
            span = batch_spans.get(future.in_batch)
            chain = Chain(pid, future, kind, span.ops if span else (),
                          call=span.call if span else 0)
            queue, at = queues[wanted], cursor[wanted]
            while at < len(queue) and queue[at].ts < future.ts - 1000:
                at += 1  # a start no waiter claimed (none of ours): skip it
            if at < len(queue):
                chain.core_call = queue[at]
                at += 1
            cursor[wanted] = at
            _follow(chain, completions, returns)
            resolved = own_resolution[id(future)]
            if resolved is not None:
                chain.resolved = resolved
                chain.drain = drains.get(resolved.in_drain)
                chain.resumed = first_at_or_after(resumptions.get(future.future_id, []),
                                                  resolved.ts)
            else:
                cancel = first_at_or_after(cancellations.get(future.future_id, []), future.ts)
                if cancel is not None and cancel.ts < next_of.get(id(future), FOREVER):
                    chain.cancelled = cancel
                    chain.resumed = first_at_or_after(
                        resumptions.get(future.future_id, []), cancel.ts)
                if chain.returned is not None:
                    # nothing resolved: the drain that popped the completion is the first
                    # one still running at or after its RETURN_EVENT
                    at = bisect.bisect_left(drain_ends, chain.returned.ts)
                    if at < len(drain_list):
                        chain.drain = drain_list[at]
            if chain.drain is not None:
                at = bisect.bisect_right(wake_times, chain.drain.ts) - 1
                if at >= 0:
                    chain.woken = wakes[at]
                    if chain.returned is not None and chain.woken.ts < chain.returned.ts:
                        chain.shared_wake = True
            chains.append(chain)
    return chains


def _follow(chain: Chain, completions: dict[str, list[CoreTagCompleted]],
            returns: dict[str, list[CoreReturnEvent]]) -> None:
    start = chain.core_call
    if start is None:
        return
    tag = tag_of(start)
    done = first_at_or_after(completions.get(tag, []), start.ts)
    chain.completed = done
    if done is not None:
        chain.returned = first_at_or_after(returns.get(tag, []), done.ts)


_TS = operator.attrgetter("ts")  # a C key: a bisect over a recurring tag calls it ~15 times


def first_at_or_after(items: list[E], ts: int) -> E | None:
    """The first of time-ordered ``items`` at or after ``ts`` (tags and ids recur: never scan)."""
    at = bisect.bisect_left(items, ts, key=_TS)
    return items[at] if at < len(items) else None


def last_at_or_before(items: list[E], ts: int) -> E | None:
    at = bisect.bisect_right(items, ts, key=_TS) - 1
    return items[at] if at >= 0 else None


def tag_of(event: Event) -> str:
    """The completion-queue tag a core call will complete, or "" if it carries none."""
    if isinstance(event, CoreBatchStarted | CoreRequestCall):
        return event.tag
    if isinstance(event, CoreApiCall):
        match = TAG_ARGUMENT.search(event.args)
        return match.group(1) if match else ""
    return ""


def build_rpcs(timeline: Timeline, chains: list[Chain],
               kinds: EventsByKind | None = None) -> list[Rpc]:
    """Group chains into RPCs: client RPCs by their call object, server RPCs by RPCState.

    An RPC that never finished (the program stopped first) ends at its process's last
    event; its chains that were still waiting are ``in_flight``."""
    kinds = kinds if kinds is not None else EventsByKind(timeline.events)
    rpcs: list[Rpc] = []
    finished: dict[tuple[int, int], list[RpcFinished]] = defaultdict(list)
    server_finished: dict[tuple[int, int], list[RpcFinished]] = defaultdict(list)
    finished_tasks = kinds.of(TaskFinished)
    handlers: list[GlueSpan] = []
    lookups: dict[tuple[int, int], list[GlueSpan]] = defaultdict(list)
    for done in kinds.of(RpcFinished):
        (finished if done.side == "client" else server_finished)[(done.pid, done.call_id)] \
            .append(done)
    for span in kinds.of(GlueSpan):
        if span.name == "_handle_rpc":
            handlers.append(span)
        elif span.name == "_find_method_handler" and span.detail:
            lookups[(span.pid, span.call)].append(span)
    for e in kinds.of(RpcStarted):
        end = first_at_or_after(finished.get((e.pid, e.call_id), []), e.ts)
        if end is not None:
            rpcs.append(Rpc(e.pid, "client", e.method, e.call_id, e.ts, end.ts, end.status,
                            link=e.link, details=end.status_details))
        else:
            rpcs.append(Rpc(e.pid, "client", e.method, e.call_id, e.ts,
                            kinds.last_event(e.pid, e.ts), "unfinished", link=e.link))
    handlers.sort(key=lambda h: h.ts)
    next_handler: dict[tuple[int, int], int] = {}  # RPCState ids are reused
    limits: list[int] = []
    for h in reversed(handlers):
        limits.append(next_handler.get((h.pid, h.call), FOREVER))
        next_handler[(h.pid, h.call)] = h.ts
    limits.reverse()
    for h, limit in zip(handlers, limits, strict=True):
        lookup = first_at_or_after(lookups.get((h.pid, h.call), []), h.ts)
        link = lookup.detail if lookup is not None and lookup.ts <= h.ts + h.dur else ""
        # the status is sent by the handler's task, or after it (an exception's status)
        told = first_at_or_after(server_finished.get((h.pid, h.call), []), h.ts)
        if told is not None and told.ts < limit:
            status, details = told.status, told.status_details
        else:
            status, details = SERVER_ERROR_STATUS.get(h.error, "UNKNOWN") if h.error else "OK", ""
        rpcs.append(Rpc(h.pid, "server", h.detail, h.call, h.ts, h.ts + h.dur, status,
                        link=link, details=details))
    _assign_chains(rpcs, chains, finished_tasks)
    for rpc in rpcs:
        if rpc.side == "client" and rpc.chains and rpc.status != "unfinished":
            last = rpc.chains[-1].resumed
            if last is not None and rpc.end < last.ts:
                rpc.end = last.ts
        if rpc.status == "unfinished":
            for chain in rpc.chains:
                if chain.resolved is None:
                    chain.stopped = True
    by_link = {r.link: r for r in rpcs if r.side == "server" and r.link}
    for rpc in rpcs:
        if rpc.side == "client" and rpc.link in by_link:
            rpc.peer = by_link[rpc.link]
            by_link[rpc.link].peer = rpc
    rpcs.sort(key=lambda r: r.start)
    return rpcs


# A server handler's exception, when the hooks could not read the status it ended with.
SERVER_ERROR_STATUS = {"CancelledError": "CANCELLED", "AbortError": "UNKNOWN"}


def _assign_chains(rpcs: list[Rpc], chains: list[Chain],
                   finished_tasks: list[TaskFinished]) -> None:
    """Server RPCs first take their request-call chain; then batches go by call and time."""
    request_chains: dict[tuple[int, int], list[FutureCreated]] = defaultdict(list)  # ids recur
    chain_of: dict[int, Chain] = {}
    for chain in chains:
        if chain.kind == "request_call":
            request_chains[(chain.pid, chain.future.task_id)].append(chain.future)
            chain_of[id(chain.future)] = chain
    tasks: dict[tuple[int, int], list[TaskFinished]] = defaultdict(list)
    for t in finished_tasks:
        tasks[(t.pid, t.result_id)].append(t)
    for rpc in rpcs:
        if rpc.side != "server":
            continue
        # RPCState ids are reused: the request task that produced this one is the latest before.
        task = last_at_or_before(tasks.get((rpc.pid, rpc.call), []), rpc.start)
        request = None
        if task is not None:
            made = last_at_or_before(request_chains.get((rpc.pid, task.task_id), []), task.ts)
            request = chain_of[id(made)] if made is not None else None
        if request is not None:
            rpc.chains.append(request)
            if request.completed is not None:
                rpc.start = request.completed.ts  # the core has the call from here on
    by_call: dict[tuple[int, int], list[Rpc]] = defaultdict(list)
    for rpc in rpcs:
        by_call[(rpc.pid, rpc.call)].append(rpc)
    for candidates in by_call.values():
        candidates.sort(key=lambda r: r.start)
    for chain in chains:
        if chain.kind != "batch":
            continue
        candidates = by_call.get((chain.pid, chain.call), [])
        at = bisect.bisect_right(candidates, chain.future.ts, key=lambda r: r.start) - 1
        if at >= 0 and chain.future.ts <= candidates[at].end:
            candidates[at].chains.append(chain)
    for rpc in rpcs:
        rpc.chains.sort(key=lambda c: c.future.ts)


def analyze(timeline: Timeline) -> Analysis:
    kinds = EventsByKind(timeline.events)
    chains = build_chains(timeline, kinds)
    return Analysis(chains, build_rpcs(timeline, chains, kinds))
