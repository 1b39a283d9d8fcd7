"""Print the numbers the docs quote, from fresh captures: ``python scripts/doc_numbers.py``.

Each table names its capture mode. The client stage table comes from a *hooks + core
trace* run; beside it, the spans hooks alone measure from a *hooks* run of the same
size, which is the figure without the core trace's own cost.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import toygrpc
from toygrpc.analysis.stages import StageStats


def markdown(stats: list[StageStats], mode: str) -> str:
    lines = [f"| stage ({mode}) | n | p50 µs | p90 µs | p99 µs |", "|---|---|---|---|---|"]
    lines += [f"| {s.name} | {s.count} | {s.p50 / 1000:.1f} | {s.p90 / 1000:.1f} | "
              f"{s.p99 / 1000:.1f} |" for s in stats if s.count]
    return "\n".join(lines)


def main(rpcs: int = 100) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        hooks = toygrpc.trace_client(rpcs=rpcs, python_layer=False, core_trace=False,
                                     out=out / "hooks")
        core = toygrpc.trace_client(rpcs=rpcs, python_layer=False, out=out / "core")
        server = toygrpc.trace_server(rpcs=rpcs, python_layer=False, out=out / "server")
        light_server = toygrpc.trace_server(rpcs=rpcs, python_layer=False, core_trace=False,
                                            out=out / "server-hooks")
        v = core.run.manifest.versions
        print(f"grpcio {v.get('grpcio')}, protobuf {v.get('protobuf')} "
              f"({v.get('protobuf_backend')}), Python {v.get('python')}, "
              f"{time.strftime('%Y-%m-%d')}\n")
        print(f"### client, {rpcs} sequential unary calls: stages\n")
        print(markdown(core.run.stage_stats, core.capture_mode) + "\n")
        print("### client: the hook spans, which every mode measures the same way\n")
        print(markdown(core.run.hook_span_stats, core.capture_mode) + "\n")
        print(markdown(hooks.run.hook_span_stats, hooks.capture_mode) + "\n")
        print(f"### server, {rpcs} sequential unary calls from an untraced client\n")
        print(markdown(server.run.stage_stats, server.capture_mode) + "\n")
        print("server RPC latency (summary.json's latency), p50: "
              + ", ".join(f"{median(r.latency for r in t.rpcs) / 1000:.1f} µs "
                          f"({t.capture_mode})" for t in (server, light_server)) + "\n")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
