"""Command-line support shared by every command: the parser, the error guard, argument types.

A leaf: it imports nothing of the project but ``toygrpc.errors``, so the Hello client
and server, the stage packages and the ``toygrpc`` command can all use it without
importing each other.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeAlias

from toygrpc.errors import EXIT_INTERRUPTED, EXIT_USAGE, RpcFailed, UsageError

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``add_subparsers`` returns: where each command module registers itself."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (and exit 2), pointing at --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


class SubcommandParser(OneLineParser):
    """The parser of a subcommand: it reports arguments it does not know itself.

    argparse hands a subcommand's leftovers back to the top-level parser, whose error
    then names ``toygrpc`` and its help page instead of the subcommand's.
    """

    def parse_known_args(  # type: ignore[override]  # same call, narrower types
            self, args: Sequence[str] | None = None,
            namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def run_guarded(prog: str, action: Callable[[], int]) -> int:
    """Run a command, turning the errors a user can fix into one line and exit 2, and a
    failed RPC into one line and exit 64 + its status code."""
    try:
        return action()
    except UsageError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except RpcFailed as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def positive_int(text: str) -> int:
    """An argument type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def at_least(minimum: int) -> Callable[[str], int]:
    """An argument type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def positive_seconds(text: str) -> float:
    """An argument type: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < 10**7:
        raise argparse.ArgumentTypeError(f"must be above 0 and finite, got {text}")
    return value


def port_number(text: str) -> int:
    """An argument type: a TCP port, 0 (any free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, got {value}")
    return value
