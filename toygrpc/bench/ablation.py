"""Which hooks cost what: the benchmark's workload with one group of hooks at a time.

A profiler distorts exactly what is measured here (a few µs of Python per event), so
the cost is found by subtraction instead: each variant runs the workload through the
harness's bootstrap with only some groups of ``toygrpc.capture.hooks.HOOK_GROUPS``
installed ("startup" in every variant, so that it cancels out), against one untraced
server; variants are interleaved in rounds (rotated order), and the table gives the
median over rounds of each run's p50, and its difference from no per-RPC hooks at all.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from toygrpc.bench.overhead import WORKLOAD
from toygrpc.bench.ring import OUT, Launch, run_round, scratch_and_server
from toygrpc.model.layout import ProcessLayout

# Variant name -> the hook groups it installs (bootstrap's --hook-groups).
VARIANTS: dict[str, tuple[str, ...]] = {
    "none": ("startup",),
    "rpc start/end": ("startup", "rpc"),
    "glue spans": ("startup", "glue"),
    "loop": ("startup", "loop"),
    "all (hooks mode)": ("startup", "loop", "glue", "rpc"),
}


@dataclass
class VariantResult:
    variant: str
    groups: tuple[str, ...]
    p50_us: float  # median over rounds of each run's p50
    delta_us: float  # median over rounds of (this p50 - the "none" variant's, same round)
    ratio: float  # median over rounds of (this p50 / the "none" variant's, same round)
    low_us: float  # the lowest and highest p50 of the rounds
    high_us: float
    cpu_us: float  # median over rounds of the process's CPU time per call
    cpu_delta_us: float  # median over rounds of the CPU difference from "none"
    event_kinds: dict[str, int] = field(default_factory=dict)  # recorded in the last round


def _round(variants: dict[str, tuple[str, ...]], order: list[str], target: str, calls: int,
           concurrency: int, scratch: Path) -> dict[str, tuple[float, float, Counter[str]]]:
    """One round, the variants in a ring (``toygrpc.bench.ring``). Per variant: its p50
    (µs), its CPU µs per call (every thread of the process) and the kinds of event its
    hooks recorded (what it installed)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GRPC_TRACE", "GRPC_VERBOSITY")}
    launches = {name: Launch([sys.executable, "-m", "toygrpc.capture.bootstrap", "--out", OUT,
                              f"--hook-groups={','.join(variants[name])}", str(WORKLOAD)], env)
                for name in order}
    outcomes = run_round(launches, target, calls, concurrency, scratch)
    results = {}
    for name, outcome in outcomes.items():
        with ProcessLayout(outcome.out).hooks.open() as lines:
            kinds = Counter(json.loads(line)["kind"] for line in lines if line.strip())
        calls_made = len(outcome.result["latencies_ns"])
        results[name] = (outcome.p50_us, outcome.result["cpu_ns"] / 1000 / calls_made, kinds)
    return results


def measure(calls: int, concurrency: int, rounds: int,
            progress: Callable[[str], object] | None = None,
            variants: dict[str, tuple[str, ...]] = VARIANTS) -> list[VariantResult]:
    names = list(variants)
    p50s: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    kinds: dict[str, Counter[str]] = {}
    with scratch_and_server() as (scratch, server):
        for r in range(rounds):
            if progress is not None:
                progress(f"ablation round {r + 1}/{rounds}, concurrency {concurrency}")
            order = names[r % len(names):] + names[: r % len(names)]
            for name, (p50, cpu, seen) in _round(variants, order, server.address, calls,
                                                 concurrency, scratch).items():
                p50s[name].append(p50)
                cpus[name].append(cpu)
                kinds[name] = seen
    # Differences are paired by round: the variants of a round ran turn about, under the
    # same load; the load of one round and the next can differ more than the hooks cost.
    med = statistics.median
    base, base_cpu = p50s[names[0]], cpus[names[0]]
    results = []
    for name in names:
        pairs = list(zip(p50s[name], base, strict=True))
        results.append(VariantResult(
            name, variants[name], med(p50s[name]), med(v - b for v, b in pairs),
            med(v / b for v, b in pairs), min(p50s[name]), max(p50s[name]), med(cpus[name]),
            med(v - b for v, b in zip(cpus[name], base_cpu, strict=True)), dict(kinds[name])))
    return results


def print_table(rows: list[VariantResult], concurrency: int, calls: int, rounds: int) -> None:
    print(f"\nhooks installed one group at a time, concurrency {concurrency}, {calls} calls x "
          f"{rounds} rounds: medians of p50 over interleaved rounds, difference from none "
          "(+us, x none: medians of the differences within each round)")
    print(f"{'installed':<20}{'p50 us':>9}{'+us':>8}{'x none':>8}{'range us':>12}"
          f"{'CPU us/call':>13}{'+us':>8}  groups")
    for r in rows:
        print(f"{r.variant:<20}{r.p50_us:>9.0f}{r.delta_us:>+8.0f}{r.ratio:>8.2f}"
              f"{f'{r.low_us:.0f}-{r.high_us:.0f}':>12}{r.cpu_us:>13.0f}{r.cpu_delta_us:>+8.0f}"
              f"  {','.join(r.groups)}")


def run(args: argparse.Namespace) -> int:
    """``toygrpc bench --ablation``: the table at concurrency 1 and 8 (and JSON)."""
    from rich.console import Console

    from toygrpc.bench.suite import machine

    calls = args.calls or (200 if args.quick else 1000)
    rounds = args.rounds or (2 if args.quick else 7)
    results: dict[str, Any] = {"machine": machine(), "calls": calls, "rounds": rounds}
    print(f"machine: {results['machine']}")
    with Console(stderr=True).status("benchmarking hook groups") as status:
        for concurrency in (1, 8):
            rows = measure(calls, concurrency, rounds, progress=status.update)
            results[f"ablation_c{concurrency}"] = [asdict(r) for r in rows]
            print_table(rows, concurrency, calls, rounds)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0
