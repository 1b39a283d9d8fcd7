"""One round of the benchmark: every variant's workload process at once, taking turns.

Run one after the other, two variants meet different machine load (this machine is
shared), which can differ by more than what is measured. Here every process of a round
warms up, then they time their calls in a ring: each makes ``RING_BATCH`` calls, then
hands the turn to the next over a named pipe (``workload.py``'s ``Turns``), so their
timed calls are interleaved every few milliseconds and meet the same load.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toygrpc.capture.launch import RunningServer
from toygrpc.model.layout import ProcessLayout

RING_BATCH = 20  # calls each process makes per turn
START_TIMEOUT_S = 120.0
OUT = "{out}"  # in a launch's command: the variant's own folder


@dataclass
class Launch:
    """How to start one variant: ``command`` ends with the workload's script path; ``env``."""

    command: list[str]
    env: dict[str, str]


@dataclass
class Outcome:
    """One variant's run: the workload's result and where its files are."""

    out: Path
    result: dict[str, Any]  # latencies_ns, wall_ns, cpu_ns, maxrss_kb

    @property
    def p50_us(self) -> float:
        latencies = sorted(self.result["latencies_ns"])
        return float(latencies[len(latencies) // 2]) / 1000

    @property
    def p99_us(self) -> float:
        latencies = sorted(self.result["latencies_ns"])
        return float(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]) / 1000


def run_round(launches: dict[str, Launch], target: str, calls: int, concurrency: int,
              scratch: Path) -> dict[str, Outcome]:
    """Start every launch at once (ring order: the dict's), wait until all are warmed up,
    start the ring, and collect each one's result. ``{out}`` in a command's arguments
    is the variant's own folder. A failed variant raises, with its stderr's end."""
    folder = Path(tempfile.mkdtemp(dir=scratch))
    names = list(launches)
    pipes = [folder / f"turn{i}" for i in range(len(names))]
    for pipe in pipes:
        os.mkfifo(pipe)
    # Held open both ways: no open blocks, and the last turn passed never finds no reader.
    held = [os.open(pipe, os.O_RDWR) for pipe in pipes]
    running: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    try:
        for index, name in enumerate(names):
            out = folder / f"v{index}"
            out.mkdir()
            result = out / "result.json"
            ring = [str(pipes[index]), str(pipes[(index + 1) % len(pipes)]), str(RING_BATCH)]
            command = [arg.replace(OUT, str(out)) for arg in launches[name].command]
            argv = [*command, target, str(calls), str(concurrency), str(result), *ring]
            with ProcessLayout(out).core_log.open("w") as stderr:
                running[name] = (subprocess.Popen(argv, env=launches[name].env,
                                                  stdout=subprocess.DEVNULL, stderr=stderr),
                                 out)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all((out / "result.json.ready").exists() for _, out in running.values()):
            failed = [n for n, (p, _) in running.items() if p.poll() is not None]
            if failed or time.monotonic() > deadline:
                name = failed[0] if failed else ""
                raise RuntimeError(f"{name or 'a variant'} did not start: "
                                   + (_tail(running[name][1]) if name else "timed out"))
            time.sleep(0.05)
        os.write(held[0], b".")  # the first turn
        outcomes = {}
        for name, (process, out) in running.items():
            if process.wait(timeout=600):
                raise RuntimeError(f"{name} failed ({process.returncode}): {_tail(out)}")
            outcomes[name] = Outcome(out, json.loads((out / "result.json").read_text()))
        return outcomes
    finally:
        for process, _ in running.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        for fd in held:
            os.close(fd)


def _tail(out: Path) -> str:
    return ProcessLayout(out).core_log.read_text(errors="replace")[-2000:]


@contextlib.contextmanager
def scratch_and_server() -> Iterator[tuple[Path, RunningServer]]:
    """A scratch directory and an untraced Hello server on a free loopback port, for the
    rounds of a benchmark: the server stopped and the directory removed after."""
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        server = RunningServer([sys.executable, "-m", "toygrpc.server", "--bind", "localhost:0"],
                               dict(os.environ), scratch / "server.stderr")
        try:
            yield scratch, server
        finally:
            server.stop()
