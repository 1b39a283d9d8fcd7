"""``toygrpc show``: re-render a saved run in the terminal, no re-capture."""

from __future__ import annotations

import argparse
from pathlib import Path

from toygrpc.cmdline import Subcommands, at_least, positive_int

MIN_WIDTH = 60  # narrower cannot hold the lanes


def register(commands: Subcommands) -> None:
    show = commands.add_parser(
        "show", help="re-render a saved run: one RPC's swimlane, the stage table, the files",
        description="Print one RPC of a saved run as a swimlane across its threads, the "
        "per-stage latency table and where the run's files are, from the run directory alone "
        "(nothing is captured again). Also (re)writes swimlane.svg/.png and stages.svg/.png "
        "in the run directory.",
    )
    show.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                      help="a run directory made by `toygrpc trace`")
    show.add_argument("--rpc", type=positive_int, metavar="N",
                      help="show the N-th RPC of the run (1-based, as in summary.json); "
                      "default: the median-latency complete client RPC")
    show.add_argument("--json", action="store_true",
                      help="print the chosen RPC's steps and the stage statistics as JSON")
    show.add_argument("--width", type=at_least(MIN_WIDTH), metavar="W",
                      help=f"render W columns wide, at least {MIN_WIDTH} (default: the "
                      "terminal's width)")
    show.add_argument("--no-plots", action="store_true",
                      help="do not (re)write the SVG/PNG pictures into the run directory")
    show.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from toygrpc.pipeline import show

    return show(args.run_dir, rpc_index=args.rpc, as_json=args.json, width=args.width,
                plots=not args.no_plots)
