"""Two threads, each running its own asyncio loop, both bound to grpc.aio's one poller.

grpc.aio has one poller (one completion queue, one poller thread, one socket pair) per
process: every loop that makes a channel registers the same read socket. Here the
``idle`` loop only makes a channel and waits; the ``calling`` loop makes the calls, and
after starting each one blocks its own thread for a moment (``time.sleep``), so that the
reply's event is drained by the idle loop, which hands it over with
``call_soon_threadsafe``. Traced by tests/docs/learn/test_socket_pair.py:
``toygrpc trace run PROGRAM HOST:PORT``."""

import asyncio
import sys
import threading
import time

import grpc

from toygrpc.generated import hello_pb2, hello_pb2_grpc

CALLS = 10
BLOCK_S = 0.1  # the calling loop's thread sleeps this long after starting each call

bound = threading.Event()
done = threading.Event()


async def idle(target: str) -> None:
    async with grpc.aio.insecure_channel(target):  # binds this loop to the poller
        bound.set()
        while not done.is_set():
            await asyncio.sleep(0.01)


async def calls(target: str) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = hello_pb2_grpc.HelloServiceStub(channel)
        await stub.Hello(hello_pb2.HelloRequest(x="connect"))
        for _ in range(CALLS):
            call = asyncio.ensure_future(stub.Hello(hello_pb2.HelloRequest(x="hey")))
            await asyncio.sleep(0)  # the call's task runs: its batch is started
            time.sleep(BLOCK_S)  # this loop is blocked: the other one drains the reply
            await call
    done.set()


def main() -> None:
    target = sys.argv[1]
    idle_thread = threading.Thread(target=asyncio.run, args=(idle(target),), name="idle")
    idle_thread.start()
    bound.wait()
    calling = threading.Thread(target=asyncio.run, args=(calls(target),), name="calling")
    calling.start()
    calling.join()
    idle_thread.join()
    print(f"{CALLS + 1} calls on one loop, a second loop bound to the same poller")


main()
