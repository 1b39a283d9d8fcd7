"""``toygrpc bench``: print the cost of tracing and of analysis, as a table (and JSON).

The command's arguments are declared in ``toygrpc.cli.bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

TARGETS = {"hooks": 1.05, "hooks+core": 1.3, "full": 1.6}
FULL_VS_VIZTRACER = 1.35


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib import metadata

    return (f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, "
            f"grpcio {metadata.version('grpcio')}")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from toygrpc.bench import analysis_cost, overhead

    console = Console(stderr=True)
    if getattr(args, "scale", None):
        return run_scale(args, console)
    calls, rounds, sizes = (200, 2, [1000]) if args.quick else (1000, 5, [1000, 10_000, 100_000])
    calls, rounds, sizes = args.calls or calls, args.rounds or rounds, args.sizes or sizes
    results: dict[str, Any] = {"machine": machine(), "calls": calls, "rounds": rounds}
    print(f"machine: {results['machine']}")
    with console.status("benchmarking") as status:
        for concurrency in (1, 8):
            rows = overhead.measure(calls, concurrency, rounds, progress=status.update)
            results[f"overhead_c{concurrency}"] = [asdict(r) for r in rows]
            print_overhead(rows, concurrency, calls, rounds)
        with tempfile.TemporaryDirectory() as scratch:
            costs = analysis_cost.measure(sizes, Path(scratch), status.update)
    results["analysis"] = [asdict(c) | {"ratio": c.ratio} for c in costs]
    print_costs(costs)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def print_overhead(rows: list[Any], concurrency: int, calls: int, rounds: int) -> None:
    base = next(r for r in rows if r.mode == "untraced")
    viz = next(r for r in rows if r.mode == "viztracer alone")
    print(f"\nunary Hello, concurrency {concurrency}, {calls} calls x {rounds} rounds (medians)")
    print(f"{'mode':<16}{'p50 us':>9}{'p99 us':>9}{'rpc/s':>9}{'x p50':>7}{'B/rpc':>9}"
          f"{'RSS MB':>8}  target")
    for r in rows:
        ratio = r.p50_us / base.p50_us
        target = ""
        if r.mode in TARGETS:
            target = f"<= {TARGETS[r.mode]}x: {'PASS' if ratio <= TARGETS[r.mode] else 'MISS'}"
        if r.mode == "full":
            vs = r.p50_us / viz.p50_us
            target += (f"; {vs:.2f}x viztracer <= {FULL_VS_VIZTRACER}x: "
                       f"{'PASS' if vs <= FULL_VS_VIZTRACER else 'MISS'}")
        print(f"{r.mode:<16}{r.p50_us:>9.0f}{r.p99_us:>9.0f}{r.rpcs_per_s:>9.0f}{ratio:>7.2f}"
              f"{r.bytes_per_rpc:>9.0f}{r.peak_rss_mb:>8.0f}  {target}")


def print_costs(costs: list[Any]) -> None:
    print("\nanalysis of hooks + core captures (target: analysis within 3x of parsing)")
    print(f"{'RPCs':>8}{'events':>10}{'parse s':>9}{'analysis s':>11}{'ratio':>7}"
          f"{'parse MB':>9}{'analysis MB':>12}{'B/event':>9}")
    for c in costs:
        print(f"{c.rpcs:>8}{c.events:>10}{c.parse_s:>9.2f}{c.analysis_s:>11.2f}{c.ratio:>7.2f}"
              f"{c.parse_peak_mb:>9.1f}{c.analysis_peak_mb:>12.1f}"
              f"{c.analysis_peak_mb * 2**20 / c.events:>9.0f}")


def run_scale(args: argparse.Namespace, console: Any) -> int:
    """``--scale``: the end-to-end table alone (one round per size and mode unless
    ``--rounds`` says more)."""
    from toygrpc.bench import scale

    results: dict[str, Any] = {"machine": machine()}
    print(f"machine: {results['machine']}")
    with console.status("benchmarking") as status, \
            tempfile.TemporaryDirectory(prefix="toygrpc-scale-") as scratch:
        rows = scale.measure(args.scale, Path(scratch), args.rounds or 1, status.update,
                             args.concurrency or 1, scale.SCALE_MODES[args.scale_mode or "both"])
    results["scale"] = [asdict(r) | {"target": r.target, "after_s": r.after_s}
                        for r in rows]
    scale.print_scale(rows)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0
