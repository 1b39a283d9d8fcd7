"""The committed real captures the offline tests of the newer analysis modules read.

Both were made with the tool itself, never written by hand:

- ``tests/fixtures/runs/http-both-2``: ``toygrpc trace both --rpcs 2 --no-python
  --tracer http --tracer event_engine_endpoint --sample-threads 5``; its thread samples
  (``threads.sample`` lines) were removed to keep it small, nothing else changed.
- ``tests/fixtures/runs/threads-client-3``: ``toygrpc trace client --rpcs 3 --no-python
  --tracer http --tracer event_engine_endpoint --sample-threads 5``, whole.
- ``tests/fixtures/hooks-only/client-3``: hooks alone, no core log (the command has no
  option for it; the bench's ``hooks`` mode): ``capture_run(CaptureOptions(mode="client",
  rpcs=3, python_layer=False, tracers=()))`` then ``Run.save()``, whole. Not under
  ``runs/``: the renderer tests there count batches in the core log.

The tests cite the line of ``events.jsonl`` each expected value was read from (1-based;
line 1 is the header) and check, with ``raw``, that the line still says so: plain JSON,
no code under test.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "runs"
HTTP_BOTH = RUNS / "http-both-2"
THREADS_CLIENT = RUNS / "threads-client-3"
BOTH_3 = RUNS / "both-3"
HOOKS_ONLY_CLIENT = RUNS.parent / "hooks-only" / "client-3"


@cache
def _lines(run: Path) -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(line) for line in (run / "events.jsonl").read_text().splitlines())


def raw(run: Path, line: int) -> dict[str, Any]:
    """Line ``line`` (1-based) of the run's ``events.jsonl``, as plain JSON."""
    return _lines(run)[line - 1]


def raw_events(run: Path) -> tuple[dict[str, Any], ...]:
    """Every event line of the run (the header left out), as plain JSON."""
    return _lines(run)[1:]
