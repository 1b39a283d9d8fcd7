"""What must hold on every run the harness analyses, whatever the call shapes: a checker
that tests (and users) can run on the analysis of a live capture or a saved run.

Each check returns the violations it found, as lines that say where; none = it holds.
"""

from __future__ import annotations

import itertools

from toygrpc.analysis.chains import STAGE_ORDER, Analysis, Chain, Rpc
from toygrpc.analysis.stages import stage_samples

# The core's log stamps whole microseconds: a core event may read up to this much before
# the hook event that caused it, never more.
CORE_STAMP_NS = 1000


def chain_violations(chain: Chain, where: str) -> list[str]:
    """Steps in time order, no negative share, arrows never back in time."""
    problems = []
    steps = chain.steps()
    for before, after in itertools.pairwise(steps):
        if after.at < before.at:
            problems.append(f"{where}: {after.name} at {after.at} before {before.name}")
        if after.delta is None or after.delta < 0:
            problems.append(f"{where}: {after.name} has share {after.delta}")
        if after.at != before.at + (after.delta or 0):
            problems.append(f"{where}: {after.name}'s share does not span its step")
        if after.shared and after.name not in ("woken", "drained"):
            problems.append(f"{where}: {after.name} marked shared")
    for a, b in chain.links():
        if b.ts < a.ts - CORE_STAMP_NS:
            problems.append(f"{where}: an arrow goes back in time ({a.title()} -> {b.title()})")
    if not chain.complete and not chain.end_reason:
        problems.append(f"{where}: neither complete nor a named reason")
    return problems


def rpc_violations(rpc: Rpc, where: str) -> list[str]:
    """Stages that tile the latency exactly; every stage there, or a named reason."""
    problems = []
    stages = rpc.stages()
    if set(stages) != set(STAGE_ORDER) - {"awaiting_call"}:
        problems.append(f"{where}: stages {sorted(stages)}")
    if sum(stages.values()) != rpc.latency:
        problems.append(f"{where}: stages add up to {sum(stages.values())}, "
                        f"latency {rpc.latency}")
    negative = {k: v for k, v in stages.items() if v < 0}
    if negative:
        problems.append(f"{where}: negative stages {negative}")
    pieces = rpc.timeline()
    if pieces and (pieces[0][0] != rpc.start or pieces[-1][1] != rpc.end
                   or any(a[1] != b[0] for a, b in itertools.pairwise(pieces))):
        problems.append(f"{where}: its timeline does not tile [start, end]")
    if not rpc.complete and not rpc.end_reason:
        problems.append(f"{where}: incomplete ({rpc.missing}) without a named reason")
    if not rpc.status:
        problems.append(f"{where}: no status")
    for number, chain in enumerate(rpc.chains, 1):
        problems.extend(chain_violations(chain, f"{where} chain {number}"))
    return problems


def violations(analysis: Analysis) -> list[str]:
    """Every invariant over the whole run; [] when all hold."""
    problems = []
    for index, rpc in enumerate(analysis.rpcs, 1):
        problems.extend(rpc_violations(rpc, f"RPC {index} ({rpc.side} {rpc.method})"))
    in_rpcs = {id(c) for r in analysis.rpcs for c in r.chains}
    for number, chain in enumerate(analysis.chains, 1):
        if id(chain) not in in_rpcs:
            problems.extend(chain_violations(chain, f"chain {number} (outside RPCs)"))
    for a, b, label in analysis.all_links():
        if b.ts < a.ts - CORE_STAMP_NS:
            problems.append(f"a {label} arrow goes back in time ({a.title()} -> {b.title()})")
    for stage, values in stage_samples(analysis).items():
        if values and min(values) < 0:
            problems.append(f"stage {stage}: a negative sample {min(values)}")
    return problems
