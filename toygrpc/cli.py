"""The ``toygrpc`` command: one entry point whose subcommands follow the data flow.

gen -> serve / call -> trace (capture) -> show / view (re-render a saved run) -> bench.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from toygrpc.errors import EXIT_USAGE, UsageError


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (and exit 2), pointing at --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def run_guarded(prog: str, action: Callable[[], int]) -> int:
    """Run a command, turning the errors a user can fix into one line and exit 2."""
    try:
        return action()
    except UsageError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    from toygrpc import client, server
    from toygrpc.bench import cli as bench_cli
    from toygrpc.capture import cli as capture_cli
    from toygrpc.render import cli as render_cli
    from toygrpc.viewer import cli as viewer_cli

    parser = OneLineParser(
        prog="toygrpc",
        description="Trace what grpc.aio does inside a real call: the main thread, the "
        "C-core's threads, the poller thread and the future that resumes your coroutine.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                     parser_class=OneLineParser)

    gen = commands.add_parser("gen", help="regenerate toygrpc/generated/ from proto/")
    gen.set_defaults(handler=_run_gen)

    serve = commands.add_parser("serve", help="run the Hello server (loopback by default)")
    server.build_parser(serve)
    serve.set_defaults(handler=server.run)

    call = commands.add_parser("call", help="call the Hello server and print the replies")
    client.build_parser(call)
    call.set_defaults(handler=client.run)

    capture_cli.add_commands(commands)
    render_cli.add_command(commands)
    viewer_cli.add_command(commands)
    bench_cli.add_command(commands)
    return parser


def _run_gen(args: argparse.Namespace) -> int:
    from toygrpc import gen

    return gen.main([])


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_guarded(f"toygrpc {args.command}", lambda: int(args.handler(args)))


if __name__ == "__main__":
    sys.exit(main())
