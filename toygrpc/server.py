"""The Hello server: grpc.aio, with server reflection and the standard health service.

Run it with ``toygrpc serve`` or ``python -m toygrpc.server``. It binds loopback only
(``localhost:8080``: both 127.0.0.1 and ::1) unless ``--bind`` says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from toygrpc.addresses import HostPort, parse_host_port
from toygrpc.cmdline import OneLineParser, run_guarded
from toygrpc.errors import UsageError
from toygrpc.generated import hello_pb2, hello_pb2_grpc
from toygrpc.workload import (
    DEFAULT_BIND,
    MAX_MESSAGES,
    MESSAGES_KEY,
    READY_PREFIX,
    SCENARIO_KEY,
    build_server_parser,
)

SERVICE_NAME = hello_pb2.DESCRIPTOR.services_by_name["HelloService"].full_name
SERVER_STREAM_REPLIES = 3
SCENARIO_SLEEP_S = 10.0  # longer than any scenario waits: the client's deadline or cancel ends it
ABORT_CODE = grpc.StatusCode.INVALID_ARGUMENT
ABORT_DETAILS = "toygrpc scenario: the server aborted the call"
RAISE_MESSAGE = "toygrpc scenario: the handler raised"


def greeting(x: str) -> str:
    return f"Hello, {x}!"


def _metadata(context: grpc.aio.ServicerContext, key: str) -> str:
    for item in context.invocation_metadata() or ():
        if item[0] == key:
            return str(item[1])
    return ""


class HelloServicer(hello_pb2_grpc.HelloServiceServicer):
    """Replies ``Hello, <x>!``; the streaming shapes differ only in how many messages flow.

    With ``scenarios`` on, a call's ``toygrpc-scenario`` metadata makes the handler fail
    the way a test needs: ``sleep`` (until the client's deadline or cancellation), ``abort``
    (INVALID_ARGUMENT with details), ``raise`` (an exception: UNKNOWN), ``die`` (the server
    process kills itself mid-call)."""

    def __init__(self, scenarios: bool = False) -> None:
        self.scenarios = scenarios

    async def _act(self, context: grpc.aio.ServicerContext) -> None:
        if not self.scenarios:
            return
        scenario = _metadata(context, SCENARIO_KEY)
        if scenario == "sleep":
            await asyncio.sleep(SCENARIO_SLEEP_S)
        elif scenario == "abort":
            await context.abort(ABORT_CODE, ABORT_DETAILS)
        elif scenario == "raise":
            raise RuntimeError(RAISE_MESSAGE)
        elif scenario == "die":
            os.kill(os.getpid(), signal.SIGKILL)

    async def Hello(
        self, request: hello_pb2.HelloRequest, context: grpc.aio.ServicerContext
    ) -> hello_pb2.HelloResponse:
        await self._act(context)
        return hello_pb2.HelloResponse(x=greeting(request.x))

    async def HelloServerStream(
        self, request: hello_pb2.HelloRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[hello_pb2.HelloResponse]:
        await self._act(context)
        asked = _metadata(context, MESSAGES_KEY)
        count = SERVER_STREAM_REPLIES
        if asked.isdigit():
            count = min(int(asked), MAX_MESSAGES)
        for i in range(count):
            yield hello_pb2.HelloResponse(x=f"{greeting(request.x)} #{i + 1}")

    async def HelloClientStream(
        self,
        request_iterator: AsyncIterator[hello_pb2.HelloRequest],
        context: grpc.aio.ServicerContext,
    ) -> hello_pb2.HelloResponse:
        await self._act(context)
        names = [request.x async for request in request_iterator]
        return hello_pb2.HelloResponse(x=greeting(", ".join(names)))

    async def HelloBidiStream(
        self,
        request_iterator: AsyncIterator[hello_pb2.HelloRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[hello_pb2.HelloResponse]:
        await self._act(context)
        async for request in request_iterator:
            yield hello_pb2.HelloResponse(x=greeting(request.x))


def check_port_free(address: HostPort) -> None:
    """Bind the address once ourselves, so that a port in use is our one-line error.

    grpc would report it too, but as a core log line plus an exception that points
    at GRPC_VERBOSITY; this check names the port and the fix.
    """
    if address.port == 0:
        return
    try:
        infos = socket.getaddrinfo(address.host.strip("[]"), address.port,
                                   type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"cannot bind {address}: {exc.strerror}; use a local host name "
                         "or address in --bind") from None
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            # As grpc does: a stopped server's connections in TIME_WAIT do not hold the
            # port, while a listening socket still does.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise UsageError(f"port {address.port} is already in use on {address.host}; "
                                     "stop the other server or pick another port with --bind")\
                        from None
                if exc.errno == errno.EADDRNOTAVAIL:
                    raise UsageError(f"cannot bind {address}: {address.host} is not an address "
                                     "of this machine; fix --bind") from None


def build_server(bind: str, scenarios: bool = False) -> tuple[grpc.aio.Server, int]:
    """Create the server with Hello, health and reflection; return it with the bound port."""
    address = parse_host_port(bind, what="--bind", allow_port_zero=True)
    # grpc turns SO_REUSEPORT on by default, which lets a second server silently share the
    # port; off, a port in use is an error the user sees.
    check_port_free(address)
    server = grpc.aio.server(options=(("grpc.so_reuseport", 0),))
    hello_pb2_grpc.add_HelloServiceServicer_to_server(HelloServicer(scenarios), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME),
        server,
    )
    try:
        port = server.add_insecure_port(str(address))
    except RuntimeError as exc:
        raise UsageError(
            f"cannot bind {address}: {exc}; is the port already in use? pick another with --bind"
        ) from None
    if port == 0:
        raise UsageError(f"cannot bind {address}: the port is in use or the host is not local; "
                         "pick another with --bind")
    return server, port


async def serve(bind: str = DEFAULT_BIND, scenarios: bool = False) -> None:
    """Serve until SIGINT or SIGTERM, then stop gracefully."""
    server, port = build_server(bind, scenarios)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before "ready": a signal may come at once
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    host = bind.rpartition(":")[0]
    print(f"{READY_PREFIX}{host}:{port}", flush=True)
    await stop.wait()
    await server.stop(grace=1.0)


def run(args: argparse.Namespace) -> int:
    asyncio.run(serve(args.bind, args.scenarios))
    if "toygrpc.capture.hooks" not in sys.modules:
        # Stopped: the process ends next, and its last garbage collections would walk every
        # grpc and protobuf object (about 60 ms that `toygrpc trace client` waits for). A
        # traced server (its hooks are loaded) ends as any program does: its core log
        # records its teardown.
        gc.freeze()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_server_parser(OneLineParser(prog="python -m toygrpc.server")).parse_args(argv)
    return run_guarded("toygrpc serve", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
