"""The benchmark's client: warm-up, then timed unary Hello calls; writes its numbers as JSON.

Run as a plain script so every capture mode (untraced, the harness's bootstrap,
``python -m viztracer``) runs the very same code: ``workload.py TARGET N CONCURRENCY OUT``.

``workload.py TARGET N CONCURRENCY OUT TURN_IN TURN_OUT BATCH`` takes turns with other
workload processes: it times its calls in batches of BATCH, each after reading a byte
from the pipe TURN_IN and before writing one to TURN_OUT (the next process's), so that
the processes of a ring run one at a time, interleaved every few milliseconds, and
machine noise hits them alike (``toygrpc bench --ablation``).
"""

import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import Iterator

import grpc

from toygrpc.generated import hello_pb2, hello_pb2_grpc

WARMUP = 50


class Turns:
    """A token ring over named pipes: ``wait`` blocks until this process's turn, ``pass_on``
    gives it to the next. Without pipes, every turn is this process's."""

    def __init__(self, turn_in: str = "", turn_out: str = "") -> None:
        self.turn_in, self.turn_out = turn_in, turn_out
        self._in = self._out = -1

    def ready(self, out: str) -> None:
        """Say this process is warmed up (the ring starts when every process is)."""
        if self.turn_in:
            with open(out + ".ready", "w"):
                pass

    def wait(self) -> None:
        if not self.turn_in:
            return
        if self._in < 0:
            self._in = os.open(self.turn_in, os.O_RDONLY)
        if not os.read(self._in, 1):
            raise SystemExit("the turn pipe closed")

    def pass_on(self) -> None:
        if not self.turn_out:
            return
        if self._out < 0:
            self._out = os.open(self.turn_out, os.O_WRONLY)
        os.write(self._out, b".")


async def main(target: str, calls: int, concurrency: int, out: str, turns: Turns,
               batch: int) -> None:
    latencies: list[int] = []
    cpu = wall = 0
    async with grpc.aio.insecure_channel(target) as channel:
        stub = hello_pb2_grpc.HelloServiceStub(channel)
        request = hello_pb2.HelloRequest(x="bench")
        for _ in range(WARMUP):
            await stub.Hello(request, timeout=10)

        async def worker(todo: Iterator[int]) -> None:
            for _ in todo:
                started = time.perf_counter_ns()
                await stub.Hello(request, timeout=10)
                latencies.append(time.perf_counter_ns() - started)

        turns.ready(out)
        remaining = calls
        while remaining:
            size = min(batch, remaining)
            remaining -= size
            todo = iter(range(size))
            turns.wait()
            began, cpu_began = time.perf_counter_ns(), time.process_time_ns()
            await asyncio.gather(*(worker(todo) for _ in range(concurrency)))
            wall += time.perf_counter_ns() - began
            cpu += time.process_time_ns() - cpu_began
            turns.pass_on()
    with open(out, "w") as sink:
        json.dump({"latencies_ns": latencies, "wall_ns": wall, "cpu_ns": cpu,
                   "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, sink)


if __name__ == "__main__":
    turn_args = sys.argv[5:8]
    ring = Turns(*turn_args[:2]) if len(turn_args) == 3 else Turns()
    calls = int(sys.argv[2])
    asyncio.run(main(sys.argv[1], calls, int(sys.argv[3]), sys.argv[4], ring,
                     int(turn_args[2]) if len(turn_args) == 3 else calls))
