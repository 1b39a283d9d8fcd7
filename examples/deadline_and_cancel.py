"""A grpc.aio server whose handler is slow, and a client that gives up on it twice: a
50 ms deadline, then a cancel after 50 ms, server and client in one process. Traced as
the failure sample (traces/): `toygrpc trace run examples/deadline_and_cancel.py`."""

import asyncio

import grpc

from toygrpc.generated import hello_pb2, hello_pb2_grpc


class SlowHello(hello_pb2_grpc.HelloServiceServicer):
    async def Hello(self, request, context):
        await asyncio.sleep(0.3)
        return hello_pb2.HelloResponse(x=request.x)


async def main() -> None:
    server = grpc.aio.server()
    hello_pb2_grpc.add_HelloServiceServicer_to_server(SlowHello(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = hello_pb2_grpc.HelloServiceStub(channel)
        try:
            await stub.Hello(hello_pb2.HelloRequest(x="late"), timeout=0.05)
        except grpc.aio.AioRpcError as error:
            print("deadline:", error.code().name)
        call = stub.Hello(hello_pb2.HelloRequest(x="dropped"))
        await asyncio.sleep(0.05)
        call.cancel()
        try:
            await call
        except asyncio.CancelledError:
            print("cancelled:", call.cancelled())
    await server.stop(None)


asyncio.run(main())
