"""Two threads, each running its own asyncio loop, call one Hello server through grpc.aio.

grpc.aio has one poller (one completion queue, one poller thread, one socket pair) per
process: both loops register the same read socket, and whichever loop drains an event
that belongs to the other hands it over with ``call_soon_threadsafe``. Traced by
tests/docs/learn/test_socket_pair.py: ``toygrpc trace run PROGRAM HOST:PORT``."""

import asyncio
import sys
import threading

import grpc

from toygrpc.generated import hello_pb2, hello_pb2_grpc

CALLS_PER_LOOP = 20


async def calls(target: str) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = hello_pb2_grpc.HelloServiceStub(channel)
        for _ in range(CALLS_PER_LOOP):
            await stub.Hello(hello_pb2.HelloRequest(x="hey"))


def run_loop(target: str) -> None:
    asyncio.run(calls(target))


def main() -> None:
    target = sys.argv[1]
    threads = [threading.Thread(target=run_loop, args=(target,), name=f"loop-{i}")
               for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"{len(threads)} loops made {len(threads) * CALLS_PER_LOOP} calls")


main()
