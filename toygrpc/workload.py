"""What the Hello client, the Hello server and toygrpc's launcher agree on, without grpc.

The method shapes, the failing-call scenarios, the call metadata the server reads, the
lines the server and client print for the launcher, and the workload's command-line
options. Kept apart from ``toygrpc.client`` and ``toygrpc.server`` so that building a
command's parser, or launching a capture, does not import grpc and protobuf into
toygrpc's own process (about a third of a second of every command).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from toygrpc.cmdline import positive_int

DEFAULT_TARGET = "localhost:8080"
# --target -: the client reads the address from its standard input once it is ready to
# call (its imports done), so that the launcher can start it while the server starts.
TARGET_FROM_STDIN = "-"
DEFAULT_BIND = "localhost:8080"
# The server's first line on stdout, with its address: the launcher waits for it.
READY_PREFIX = "toygrpc server listening on "
# When set (by `toygrpc trace`), the client reports RPCs done on stdout for a progress bar.
PROGRESS_ENV = "TOYGRPC_PROGRESS"
PROGRESS_PREFIX = "toygrpc-progress "
# When set to "1" (by `toygrpc trace both|run`), the hooks tie a client's RPC to the server
# RPC it calls (``toygrpc.capture.hooks``).
LINK_ENV = "TOYGRPC_LINK_CALLS"
METHODS = ("unary", "server-stream", "client-stream", "bidi")
CLIENT_STREAM_REQUESTS = 3
# A longer deadline overflows in grpc and fails at once; inf would be read as "no deadline".
MAX_TIMEOUT = 365 * 24 * 3600.0
# Call metadata the Hello client sends to shape a call: how many messages a stream
# carries, and what the handler does (only a server started with --scenarios obeys the
# latter: one of them kills the server).
MESSAGES_KEY = "toygrpc-messages"
SCENARIO_KEY = "toygrpc-scenario"
MAX_MESSAGES = 100_000
# How many calls grpc's core server holds for its application before it cancels the excess
# (grpc.server.max_pending_requests): a grpc.aio server takes new calls one at a time, so
# a burst of more concurrent calls than this overflows it.
SERVER_PENDING_CALLS = 1000


@dataclass(frozen=True)
class Scenario:
    """A failing call the Hello client makes on purpose, and the status each side ends with
    (``server`` is None when no call reaches a server handler)."""

    name: str
    help: str
    client: str
    server: str | None
    ask: str = ""  # the toygrpc-scenario metadata the server obeys (with --scenarios)


SCENARIOS = {s.name: s for s in (
    Scenario("deadline-exceeded", "the server sleeps past the call's 0.2 s deadline",
             "DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED", "sleep"),
    Scenario("client-cancel", "the client cancels the call while the server sleeps",
             "CANCELLED", "CANCELLED", "sleep"),
    Scenario("server-abort", "the server aborts with INVALID_ARGUMENT and details",
             "INVALID_ARGUMENT", "INVALID_ARGUMENT", "abort"),
    Scenario("server-exception", "the server's handler raises: UNKNOWN", "UNKNOWN",
             "UNKNOWN", "raise"),
    Scenario("server-unavailable", "nothing listens at the target: UNAVAILABLE",
             "UNAVAILABLE", None),
    Scenario("server-killed", "the server process is killed mid-call: UNAVAILABLE",
             "UNAVAILABLE", None, "die"),
)}
SCENARIO_DEADLINE_S = 0.2  # as the deadline-exceeded scenario's help says
CANCEL_AFTER_S = 0.1


def scenario_help() -> str:
    """The scenarios, one phrase each, for a ``--scenario`` option's help."""
    return "; ".join(f"{s.name} ({s.help})" for s in SCENARIOS.values())


def add_workload_arguments(parser: argparse.ArgumentParser, default_rpcs: int = 1) -> None:
    """The options that say which calls the Hello client makes, shared by ``toygrpc call``
    and ``toygrpc trace``."""
    parser.add_argument("--method", default="unary", choices=(*METHODS, "all"),
                        help="which method shape to call (default unary; all = each shape)")
    parser.add_argument("--rpcs", type=positive_int, default=default_rpcs, metavar="N",
                        help=f"how many RPCs of each shape (default {default_rpcs})")
    parser.add_argument("--concurrency", type=positive_int, default=1, metavar="C",
                        help="how many RPCs in flight at once (default 1)")
    parser.add_argument("--messages", type=message_count, default=CLIENT_STREAM_REQUESTS,
                        metavar="N", help="messages each stream carries: requests of the "
                        "client streams, replies of the server streams (default "
                        f"{CLIENT_STREAM_REQUESTS})")


def message_count(text: str) -> int:
    value = positive_int(text)
    if value > MAX_MESSAGES:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_MESSAGES}, got {value}")
    return value


def positive_seconds_below_a_year(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    if value > MAX_TIMEOUT:  # also inf; grpc's deadline (ns since the epoch) would overflow
        raise argparse.ArgumentTypeError(f"must be at most {MAX_TIMEOUT:.0f} (a year), got {text}")
    return value


def build_client_parser(parser: argparse.ArgumentParser | None = None
                        ) -> argparse.ArgumentParser:
    """``toygrpc call`` / ``python -m toygrpc.client``."""
    parser = parser or argparse.ArgumentParser(prog="python -m toygrpc.client")
    parser.description = "Call HelloService on a running server and print the replies."
    add_workload_arguments(parser)
    parser.add_argument("--target", default=DEFAULT_TARGET, metavar="HOST:PORT",
                        help=f"server address (default {DEFAULT_TARGET}); "
                        f"{TARGET_FROM_STDIN} reads it from the first line of standard input")
    parser.add_argument("--x", default="hey", help="the request's x field (default: hey)")
    parser.add_argument("--timeout", type=positive_seconds_below_a_year, default=5.0,
                        metavar="SECONDS", help="deadline of each RPC (default 5)")
    parser.add_argument("--scenario", choices=tuple(SCENARIOS), metavar="NAME",
                        help="make every RPC fail on purpose: " + scenario_help()
                        + ". The server must run with --scenarios")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true",
                        help="print one JSON object (the replies, or the failed call's status) "
                        "instead of text")
    output.add_argument("--quiet", "-q", action="store_true",
                        help="print nothing on success: the exit status says it all")
    parser.epilog = ("Exit status: 0 every call succeeded; 2 usage error; 64 + the gRPC status "
                     "code of the first failed call (65 CANCELLED, 68 DEADLINE_EXCEEDED, "
                     "72 RESOURCE_EXHAUSTED, 78 UNAVAILABLE...), as grpcurl does.")
    return parser


def build_server_parser(parser: argparse.ArgumentParser | None = None
                        ) -> argparse.ArgumentParser:
    """``toygrpc serve`` / ``python -m toygrpc.server``."""
    parser = parser or argparse.ArgumentParser(prog="python -m toygrpc.server")
    parser.description = (
        "Serve HelloService (all four method shapes), the standard health service and "
        "server reflection, on loopback unless --bind names another address."
    )
    parser.add_argument("--bind", default=DEFAULT_BIND, metavar="HOST:PORT",
                        help=f"address to listen on (default {DEFAULT_BIND}: 127.0.0.1 and ::1; "
                        "port 0 picks a free port and prints it)")
    parser.add_argument("--scenarios", action="store_true",
                        help="obey the toygrpc-scenario call metadata the Hello client sends "
                        "with --scenario (sleep, abort, raise, or kill this server): for "
                        "tracing failing calls; off by default")
    return parser
