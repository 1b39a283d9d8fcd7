"""How long a client's ``grpc_call_start_batch`` keeps the main thread, and how much of it
is the core trace's own writing: ``python scripts/start_batch_cost.py [RPCS]``.

Two fresh client captures of RPCS sequential unary calls (default 200): *hooks* and
*hooks + core trace*. In both, the waiter future is made just before
``grpc_call_start_batch`` and the task awaits it just after the call returns, so
``created -> awaiting`` spans the call in either mode. With the core trace on, the api
tracer writes the call's line and one line per op on the main thread inside the call;
the time from the first to the last of those lines is its own writing, the rest of the
call is the core's inline work (and the return to Python).
"""

from __future__ import annotations

import re
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from statistics import median, quantiles

import toygrpc

LINE = re.compile(r"^I\d{4} (\d\d:\d\d:\d\d\.\d{6})\s+(\d+) \S+\] (.*)$")


def _seconds(clock: str) -> float:
    moment = datetime.strptime(clock, "%H:%M:%S.%f")
    return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6


def trace_lines_inside_calls(core_log: Path, main_tid: int) -> list[float]:
    """Per grpc_call_start_batch on the main thread: µs from its line to its last op line."""
    spans: list[float] = []
    start: float | None = None
    last: float | None = None
    for line in core_log.read_text(errors="replace").splitlines():
        found = LINE.match(line)
        if found is None or int(found.group(2)) != main_tid:
            continue
        when, text = _seconds(found.group(1)), found.group(3)
        if text.startswith("grpc_call_start_batch("):
            if start is not None and last is not None:
                spans.append((last - start) * 1e6)
            start, last = when, when
        elif text.startswith("ops[") and start is not None:
            last = when
        elif start is not None and last is not None:
            spans.append((last - start) * 1e6)
            start = last = None
    return spans


def created_to_awaiting(trace: toygrpc.Trace) -> list[float]:
    return [(c.resumed.awaited_ts - c.future.ts) / 1000 for c in trace.run.analysis.chains
            if c.resumed is not None and c.resumed.awaited_ts]


def line(name: str, values: list[float]) -> str:
    deciles = quantiles(values, n=10)
    return (f"| {name} | {len(values)} | {deciles[0]:.0f} | {median(values):.0f} | "
            f"{deciles[8]:.0f} |")


def main(rpcs: int = 200) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        hooks = toygrpc.trace_client(rpcs=rpcs, python_layer=False, core_trace=False,
                                     out=Path(scratch) / "hooks")
        core = toygrpc.trace_client(rpcs=rpcs, python_layer=False, out=Path(scratch) / "core")
        main_tid = core.rpcs[0].pid
        own = trace_lines_inside_calls(core.run.run_dir / "client" / "core.log", main_tid)
        print(f"{rpcs} sequential unary calls, grpcio {core.run.manifest.versions['grpcio']}\n")
        print("| µs | n | p10 | p50 | p90 |\n|---|---|---|---|---|")
        print(line("hooks: waiter created -> awaited", created_to_awaiting(hooks)))
        print(line("hooks + core trace: waiter created -> awaited", created_to_awaiting(core)))
        print(line("hooks + core trace: the call's own trace lines (first to last)", own))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
