"""Latency and throughput of the Hello workload under each capture mode, interleaved.

Every round runs every mode once, in a rotated order, against one untraced server, so
machine noise hits all modes alike; results are medians over rounds.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from toygrpc.capture.launch import RunningServer
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


def _command(mode: str, out: Path, args: list[str]) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("GRPC_TRACE", "GRPC_VERBOSITY")}
    script = [str(WORKLOAD), *args]
    boot = [sys.executable, "-m", "toygrpc.capture.bootstrap", "--out", str(out)]
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


def _once(mode: str, target: str, calls: int, concurrency: int, scratch: Path) -> dict[str, float]:
    out = Path(tempfile.mkdtemp(dir=scratch))
    result_file = out / "result.json"
    command, env = _command(mode, out, [target, str(calls), str(concurrency), str(result_file)])
    with ProcessLayout(out).core_log.open("w") as stderr:
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr, check=True,
                       timeout=600)
    data = json.loads(result_file.read_text())
    latencies = sorted(data["latencies_ns"])
    written = sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and p != result_file)
    return {
        "p50": latencies[len(latencies) // 2] / 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1000,
        "throughput": len(latencies) / (data["wall_ns"] / 1e9),
        "bytes": written / len(latencies),
        "rss": data["maxrss_kb"] / 1024,
    }


def measure(calls: int, concurrency: int, rounds: int,
            progress: object = None) -> list[ModeResult]:
    samples: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        server = RunningServer([sys.executable, "-m", "toygrpc.server", "--bind", "localhost:0"],
                               dict(os.environ), scratch / "server.stderr")
        try:
            for r in range(rounds):
                order = MODES[r % len(MODES):] + MODES[: r % len(MODES)]
                for mode in order:
                    if callable(progress):
                        progress(f"round {r + 1}/{rounds}: {mode}, concurrency {concurrency}")
                    samples[mode].append(_once(mode, server.address, calls, concurrency, scratch))
        finally:
            server.stop()
    med = statistics.median
    return [ModeResult(m, med(s["p50"] for s in samples[m]), med(s["p99"] for s in samples[m]),
                       med(s["throughput"] for s in samples[m]),
                       med(s["bytes"] for s in samples[m]), med(s["rss"] for s in samples[m]))
            for m in MODES]
