"""Where each tag was completed: which thread logged its ``cq_end_op_for_next``, and,
when it was the main thread, inside which core call (inline).

The core completes a tag on whatever thread finishes the operation: an EventEngine
thread when the network brings what the batch waits for, or the calling thread itself,
inside ``grpc_call_start_batch`` or ``grpc_server_request_registered_call``, when the
operation can finish at once (the message is already there, the write went out, a call
is already queued for the request). The api tracer logs each call at its entry, so a
completion on the main thread lies inside the last core call that thread logged before
it, when no Python event of the hooks lies between the two. An inline completion still
travels the queue: the poller returns it and the loop wakes for it like any other.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

from toygrpc.analysis.chains import Analysis, Chain
from toygrpc.model.events import (
    CoreApiCall,
    CoreBatchStarted,
    CoreRequestCall,
    Event,
    ThreadStarted,
)
from toygrpc.model.timeline import Timeline

Thread = Literal["main", "core", "poller"]
CORE_CALLS = (CoreApiCall, CoreBatchStarted, CoreRequestCall)
# The core stamps whole microseconds: a hook event within this much after a core call's
# stamp may have happened before the call.
STAMP_SLACK_NS = 2_000


@dataclass(frozen=True)
class CompletionSite:
    """Where ``chain``'s tag was completed.

    ``thread``: ``main`` (the process's main thread), ``poller`` or ``core`` (any other:
    the EventEngine's threads). ``inside``: for a main-thread completion, the core call it
    happened in (``None`` if a Python event came between); ``inside_chain`` the chain that
    core call belongs to (the chain itself: completed inline by its own call).
    """

    chain: Chain
    thread: Thread
    inside: Event | None = None
    inside_chain: Chain | None = None

    @property
    def inline(self) -> bool:
        """Completed on the main thread inside a core call."""
        return self.thread == "main" and self.inside is not None

    @property
    def inline_in_own_call(self) -> bool:
        return self.inline and self.inside_chain is self.chain


def label(chain: Chain) -> str:
    """``request_call``, ``notify``, or the batch's ops joined by ``+`` (as the core names
    them: ``SEND_INITIAL_METADATA+SEND_MESSAGE+SEND_STATUS_FROM_SERVER``)."""
    if chain.kind != "batch":
        return chain.kind
    if isinstance(chain.core_call, CoreBatchStarted):
        return "+".join(chain.core_call.ops)
    return "+".join(chain.ops)


def completion_sites(timeline: Timeline, analysis: Analysis) -> list[CompletionSite]:
    """The site of every chain whose completion was observed, in the chains' order."""
    pollers = {(e.pid, e.native_id) for e in timeline.of(ThreadStarted)
               if e.name.endswith("(_poll_wrapper)")}
    by_call = {id(c.core_call): c for c in analysis.chains if c.core_call is not None}
    main_events: dict[int, list[Event]] = {}
    for event in timeline.events:
        if event.tid == event.pid:
            main_events.setdefault(event.pid, []).append(event)
    position = {id(e): i for events in main_events.values() for i, e in enumerate(events)}
    sites = []
    for chain in analysis.chains:
        done = chain.completed
        if done is None:
            continue
        if (done.pid, done.tid) in pollers:
            sites.append(CompletionSite(chain, "poller"))
            continue
        if done.tid != done.pid:
            sites.append(CompletionSite(chain, "core"))
            continue
        inside = _enclosing_call(main_events[done.pid], position[id(done)])
        sites.append(CompletionSite(chain, "main", inside,
                                    by_call.get(id(inside)) if inside is not None else None))
    return sites


def _enclosing_call(events: list[Event], index: int) -> Event | None:
    """The last core call before ``events[index]`` on its thread, if no hook event (the
    Python side) came between them."""
    latest_python: Event | None = None
    for event in reversed(events[:index]):
        if isinstance(event, CORE_CALLS):
            if latest_python is not None and latest_python.ts > event.ts + STAMP_SLACK_NS:
                return None
            return event
        if event.category != "core" and latest_python is None:
            latest_python = event
    return None


def tally(sites: list[CompletionSite]) -> Counter[tuple[str, str]]:
    """How many completions of each kind (``label``) happened where: ``core thread``,
    ``poller``, ``inline in its own call``, ``inline in <label of the other call>``,
    ``main, outside a core call``."""
    counts: Counter[tuple[str, str]] = Counter()
    for site in sites:
        if site.thread != "main":
            where = "core thread" if site.thread == "core" else "poller"
        elif site.inside is None:
            where = "main, outside a core call"
        elif site.inline_in_own_call:
            where = "inline in its own call"
        elif site.inside_chain is not None:
            where = "inline in " + label(site.inside_chain)
        else:
            where = "inline in " + getattr(site.inside, "name", type(site.inside).__name__)
        counts[(label(site.chain), where)] += 1
    return counts
