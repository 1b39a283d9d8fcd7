"""The ``toygrpc`` command: one entry point whose subcommands follow the data flow.

gen -> serve / call -> trace (capture) -> show / view (re-render a saved run) -> bench.
Each subcommand lives in a module of this package with one ``register(commands)``;
this module only assembles them. The parser and the error guard are ``toygrpc.cmdline``.
"""

from __future__ import annotations

import argparse
import gc
import sys

from toygrpc.cmdline import OneLineParser, SubcommandParser, Subcommands, run_guarded


def version() -> str:
    """The installed distribution's version (the package's own when run from a clone)."""
    from importlib import metadata

    import toygrpc

    try:
        return metadata.version("toygrpc")
    except metadata.PackageNotFoundError:
        return toygrpc.__version__


class VersionAction(argparse.Action):
    """``--version``: the version is looked up when asked for (reading the installed
    distribution's metadata takes longer than building every parser)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0,
                         help=help or "show program's version number and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(f"{parser.prog} {version()}")  # on stdout, as argparse's own action does
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    from toygrpc.cli import bench, completion, service, show, trace, view

    parser = OneLineParser(
        prog="toygrpc",
        description="Trace what grpc.aio does inside a real call: the main thread, the "
        "C-core's threads, the poller thread and the future that resumes your coroutine.",
        epilog="Exit statuses: 0 success; 1 the traced program failed (the run is still "
        "written); 2 usage error; 64 + the gRPC status code when `toygrpc call` makes a call "
        "that fails (68 DEADLINE_EXCEEDED, 78 UNAVAILABLE...); 130 interrupted.",
    )
    parser.add_argument("--version", action=VersionAction)
    commands: Subcommands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                                  required=True, parser_class=SubcommandParser)
    for module in (service, trace, show, view, bench, completion):
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code = run_guarded(f"toygrpc {args.command}", lambda: int(args.handler(args)))
    if argv is None:
        # The command line's own process, which exits next: its last garbage collections
        # need not walk what the command made (a run's events: tens of ms after a trace).
        gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(main())
