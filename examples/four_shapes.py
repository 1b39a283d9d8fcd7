"""A grpc.aio program with every call shape, serving and calling in one process.

Written the way a user writes one (nothing of toygrpc's tracing in it), so that
``toygrpc trace run examples/four_shapes.py`` shows a program it has never seen: a
unary call, a server stream of dozens of messages, a client stream, a bidirectional
chat. It serves the Hello service on a free loopback port and calls it over a channel:

    python examples/four_shapes.py [--replies N] [--chat N]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator

import grpc

from toygrpc.generated import hello_pb2, hello_pb2_grpc


class Greeter(hello_pb2_grpc.HelloServiceServicer):
    """Each shape answers in its own way; the server stream's length comes from metadata."""

    async def Hello(self, request: hello_pb2.HelloRequest,
                    context: grpc.aio.ServicerContext) -> hello_pb2.HelloResponse:
        return hello_pb2.HelloResponse(x=f"hello {request.x}")

    async def HelloServerStream(self, request: hello_pb2.HelloRequest,
                                context: grpc.aio.ServicerContext
                                ) -> AsyncIterator[hello_pb2.HelloResponse]:
        wanted = dict(context.invocation_metadata() or ()).get("replies", "3")
        for n in range(int(wanted)):
            yield hello_pb2.HelloResponse(x=f"{request.x} #{n}")

    async def HelloClientStream(self, request_iterator: AsyncIterator[hello_pb2.HelloRequest],
                                context: grpc.aio.ServicerContext) -> hello_pb2.HelloResponse:
        count = 0
        async for _ in request_iterator:
            count += 1
        return hello_pb2.HelloResponse(x=f"got {count}")

    async def HelloBidiStream(self, request_iterator: AsyncIterator[hello_pb2.HelloRequest],
                              context: grpc.aio.ServicerContext
                              ) -> AsyncIterator[hello_pb2.HelloResponse]:
        async for request in request_iterator:
            yield hello_pb2.HelloResponse(x=f"re: {request.x}")


async def notes(prefix: str, count: int) -> AsyncIterator[hello_pb2.HelloRequest]:
    for n in range(count):
        yield hello_pb2.HelloRequest(x=f"{prefix}{n}")


async def main(replies: int, chat: int) -> None:
    server = grpc.aio.server()
    hello_pb2_grpc.add_HelloServiceServicer_to_server(Greeter(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = hello_pb2_grpc.HelloServiceStub(channel)
            single = await stub.Hello(hello_pb2.HelloRequest(x="world"))
            print(single.x)
            streamed = [r.x async for r in stub.HelloServerStream(
                hello_pb2.HelloRequest(x="point"), metadata=(("replies", str(replies)),))]
            print(f"server stream: {len(streamed)} replies")
            summary = await stub.HelloClientStream(notes("step", chat))
            print(f"client stream: {summary.x}")
            call = stub.HelloBidiStream()
            answers = 0
            for n in range(chat):
                await call.write(hello_pb2.HelloRequest(x=f"note {n}"))
                await call.read()
                answers += 1
            await call.done_writing()
            status = await call.code()
            print(f"chat: {answers} answers, {status.name}")
    finally:
        await server.stop(None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=40, help="server stream length")
    parser.add_argument("--chat", type=int, default=10, help="client stream and chat length")
    args = parser.parse_args()
    asyncio.run(main(args.replies, args.chat))
