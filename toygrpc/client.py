"""The Hello client: calls HelloService on a running server and prints the replies.

Run it with ``toygrpc call`` or ``python -m toygrpc.client``. With ``--rpcs`` and
``--concurrency`` it is also the workload that ``toygrpc trace`` captures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import grpc

from toygrpc.addresses import parse_host_port
from toygrpc.cmdline import OneLineParser, positive_int, run_guarded
from toygrpc.errors import RpcFailed, UsageError
from toygrpc.generated import hello_pb2, hello_pb2_grpc

DEFAULT_TARGET = "localhost:8080"
# When set (by `toygrpc trace`), the client reports RPCs done on stdout for a progress bar.
PROGRESS_ENV = "TOYGRPC_PROGRESS"
PROGRESS_PREFIX = "toygrpc-progress "
METHODS = ("unary", "server-stream", "client-stream", "bidi")
CLIENT_STREAM_REQUESTS = 3
# A longer deadline overflows in grpc and fails at once; inf would be read as "no deadline".
MAX_TIMEOUT = 365 * 24 * 3600.0
# Call metadata the Hello server reads (toygrpc.server: MESSAGES_KEY, SCENARIO_KEY,
# MAX_MESSAGES; the two modules may not import each other, a test keeps them equal).
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


@dataclass(frozen=True)
class CallOptions:
    target: str
    x: str
    timeout: float
    method: str
    rpcs: int = 1
    concurrency: int = 1
    quiet: bool = False
    messages: int = CLIENT_STREAM_REQUESTS
    scenario: str = ""


async def _requests(x: str, count: int = CLIENT_STREAM_REQUESTS
                    ) -> AsyncIterator[hello_pb2.HelloRequest]:
    for i in range(count):
        yield hello_pb2.HelloRequest(x=f"{x}{i + 1}")


async def call_once(stub: hello_pb2_grpc.HelloServiceStub, method: str, x: str,
                    timeout: float, messages: int = CLIENT_STREAM_REQUESTS,
                    scenario: str = "") -> list[str]:
    """One RPC of the given shape; returns the reply texts in order. ``messages`` is how
    many messages each stream carries; ``scenario`` names one of ``SCENARIOS``."""
    request = hello_pb2.HelloRequest(x=x)
    metadata: list[tuple[str, str]] = [(MESSAGES_KEY, str(messages))]
    chosen = SCENARIOS.get(scenario)
    if chosen is not None and chosen.ask:
        metadata.append((SCENARIO_KEY, chosen.ask))
    if scenario == "deadline-exceeded":
        timeout = SCENARIO_DEADLINE_S
    call: grpc.aio.Call
    if method == "unary":
        call = stub.Hello(request, timeout=timeout, metadata=metadata)
    elif method == "server-stream":
        call = stub.HelloServerStream(request, timeout=timeout, metadata=metadata)
    elif method == "client-stream":
        call = stub.HelloClientStream(_requests(x, messages), timeout=timeout,
                                      metadata=metadata)
    elif method == "bidi":
        call = stub.HelloBidiStream(_requests(x, messages), timeout=timeout, metadata=metadata)
    else:
        raise UsageError(f"unknown --method {method!r}: choose one of {', '.join(METHODS)}, "
                         "or all")
    if scenario == "client-cancel":
        await asyncio.sleep(CANCEL_AFTER_S)
        call.cancel()
    if isinstance(call, grpc.aio.UnaryUnaryCall | grpc.aio.StreamUnaryCall):
        reply = await call
        return [reply.x]
    return [r.x async for r in call]  # a stream-response call: UnaryStream or StreamStream


async def call_expecting(stub: hello_pb2_grpc.HelloServiceStub, method: str,
                         options: CallOptions) -> list[str]:
    """One RPC of a scenario: its failure is the point, so it returns the status name."""
    try:
        await call_once(stub, method, options.x, options.timeout, options.messages,
                        options.scenario)
    except grpc.aio.AioRpcError as error:
        return [error.code().name]
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # this worker itself is being cancelled, not just the call
        return ["CANCELLED"]
    return ["OK"]


def explain_rpc_error(error: grpc.aio.AioRpcError, target: str, timeout: float,
                      concurrency: int = 1) -> RpcFailed:
    """Turn a failed RPC into one line that says what happened and what to try.

    Its exit status is 64 + the status code (grpcurl's convention), not 2: the call was
    made, and a script can tell that from a mistyped command."""
    code = error.code()
    status = code.value[0]
    if code == grpc.StatusCode.UNAVAILABLE:
        line = (f"cannot reach a server at {target}: {error.details()}; "
                "start one with `toygrpc serve` or pass --target")
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        line = (f"deadline exceeded after {timeout:g}s calling {target}; "
                "raise --timeout or check the server")
    elif (code in (grpc.StatusCode.CANCELLED, grpc.StatusCode.INTERNAL)
          and concurrency > SERVER_PENDING_CALLS):
        # Cancelled by the server's core; a streaming call that was still sending when its
        # stream was cut reports INTERNAL instead.
        line = (f"the server at {target} cut calls ({code.name}: {error.details()}): "
                f"{concurrency} calls at once overflow the queue of calls a grpc server "
                f"holds for its application (grpc.server.max_pending_requests, "
                f"{SERVER_PENDING_CALLS} by default); lower --concurrency to "
                f"{SERVER_PENDING_CALLS} or less")
    elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        line = (f"RPC to {target} failed with RESOURCE_EXHAUSTED: {error.details()}; the "
                f"server or the channel is out of a resource (concurrent RPCs or streams, "
                f"memory, message size): lower --concurrency (now {concurrency})")
    else:
        line = f"RPC to {target} failed with {code.name}: {error.details()}"
    return RpcFailed(line, status, code.name)


async def run_workload(options: CallOptions,
                       on_done: Callable[[int], None] | None = None) -> list[list[str]]:
    """Run ``rpcs`` calls, at most ``concurrency`` at a time, over one channel."""
    methods = METHODS if options.method == "all" else (options.method,)
    results: list[list[str]] = []
    async with grpc.aio.insecure_channel(options.target) as channel:
        stub = hello_pb2_grpc.HelloServiceStub(channel)
        for method in methods:
            queue = iter(range(options.rpcs))

            async def worker(method: str = method, queue: Iterator[int] = queue) -> None:
                for _ in queue:
                    if options.scenario:
                        results.append(await call_expecting(stub, method, options))
                    else:
                        results.append(await call_once(stub, method, options.x,
                                                       options.timeout, options.messages))
                    if on_done is not None:
                        on_done(len(results))

            workers: list[Awaitable[None]] = [worker() for _ in range(options.concurrency)]
            await asyncio.gather(*workers)
    return results


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="python -m toygrpc.client")
    parser.description = "Call HelloService on a running server and print the replies."
    add_workload_arguments(parser)
    parser.add_argument("--target", default=DEFAULT_TARGET, metavar="HOST:PORT",
                        help=f"server address (default {DEFAULT_TARGET})")
    parser.add_argument("--x", default="hey", help="the request's x field (default: hey)")
    parser.add_argument("--timeout", type=positive_float, default=5.0, metavar="SECONDS",
                        help="deadline of each RPC (default 5)")
    parser.add_argument("--scenario", choices=tuple(SCENARIOS), metavar="NAME",
                        help="make every RPC fail on purpose: " + "; ".join(
                            f"{s.name} ({s.help})" for s in SCENARIOS.values())
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


def add_workload_arguments(parser: argparse.ArgumentParser, default_rpcs: int = 1) -> None:
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


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    if value > MAX_TIMEOUT:  # also inf; grpc's deadline (ns since the epoch) would overflow
        raise argparse.ArgumentTypeError(f"must be at most {MAX_TIMEOUT:.0f} (a year), got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    parse_host_port(args.target, what="--target")
    options = CallOptions(target=args.target, x=args.x, timeout=args.timeout,
                          method=args.method, rpcs=args.rpcs, concurrency=args.concurrency,
                          messages=args.messages, scenario=args.scenario or "")
    started = time.perf_counter()
    on_done = None
    if os.environ.get(PROGRESS_ENV) == "1":
        total = options.rpcs * (len(METHODS) if options.method == "all" else 1)
        step = max(1, total // 200)

        def on_done(done: int) -> None:
            if done % step == 0 or done == total:
                print(f"{PROGRESS_PREFIX}{done} {total}", flush=True)

    as_json = getattr(args, "json", False)
    try:
        results = asyncio.run(run_workload(options, on_done))
    except grpc.aio.AioRpcError as error:
        failure = explain_rpc_error(error, options.target, options.timeout,
                                    options.concurrency)
        if as_json:
            print(json.dumps(call_json(options, error=failure, details=error.details())))
        raise failure from None
    elapsed = time.perf_counter() - started
    if options.scenario:
        return _scenario_report(options.scenario, results)
    if as_json:
        print(json.dumps(call_json(options, results=results, elapsed=elapsed)))
    elif getattr(args, "quiet", False):
        pass
    elif len(results) <= 8:
        for replies in results:
            for text in replies:
                print(text)
    else:
        print(results[0][0])
        print(f"{len(results)} RPCs ok in {elapsed:.3f}s")
    return 0


def call_json(options: CallOptions, results: list[list[str]] | None = None,
              elapsed: float = 0.0, error: RpcFailed | None = None,
              details: str | None = None) -> dict[str, object]:
    """What ``toygrpc call --json`` prints: the calls made and their replies, or the error."""
    report: dict[str, object] = {
        "target": options.target, "method": options.method, "rpcs": options.rpcs,
        "concurrency": options.concurrency, "ok": error is None}
    if error is not None:
        report["error"] = {"status": error.status_name, "code": error.status_code,
                           "details": details, "message": str(error),
                           "exit_status": error.exit_status}
    else:
        report["elapsed_s"] = round(elapsed, 6)
        report["replies"] = results or []
    return report


def _scenario_report(name: str, results: list[list[str]]) -> int:
    """One line per status the scenario's RPCs ended with; 0 if all ended as expected."""
    expected = SCENARIOS[name].client
    counts: dict[str, int] = {}
    for (status,) in results:
        counts[status] = counts.get(status, 0) + 1
    for status, count in sorted(counts.items()):
        verdict = "as the scenario expects" if status == expected else f"expected {expected}"
        if status == "OK" and SCENARIOS[name].ask:
            verdict += "; does the server run with --scenarios?"
        print(f"{count} RPC(s) ended {status} ({verdict})")
    return 0 if set(counts) == {expected} else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser(OneLineParser(prog="python -m toygrpc.client")).parse_args(argv)
    return run_guarded("toygrpc call", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
