"""What buffering the core's trace saves: ``python scripts/core_log_buffer.py [CALLS]
[ROUNDS] [CONCURRENCY]`` (default 1000 calls, 5 rounds, concurrency 8).

The benchmark's ring (``toygrpc.bench.ring``: every variant's workload at once, their timed
calls taking turns) with hooks + core trace and full capture each run twice, C's stderr
buffered (``bootstrap --buffer-core-log``, as ``trace client`` runs the Hello client) and
not, beside the untraced workload, hooks alone and viztracer alone. Prints each variant's
median p50 over the rounds, against untraced and against viztracer alone.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from toygrpc.bench.overhead import mode_command
from toygrpc.bench.ring import OUT, Launch, run_round, scratch_and_server

VARIANTS = {  # name -> (mode, core trace buffered)
    "untraced": ("untraced", True),
    "hooks": ("hooks", True),
    "hooks + core, unbuffered": ("hooks+core", False),
    "hooks + core, buffered": ("hooks+core", True),
    "full, unbuffered": ("full", False),
    "full, buffered": ("full", True),
    "viztracer alone": ("viztracer alone", True),
}


def main(calls: int = 1000, rounds: int = 5, concurrency: int = 8) -> None:
    launches = {name: Launch(*mode_command(mode, Path(OUT), [], buffered))
                for name, (mode, buffered) in VARIANTS.items()}
    names = list(launches)
    p50: dict[str, list[float]] = {name: [] for name in names}
    with scratch_and_server() as (scratch, server):
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            outcomes = run_round({name: launches[name] for name in order}, server.address,
                                 calls, concurrency, scratch)
            for name, outcome in outcomes.items():
                p50[name].append(outcome.p50_us)
            print(f"round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    medians = {name: statistics.median(values) for name, values in p50.items()}
    untraced, viztracer = medians["untraced"], medians["viztracer alone"]
    print(f"{calls} calls x {rounds} rounds, concurrency {concurrency} (medians of p50)")
    for name in names:
        print(f"{name:26s} {medians[name]:8.1f} us  x{medians[name] / untraced:.3f} untraced"
              f"  x{medians[name] / viztracer:.3f} viztracer alone")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:4]))
