"""Latency and throughput of the Hello workload under each capture mode, interleaved.

Every round runs every mode's process at once against one untraced server, their timed
calls taking turns every few milliseconds (``toygrpc.bench.ring``; the ring's order
rotates from round to round), so machine noise hits all modes alike; results are medians
over rounds.
"""

from __future__ import annotations

import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from toygrpc.bench.ring import OUT, Launch, Outcome, run_round, scratch_and_server
from toygrpc.capture.launch import BUFFER_CORE_LOG
from toygrpc.model.layout import ProcessLayout

WORKLOAD = Path(__file__).with_name("workload.py")
MODES = ("untraced", "hooks", "hooks+core", "full", "viztracer alone")


@dataclass
class ModeResult:
    mode: str
    p50_us: float
    p99_us: float
    rpcs_per_s: float
    bytes_per_rpc: float
    peak_rss_mb: float


def mode_command(mode: str, out: Path, args: list[str], buffer_core_log: bool = True
                 ) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of the workload in ``mode`` (one of ``MODES``).
    The workload is toygrpc's, writing nothing to stderr: its core trace is buffered, as
    the Hello client's is (``launch.traced_command``), unless ``buffer_core_log`` is
    False (``scripts/core_log_buffer.py`` compares the two)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GRPC_TRACE", "GRPC_VERBOSITY")}
    script = [str(WORKLOAD), *args]
    boot = [sys.executable, "-m", "toygrpc.capture.bootstrap", "--out", str(out),
            *([BUFFER_CORE_LOG] if buffer_core_log else [])]
    if mode == "untraced":
        return [sys.executable, *script], env
    if mode == "hooks":
        return [*boot, *script], env
    if mode == "viztracer alone":
        return [sys.executable, "-m", "viztracer", "--quiet", "-o",
                str(ProcessLayout(out).viztracer), *script], env
    env = {**env, "GRPC_TRACE": "api", "GRPC_VERBOSITY": "debug"}
    if mode == "full":
        return [*boot, "--viztracer", *script], env
    return [*boot, *script], env


def _sample(outcome: Outcome) -> dict[str, float]:
    data = outcome.result
    calls = len(data["latencies_ns"])
    written = sum(p.stat().st_size for p in outcome.out.rglob("*")
                  if p.is_file() and not p.name.startswith("result.json"))
    return {"p50": outcome.p50_us, "p99": outcome.p99_us,
            "throughput": calls / (data["wall_ns"] / 1e9), "bytes": written / calls,
            "rss": data["maxrss_kb"] / 1024}


def measure(calls: int, concurrency: int, rounds: int,
            progress: object = None) -> list[ModeResult]:
    samples: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    with scratch_and_server() as (scratch, server):
        for r in range(rounds):
            order = MODES[r % len(MODES):] + MODES[: r % len(MODES)]
            if callable(progress):
                progress(f"round {r + 1}/{rounds}, concurrency {concurrency}: every mode, "
                         "taking turns")
            launches = {mode: Launch(*mode_command(mode, Path(OUT), [])) for mode in order}
            for mode, outcome in run_round(launches, server.address, calls, concurrency,
                                           scratch).items():
                samples[mode].append(_sample(outcome))
    med = statistics.median
    return [ModeResult(m, med(s["p50"] for s in samples[m]), med(s["p99"] for s in samples[m]),
                       med(s["throughput"] for s in samples[m]),
                       med(s["bytes"] for s in samples[m]), med(s["rss"] for s in samples[m]))
            for m in MODES]
