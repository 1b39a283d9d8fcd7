"""``toygrpc show``: re-render a saved run in the terminal, no re-capture.

``add_command`` plugs it into the ``toygrpc`` parser; ``python -m toygrpc.render.cli``
runs it on its own (with the same one-line errors) until it is wired there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

MIN_WIDTH = 60


def width(text: str) -> int:
    """--width: columns, at least MIN_WIDTH (narrower cannot hold the lanes)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < MIN_WIDTH:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_WIDTH}, got {value}")
    return value


def add_command(commands: Any) -> None:
    """Add ``show`` to the subparsers of the ``toygrpc`` command."""
    from toygrpc.client import positive_int

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
    show.add_argument("--width", type=width, metavar="W",
                      help="render W columns wide (default: the terminal's width)")
    show.add_argument("--no-plots", action="store_true",
                      help="do not (re)write the SVG/PNG pictures into the run directory")
    show.set_defaults(handler=run_show)


def run_show(args: argparse.Namespace) -> int:
    from toygrpc.render.show import show

    return show(args.run_dir, rpc_index=args.rpc, as_json=args.json, width=args.width,
                plots=not args.no_plots)


def main(argv: list[str] | None = None) -> int:
    """``python -m toygrpc.render.cli show ...``: the command outside the main parser."""
    from toygrpc.cli import OneLineParser, run_guarded

    parser = OneLineParser(prog="toygrpc")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                     parser_class=OneLineParser)
    add_command(commands)
    args = parser.parse_args(argv)
    return run_guarded(f"toygrpc {args.command}", lambda: int(args.handler(args)))


if __name__ == "__main__":
    sys.exit(main())
