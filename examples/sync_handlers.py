"""A grpc.aio server whose handlers are plain ``def`` functions, called in one process.

grpc.aio runs a handler that is not a coroutine (or async generator) in a thread pool:
``loop.run_in_executor(pool, handler, request, context)`` for a unary reply, and a
generator handler is iterated on a pool thread, each reply handed back to the loop. The
pool is the server's ``migration_thread_pool``; here one named ``sync-handler`` with two
threads, so a trace names its threads. ``toygrpc trace run examples/sync_handlers.py``
shows where each handler ran:

    python examples/sync_handlers.py [--calls N] [--replies N]
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc

from toygrpc.generated import hello_pb2, hello_pb2_grpc

POOL_PREFIX = "sync-handler"


class SyncGreeter(hello_pb2_grpc.HelloServiceServicer):
    """Blocking-style handlers: they run on the pool, never on the event loop's thread."""

    def Hello(self, request: hello_pb2.HelloRequest,  # type: ignore[override]  # def, as grpc.aio allows
              context: grpc.ServicerContext) -> hello_pb2.HelloResponse:
        return hello_pb2.HelloResponse(x=f"{request.x} from {threading.current_thread().name}")

    def HelloServerStream(self, request: hello_pb2.HelloRequest,  # type: ignore[override]  # a generator, as grpc.aio allows
                          context: grpc.ServicerContext) -> Iterator[hello_pb2.HelloResponse]:
        wanted = dict(context.invocation_metadata() or ()).get("replies", "3")
        for n in range(int(wanted)):
            yield hello_pb2.HelloResponse(x=f"{request.x} #{n} from "
                                            f"{threading.current_thread().name}")


async def main(calls: int, replies: int) -> None:
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix=POOL_PREFIX)
    server = grpc.aio.server(migration_thread_pool=pool)
    hello_pb2_grpc.add_HelloServiceServicer_to_server(SyncGreeter(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = hello_pb2_grpc.HelloServiceStub(channel)
            for n in range(calls):
                reply = await stub.Hello(hello_pb2.HelloRequest(x=f"call {n}"))
                print(reply.x)
            streamed = [r.x async for r in stub.HelloServerStream(
                hello_pb2.HelloRequest(x="stream"), metadata=(("replies", str(replies)),))]
            print("\n".join(streamed))
    finally:
        await server.stop(None)
        pool.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3, help="unary calls")
    parser.add_argument("--replies", type=int, default=3, help="server stream length")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.replies))
