"""Where each tag was completed, counted per kind of completion, on fresh captures:
``python scripts/completion_sites.py [RPCS]`` traces ``both`` at concurrency 1 and 4 (the
numbers docs/server-runtime.md quotes) and prints, per side, how many completions of each
kind happened on a core thread, inline in their own core call, or inline in another.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import toygrpc
from toygrpc.analysis.completions import completion_sites, tally


def main(rpcs: int = 60) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        for concurrency in (1, 4):
            trace = toygrpc.trace_both(rpcs=rpcs, concurrency=concurrency, python_layer=False,
                                       out=Path(scratch) / f"c{concurrency}")
            run = trace.run
            print(f"### trace both --rpcs {rpcs} --concurrency {concurrency} --no-python "
                  f"(grpcio {run.manifest.versions.get('grpcio')}, "
                  f"{time.strftime('%Y-%m-%d')})\n")
            print("| side | completion | where | n |\n|---|---|---|---|")
            sites = completion_sites(run.timeline, run.analysis)
            for side in ("client", "server"):
                mine = [s for s in sites if run.timeline.processes.get(s.chain.pid) == side]
                for (kind, where), count in sorted(tally(mine).items()):
                    print(f"| {side} | {kind} | {where} | {count} |")
            print()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
