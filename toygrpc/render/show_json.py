"""``toygrpc show --json``: one RPC's swimlane and the stage table, for scripts.

Times are in nanoseconds, like summary.json; every stage value is the analysis's own
(``Run.swimlane`` and ``Run.stage_stats``), so it matches summary.json to the digit.
"""

from __future__ import annotations

from typing import Any

from toygrpc.analysis.run import Run
from toygrpc.analysis.swimlane import SwimlaneModel, rpc_number
from toygrpc.render.base import Renderer
from toygrpc.render.summary import stage_rows

JSON_FORMAT = 1


def _steps_json(model: SwimlaneModel) -> list[dict[str, Any]]:
    return [{
        "ts": s.ts, "offset_ns": s.offset, "process": model.lanes[s.lane].process,
        "lane": model.lanes[s.lane].label, "thread": s.thread, "pid": s.pid, "tid": s.tid,
        "chain": s.chain or None, "step": s.step, "event": s.what, "stage": s.stage or None,
        "stage_ns": s.delta, "shared": s.shared,
        "from_lanes": [model.lanes[i].label for i in s.sources],
    } for s in model.steps]


class ShowJson(Renderer):
    """The machine-readable form of ``show``: returns the dict the command prints."""

    name = "show-json"

    def __init__(self, rpc_index: int | None = None) -> None:
        self.rpc_index = rpc_index

    def render(self, run: Run) -> dict[str, Any]:
        analysis = run.analysis
        chosen: dict[str, Any] | None = None
        if analysis.rpcs or self.rpc_index is not None:
            model = run.swimlane(self.rpc_index)
            rpc = model.rpc
            chosen = {
                "index": model.number, "side": rpc.side, "method": rpc.method,
                "status": rpc.status, "details": rpc.details or None, "start": rpc.start,
                "latency": rpc.latency, "stages": rpc.stages(),
                "complete": rpc.complete, "missing": rpc.missing or None,
                "end_reason": rpc.end_reason or None,
                "peer_index": (rpc_number(analysis, rpc.peer) if rpc.peer is not None
                               else None),
                "lanes": [lane.label for lane in model.lanes],
                "chains": [{"chain": n, "side": owner.side, "kind": c.kind, "ops": list(c.ops),
                            "complete": c.complete, "missing": c.missing or None,
                            "shared_wake": c.shared_wake, "outcome": c.outcome}
                           for n, owner, c in model.chains],
                "steps": _steps_json(model),
                "links": [{"from": a, "to": b, "label": label} for a, b, label in model.links],
            }
        layout = run.layout
        return {
            "format": JSON_FORMAT,
            "run_dir": str(run.run_dir),
            "mode": run.manifest.mode,
            "rpc_count": len(analysis.rpcs),
            "complete_rpcs": sum(r.complete for r in analysis.rpcs),
            "rpc": chosen,
            "stages": stage_rows(run.stage_stats),
            "files": [str(p) for p in (layout.perfetto_trace, layout.json_trace, layout.summary,
                                       *layout.pictures(), layout.events, layout.manifest)
                      if p.is_file()],
            "view_command": f"toygrpc view {run.run_dir}",
            "diagnostics": run.timeline.diagnostics,
            "partial": run.timeline.partial,  # as in summary.json: never a silent loss
            "losses": run.timeline.losses,
        }
