"""The ``toygrpc`` command: one entry point whose subcommands follow the data flow.

gen -> serve / call -> trace (capture) -> show / view (re-render a saved run) -> bench.
Each subcommand lives in a module of this package with one ``register(commands)``;
this module only assembles them. The parser and the error guard are ``toygrpc.cmdline``.
"""

from __future__ import annotations

import argparse
import sys

from toygrpc.cmdline import OneLineParser, Subcommands, run_guarded


def build_parser() -> argparse.ArgumentParser:
    from toygrpc.cli import bench, service, show, trace, view

    parser = OneLineParser(
        prog="toygrpc",
        description="Trace what grpc.aio does inside a real call: the main thread, the "
        "C-core's threads, the poller thread and the future that resumes your coroutine.",
    )
    commands: Subcommands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                                  required=True, parser_class=OneLineParser)
    for module in (service, trace, show, view, bench):
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_guarded(f"toygrpc {args.command}", lambda: int(args.handler(args)))


if __name__ == "__main__":
    sys.exit(main())
