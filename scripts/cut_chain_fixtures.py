"""Cut the chain builder's fixtures out of fresh real captures.

Run ``python scripts/cut_chain_fixtures.py`` from the repository's root.

Each case is one process's events in the time window of a chain that shows a hard
case, taken unchanged from a real capture (a contiguous slice of its events.jsonl):

- ``shared_wake``: the chain's wake came before its RETURN_EVENT (an earlier
  completion woke the loop), its drain after;
- ``several_in_one_drain``: one drain resolved several chains, one of which the
  poller returned while that drain was already running (the drain loop picked it up
  without a wake of its own);
- ``inline_completion``: a batch whose tag the core completed on the main thread;
- ``cancelled_waiter``: a unary call cancelled in flight: its completion came back
  after its waiter future was cancelled, so nothing was resolved.

Writes ``tests/fixtures/chains/<case>/events.jsonl`` and ``case.json`` (the focal
chains' future ids). The tests hold the expected steps and stage durations written
out by hand; after re-cutting, those expectations must be written anew.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from toygrpc.analysis.chains import Chain
from toygrpc.analysis.run import Run
from toygrpc.capture.launch import CaptureOptions, RunningServer
from toygrpc.model.events import DrainSpan
from toygrpc.model.timeline import Timeline
from toygrpc.pipeline import capture_run

HERE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "chains"
MARGIN_NS = 2_000


def window(chains: list[Chain]) -> tuple[int, int]:
    times = [e.ts for c in chains for n in ("created", "core_call", "completed", "returned",
                                            "woken", "drained", "resolved", "resumed")
             if (e := c.step(n)) is not None]
    return min(times) - MARGIN_NS, max(times) + MARGIN_NS


def _span(chains: list[Chain]) -> int:
    start, end = window(chains)
    return end - start


def cut(run: Run, case: str, chains: list[Chain], why: str, until: int = 0) -> None:
    pid = chains[0].pid
    start, end = window(chains)
    end = max(end, until)
    events = [e for e in run.timeline.events if e.pid == pid and start <= e.ts <= end]
    folder = HERE / case
    folder.mkdir(parents=True, exist_ok=True)
    Timeline(events=events, processes={pid: run.timeline.processes[pid]},
             threads={k: v for k, v in run.timeline.threads.items() if k[0] == pid},
             clock={}, hooks={}, diagnostics=[]).save(folder)
    (folder / "case.json").write_text(json.dumps(
        {"case": case, "why": why, "pid": pid,
         "futures": [c.future.future_id for c in chains],
         "created_ts": [c.future.ts for c in chains]}, indent=1) + "\n")
    print(f"{case}: {len(events)} events, chains {[c.future.future_id for c in chains]}")


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        both = capture_run(CaptureOptions(mode="both", out=Path(scratch) / "both", rpcs=30,
                                          concurrency=3, python_layer=False))
        chains = both.analysis.chains
        shared = [c for c in chains if c.complete and c.kind == "batch" and c.woken
                  and c.returned and c.drain and c.woken.ts < c.returned.ts < c.drain.ts]
        in_progress = [c for c in chains if c.complete and c.kind == "batch" and c.drain
                       and c.returned and c.drain.ts < c.returned.ts]
        per_drain = Counter((c.pid, c.drain.drain_id) for c in chains
                            if c.drain and c.complete and c.kind == "batch")
        several = sorted((d for d, n in per_drain.items() if n >= 2),
                         key=lambda d: _span([c for c in chains if c.drain
                                              and (c.pid, c.drain.drain_id) == d]))
        inline = [c for c in chains if c.complete and c.kind == "batch" and c.completed
                  and c.completed.tid == c.pid]
        several = [d for d in several
                   if any(c.drain and c.returned and (c.pid, c.drain.drain_id) == d
                          and c.drain.ts < c.returned.ts for c in in_progress)]
        if not (shared and several and inline):
            print("a case is missing from this capture; run again", file=sys.stderr)
            return 1
        cut(both, "shared_wake", shared[:1], "woken before RETURN_EVENT, drained after")
        group = [c for c in chains if c.drain and (c.pid, c.drain.drain_id) == several[0]]
        cut(both, "several_in_one_drain", group, "one drain resolved these chains")
        cut(both, "inline_completion", inline[:1], "tag completed on the main thread")

        server = RunningServer([sys.executable, "-m", "toygrpc.server", "--bind",
                                "localhost:0"], {}, Path(scratch) / "server.err")
        try:
            program = HERE / "cancel_in_flight.py"
            cancelled_run = capture_run(CaptureOptions(
                mode="run", out=Path(scratch) / "cancel", python_layer=False,
                script=(str(program), server.address)))
        finally:
            server.stop()
        cancelled = [c for c in cancelled_run.analysis.chains
                     if c.returned is not None and c.resolved is None]
        if not cancelled:
            print("no cancelled waiter in this capture; run again", file=sys.stderr)
            return 1
        focal = cancelled[0]
        assert focal.returned is not None
        drains = [e for e in cancelled_run.timeline.of(DrainSpan)
                  if e.pid == focal.pid and e.ts >= focal.returned.ts]
        until = drains[0].ts + drains[0].dur + MARGIN_NS if drains else 0
        cut(cancelled_run, "cancelled_waiter", [focal],
            "completion returned after the waiter was cancelled", until)
    return 0


if __name__ == "__main__":
    sys.exit(main())
