"""The benchmark's client: warm-up, then timed unary Hello calls; writes its numbers as JSON.

Run as a plain script so every capture mode (untraced, the harness's bootstrap,
``python -m viztracer``) runs the very same code: ``workload.py TARGET N CONCURRENCY OUT``.
"""

import asyncio
import json
import resource
import sys
import time

import grpc

from toygrpc.generated import hello_pb2, hello_pb2_grpc

WARMUP = 50


async def main(target: str, calls: int, concurrency: int, out: str) -> None:
    latencies: list[int] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = hello_pb2_grpc.HelloServiceStub(channel)
        request = hello_pb2.HelloRequest(x="bench")
        for _ in range(WARMUP):
            await stub.Hello(request, timeout=10)
        todo = iter(range(calls))

        async def worker() -> None:
            for _ in todo:
                started = time.perf_counter_ns()
                await stub.Hello(request, timeout=10)
                latencies.append(time.perf_counter_ns() - started)

        began = time.perf_counter_ns()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter_ns() - began
    with open(out, "w") as sink:
        json.dump({"latencies_ns": latencies, "wall_ns": wall,
                   "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, sink)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
