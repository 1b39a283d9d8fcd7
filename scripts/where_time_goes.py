"""Print the numbers of docs/learn/07-where-the-time-goes.md, from fresh runs:
``python scripts/where_time_goes.py [--rpcs N] [--calls N] [--rounds N]``.

For concurrency 1 and 8: the stage groups of a *hooks + core trace* capture, the hook
groups of a *hooks* capture, and the latency the bench's workload measures in every
capture mode (untraced included), from which each observer's share follows.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import toygrpc
from toygrpc.analysis.budget import GroupShare, budget, hook_budget, observer_shares
from toygrpc.bench.overhead import measure


def rows(shares: list[GroupShare], mode: str) -> str:
    lines = [f"| group ({mode}) | RPCs | p50 µs per RPC | share of latency |", "|---|---|---|---|"]
    lines += [f"| {s.name} | {s.rpcs} | {s.p50_ns / 1000:.0f} | {s.share:.0%} |" for s in shares]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpcs", type=int, default=200, help="RPCs per capture")
    parser.add_argument("--calls", type=int, default=500, help="bench calls per mode and round")
    parser.add_argument("--rounds", type=int, default=3, help="bench rounds")
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        for concurrency in (1, 8):
            core = toygrpc.trace_client(rpcs=args.rpcs, concurrency=concurrency,
                                        python_layer=False, out=out / f"core{concurrency}")
            hooks = toygrpc.trace_client(rpcs=args.rpcs, concurrency=concurrency,
                                         python_layer=False, core_trace=False,
                                         out=out / f"hooks{concurrency}")
            print(f"### concurrency {concurrency}, {args.rpcs} unary RPCs\n")
            print(rows(budget(core.run.analysis), core.capture_mode) + "\n")
            print(rows(hook_budget(hooks.run.analysis), hooks.capture_mode) + "\n")
            results = measure(args.calls, concurrency, args.rounds)
            p50 = {r.mode: r.p50_us for r in results}
            print(f"bench workload, {args.calls} calls x {args.rounds} rounds, p50 µs: "
                  + ", ".join(f"{mode} {value:.0f}" for mode, value in p50.items()) + "\n")
            print("| observer | adds to p50 µs |\n|---|---|")
            for observer, added in observer_shares(p50):
                print(f"| {observer} | {added:+.0f} |")
            print()


if __name__ == "__main__":
    main()
