"""``toygrpc bench``: what each capture mode costs, and how analysis scales."""

from __future__ import annotations

import argparse
from pathlib import Path

from toygrpc.cmdline import Subcommands, positive_int
from toygrpc.errors import UsageError


def _run(args: argparse.Namespace) -> int:
    if args.concurrency is not None and not args.scale:
        raise UsageError("--concurrency sets the RPCs in flight of the --scale runs: add "
                         "--scale RPCS (the other tables measure concurrency 1 and 8 each)")
    if args.scale_mode is not None and not args.scale:
        raise UsageError("--scale-mode picks the captures of the --scale runs: add "
                         "--scale RPCS")
    if args.ablation:
        from toygrpc.bench import ablation

        return ablation.run(args)
    from toygrpc.bench.suite import run

    return run(args)


def register(commands: Subcommands) -> None:
    bench = commands.add_parser(
        "bench", help="measure what each capture mode costs, and how analysis scales",
        description="Run the Hello workload untraced, with hooks, hooks + core trace, full "
        "capture and viztracer alone, interleaved in rounds; then time the analysis of "
        "captures of growing size against just parsing them. Prints medians.")
    bench.add_argument("--quick", action="store_true", help="a run of under a minute")
    bench.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    bench.add_argument("--calls", type=positive_int, help="timed calls per mode and round")
    bench.add_argument("--rounds", type=positive_int, help="rounds (every mode once per round)")
    bench.add_argument("--sizes", type=positive_int, nargs="+", metavar="RPCS",
                       help="capture sizes for the analysis cost")
    bench.add_argument("--ablation", action="store_true",
                       help="instead, run the workload with one group of hooks installed at a "
                       "time (interleaved rounds, concurrency 1 and 8) and print each group's "
                       "p50 against none: what each hook group costs")
    bench.add_argument("--scale", type=positive_int, nargs="+", metavar="RPCS",
                       help="instead, time `toygrpc trace client` end to end (wall time, peak "
                       "RSS) for these numbers of RPCs, with and without the Python layer "
                       "(--rounds of each, default 1), beside the same calls untraced")
    bench.add_argument("--concurrency", type=positive_int, metavar="C",
                       help="with --scale: RPCs in flight at once in each run (default 1)")
    bench.add_argument("--scale-mode", choices=("both", "full", "no-python"),
                       help="with --scale: run the full captures, those without the Python "
                       "layer (--no-python), or both (default); a 100,000-RPC full capture "
                       "takes many minutes and gigabytes")
    bench.set_defaults(handler=_run)
