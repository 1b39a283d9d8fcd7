"""Where an RPC's time goes: its stages grouped into Python, core and network, handoff.

``Rpc.stages()`` tiles a client RPC's latency exactly; the groups below add its stages
up, so they tile it too. With hooks alone (no core trace) the core's steps are not seen:
``hook_budget`` then splits the latency with ``Rpc.hook_spans()`` instead, coarser but
measured with the lightest observer. What the observers themselves cost is not in any
stage: ``observer_shares`` takes it from the latency each capture mode measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median

from toygrpc.analysis.chains import Analysis, Rpc

# Every stage of a client RPC in exactly one group (awaiting_call is the server's idle).
GROUPS: dict[str, tuple[str, ...]] = {
    "python": ("python_before_core", "python_after_core"),
    "core_and_network": ("core_and_network",),
    "handoff": ("core_to_poller", "poller_to_wake", "wake_to_drain", "drain_to_resolution",
                "resolution_to_resume"),
}
# The same question with hooks alone: the waiter's life holds core, network and most of
# the handoff; what follows set_result is handoff again.
HOOK_GROUPS: dict[str, tuple[str, ...]] = {
    "python": ("before_waiter", "after_resume"),
    "core_network_and_poller": ("waiter",),
    "resume": ("resolution_to_resume",),
}
# The observers, each added on top of the one before (the bench's modes, in order).
OBSERVERS = (("hooks", "untraced", "hooks"), ("core trace", "hooks", "hooks+core"),
             ("Python layer (viztracer)", "hooks+core", "full"))


@dataclass(frozen=True)
class GroupShare:
    """One group over a run's complete client RPCs: median per RPC, share of the total."""

    name: str
    rpcs: int
    p50_ns: int
    share: float  # of the summed latency of those RPCs


def rpc_budget(rpc: Rpc) -> dict[str, int]:
    """The RPC's latency in ``GROUPS`` (ns); they add up to ``rpc.latency``."""
    stages = rpc.stages()
    return {name: sum(stages[s] for s in members) for name, members in GROUPS.items()}


def rpc_hook_budget(rpc: Rpc) -> dict[str, int] | None:
    """The RPC's latency in ``HOOK_GROUPS`` (ns), from what hooks alone see; None when
    the RPC has no hook spans (see ``Rpc.hook_spans``)."""
    spans = rpc.hook_spans()
    if spans is None:
        return None
    return {name: sum(spans[s] for s in members) for name, members in HOOK_GROUPS.items()}


def _shares(budgets: Sequence[Mapping[str, int]], names: Sequence[str]) -> list[GroupShare]:
    total = sum(sum(b.values()) for b in budgets) or 1
    return [GroupShare(name, len(budgets), int(median(b[name] for b in budgets)) if budgets
                       else 0, sum(b[name] for b in budgets) / total) for name in names]


def budget(analysis: Analysis) -> list[GroupShare]:
    """``GROUPS`` over the run's complete client RPCs (needs the core trace)."""
    rpcs = [r for r in analysis.rpcs if r.side == "client" and r.complete]
    return _shares([rpc_budget(r) for r in rpcs], list(GROUPS))


def hook_budget(analysis: Analysis) -> list[GroupShare]:
    """``HOOK_GROUPS`` over the client RPCs that have hook spans (any capture mode)."""
    budgets = [b for r in analysis.rpcs if (b := rpc_hook_budget(r)) is not None]
    return _shares(budgets, list(HOOK_GROUPS))


def observer_shares(latency_by_mode: Mapping[str, float]) -> list[tuple[str, float]]:
    """What each observer adds to the latency, from one measure per capture mode (the
    bench's ``untraced``, ``hooks``, ``hooks+core``, ``full``): each observer against the
    mode without it. With ``untraced`` they add up to the heaviest mode's latency."""
    return [(observer, latency_by_mode[with_it] - latency_by_mode[without])
            for observer, without, with_it in OBSERVERS
            if without in latency_by_mode and with_it in latency_by_mode]
