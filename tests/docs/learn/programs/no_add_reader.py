"""A grpc.aio client on an event loop that cannot watch file descriptors: its
``add_reader`` raises NotImplementedError, as Windows' proactor loop does.

grpc.aio then falls back: the poller thread itself takes the GIL and hands every event
to the loop with ``call_soon_threadsafe``; the socket pair is never written. Traced by
tests/docs/learn/test_socket_pair.py: ``toygrpc trace run PROGRAM HOST:PORT``."""

import asyncio
import sys
from typing import Any

import grpc

from toygrpc.generated import hello_pb2, hello_pb2_grpc

CALLS = 10


class NoReaderLoop(asyncio.SelectorEventLoop):
    """A selector loop whose public add_reader is unsupported (its own self-pipe still
    works: asyncio registers it through the private ``_add_reader``)."""

    def add_reader(  # type: ignore[override]  # refuses whatever it is given
        self, fd: Any, callback: Any, *args: Any
    ) -> None:
        raise NotImplementedError("this loop does not watch file descriptors")


async def calls(target: str) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = hello_pb2_grpc.HelloServiceStub(channel)
        for _ in range(CALLS):
            await stub.Hello(hello_pb2.HelloRequest(x="hey"))


with asyncio.Runner(loop_factory=NoReaderLoop) as runner:
    runner.run(calls(sys.argv[1]))
print(f"{CALLS} calls without add_reader")
