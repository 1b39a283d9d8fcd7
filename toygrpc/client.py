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
from toygrpc.cmdline import OneLineParser, run_guarded
from toygrpc.errors import RpcFailed, UsageError
from toygrpc.generated import hello_pb2, hello_pb2_grpc
from toygrpc.workload import (
    CANCEL_AFTER_S,
    CLIENT_STREAM_REQUESTS,
    MESSAGES_KEY,
    METHODS,
    PROGRESS_ENV,
    PROGRESS_PREFIX,
    SCENARIO_DEADLINE_S,
    SCENARIO_KEY,
    SCENARIOS,
    SERVER_PENDING_CALLS,
    TARGET_FROM_STDIN,
    build_client_parser,
)


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


def read_target(given: str) -> str:
    """The address to call: ``--target``, or with ``-`` the first line of standard input
    (read only now, after the imports: the launcher starts the client before the server
    is up and sends the address once it is)."""
    if given != TARGET_FROM_STDIN:
        return given
    line = sys.stdin.readline().strip()
    if not line:
        raise UsageError("--target -: no address on standard input")
    return line


def run(args: argparse.Namespace) -> int:
    target = read_target(args.target)
    parse_host_port(target, what="--target")
    options = CallOptions(target=target, x=args.x, timeout=args.timeout,
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
    args = build_client_parser(OneLineParser(prog="python -m toygrpc.client")).parse_args(argv)
    return run_guarded("toygrpc call", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
