"""A grpc.aio program of one's own, unaware of toygrpc: `toygrpc trace run examples/own_program.py`.

It serves the Hello service in-process on a free loopback port and calls it a few times.
"""

import asyncio
import sys

import grpc

from toygrpc.generated import hello_pb2, hello_pb2_grpc
from toygrpc.server import HelloServicer


async def main(calls: int) -> None:
    server = grpc.aio.server()
    hello_pb2_grpc.add_HelloServiceServicer_to_server(HelloServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = hello_pb2_grpc.HelloServiceStub(channel)
        for i in range(calls):
            reply = await stub.Hello(hello_pb2.HelloRequest(x=f"call {i}"))
            print(reply.x)
    await server.stop(None)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
