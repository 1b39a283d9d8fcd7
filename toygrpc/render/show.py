"""Re-render a saved run in the terminal (``toygrpc show``) and at the end of a trace.

A run directory is read, never re-captured: the merged ``events.jsonl`` when present,
else the raw inputs it is rebuilt from. Anything missing or damaged is a one-line
``UsageError`` (exit status 2), because a traceback would not tell the user which file
to fix or that capturing again is the cure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from toygrpc.analysis.chains import Analysis, Rpc, analyze
from toygrpc.analysis.stages import stage_statistics
from toygrpc.capture.session import MANIFEST, Capture
from toygrpc.errors import UsageError
from toygrpc.model.timeline import EVENTS_FILE, Timeline
from toygrpc.render.summary import hook_counts
from toygrpc.render.terminal import (
    RpcSwimlane,
    StageTable,
    SwimlaneModel,
    build_swimlane,
    pick_rpc,
    rpc_number,
)

JSON_FORMAT = 1
RAW_FILES = ("hooks.jsonl", "core.log")
# What a run directory may hold besides the raw inputs, and what each is for.
RUN_FILES = {
    "trace.json": "the trace for Perfetto",
    "summary.json": "the run in numbers",
    "swimlane.svg": "the swimlane picture (also .png)",
    "stages.svg": "the stage distributions (also .png)",
    EVENTS_FILE: "the merged timeline",
    MANIFEST: "the manifest",
}
PICTURES = ("swimlane.png", "stages.png")
# Exceptions a damaged JSON/JSONL file can raise while it is read back.
DAMAGE = (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, StopIteration)


def load_run(run_dir: Path) -> tuple[Capture, Timeline]:
    """The manifest and timeline of a saved run; any problem is one UsageError line."""
    try:
        cap = Capture.load(run_dir)
    except (AttributeError, ValueError) as exc:  # valid JSON, but not a manifest object
        raise UsageError(f"{Path(run_dir) / MANIFEST} is damaged ({_why(exc)}); "
                         "capture the run again") from None
    events = cap.run_dir / EVENTS_FILE
    if events.is_file():
        try:
            return cap, Timeline.load(cap.run_dir)
        except DAMAGE as exc:
            raise UsageError(f"{events} is damaged ({_why(exc)}); delete it "
                             "to rebuild it from the raw files, or capture the run again"
                             ) from None
    traced = [p for p in cap.processes if p.traced]
    missing = [p.role for p in traced
               if not any((cap.process_dir(p.role) / name).is_file() for name in RAW_FILES)]
    if not traced or missing:
        what = (f"the raw files of {', '.join(missing)} are missing ("
                + ", ".join(f"{cap.process_dir(role)}/" for role in missing) + ")"
                if missing else "the manifest lists no traced process")
        raise UsageError(f"{cap.run_dir} is incomplete: it has no {EVENTS_FILE} to show and "
                         f"{what} to rebuild it from; capture the run again")
    from toygrpc.capture.merge import load_or_build

    try:
        return cap, load_or_build(cap)
    except DAMAGE as exc:
        raise UsageError(f"{cap.run_dir}: the raw files could not be merged ({_why(exc)}); "
                         "capture the run again") from None


def _why(exc: BaseException) -> str:
    """An exception as a short clause on one line (an empty file raises StopIteration)."""
    if isinstance(exc, StopIteration):
        return "it is empty"
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def write_plots(cap: Capture, timeline: Timeline, analysis: Analysis, rpc: Rpc | None,
                console: Console) -> list[Path]:
    """The swimlane and stage pictures in the run directory; a failure is a note, not fatal."""
    try:
        from toygrpc.render.plots import write_stage_distributions, write_swimlane

        written: list[Path] = []
        if rpc is not None:
            written.extend(write_swimlane(analysis, timeline, rpc, cap.run_dir).paths)
        written.extend(write_stage_distributions(analysis, cap.run_dir).paths)
        return written
    except (UsageError, OSError) as exc:
        console.print(Text(f"plots not written: {exc}", "yellow"), soft_wrap=True)
        return []


def describe_files(run_dir: Path, processes: list[str]) -> list[str]:
    """One line per file of the run directory that exists, saying what it is."""
    lines = []
    for name, what in RUN_FILES.items():
        if (run_dir / name).is_file():
            lines.append(f"{run_dir / name}  {what}")
    for role in processes:
        if (run_dir / role).is_dir():
            lines.append(f"{run_dir / role}/  the raw inputs of the {role} process")
    return lines


def render_run(cap: Capture, timeline: Timeline, analysis: Analysis, console: Console,
               rpc_index: int | None = None, plots: bool = True) -> None:
    """Swimlane of one RPC, the stage table, then the counts, the files and the view command."""
    rpc = _chosen(analysis, rpc_index)
    if rpc is not None:
        console.print(RpcSwimlane(analysis, timeline, rpc))
    else:
        console.print("no RPCs in this run: no swimlane to draw", style="yellow")
    console.print()
    console.print(StageTable(stage_statistics(analysis)))
    if plots:
        with console.status("drawing swimlane.svg and stages.svg"):
            write_plots(cap, timeline, analysis, rpc, console)
    counts = hook_counts(timeline)
    for pid, role in timeline.processes.items():
        fired = ", ".join(f"{hook} {n}" for hook, n in counts.get(role, {}).items())
        console.print(f"{role} (pid {pid}) hooks fired: {fired}", highlight=False, style="dim")
    complete = sum(r.complete for r in analysis.rpcs)
    console.print(f"{complete}/{len(analysis.rpcs)} RPCs with complete chains, "
                  f"{analysis.links} links", highlight=False)
    console.print(Text("files:", "bold"))
    for line in describe_files(cap.run_dir, [p.role for p in cap.processes]):
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    if analysis.rpcs:
        console.print(f"another RPC: toygrpc show {cap.run_dir} --rpc N  "
                      f"(N from 1 to {len(analysis.rpcs)})", highlight=False, soft_wrap=True)
    console.print(Text.assemble(("open the trace: ", "bold"), f"toygrpc view {cap.run_dir}"),
                  soft_wrap=True)


def render_end_of_trace(cap: Capture, timeline: Timeline, analysis: Analysis,
                        console: Console, rpc_index: int | None = None) -> None:
    """What ``toygrpc trace`` prints when done; also writes the plots into the run."""
    render_run(cap, timeline, analysis, console, rpc_index, plots=True)


def _steps_json(model: SwimlaneModel) -> list[dict[str, Any]]:
    return [{
        "ts": s.ts, "offset_ns": s.offset, "process": model.lanes[s.lane].process,
        "lane": model.lanes[s.lane].label, "thread": s.thread, "pid": s.pid, "tid": s.tid,
        "chain": s.chain or None, "step": s.step, "event": s.what, "stage": s.stage or None,
        "stage_ns": s.delta, "from_lanes": [model.lanes[i].label for i in s.sources],
    } for s in model.steps]


def show_json(cap: Capture, timeline: Timeline, analysis: Analysis,
              rpc_index: int | None = None) -> dict[str, Any]:
    """The machine-readable form of ``show``: times in ns, like summary.json."""
    rpc = _chosen(analysis, rpc_index)
    chosen: dict[str, Any] | None = None
    if rpc is not None:
        model = build_swimlane(analysis, timeline, rpc)
        chosen = {
            "index": model.number, "side": rpc.side, "method": rpc.method,
            "status": rpc.status, "start": rpc.start, "latency": rpc.latency,
            "complete": rpc.complete, "missing": rpc.missing or None,
            "peer_index": rpc_number(analysis, rpc.peer) if rpc.peer is not None else None,
            "lanes": [lane.label for lane in model.lanes],
            "chains": [{"chain": n, "side": owner.side, "kind": c.kind, "ops": list(c.ops),
                        "complete": c.complete, "missing": c.missing or None,
                        "shared_wake": c.shared_wake} for n, owner, c in model.chains],
            "steps": _steps_json(model),
            "links": [{"from": a, "to": b, "label": label} for a, b, label in model.links],
        }
    return {
        "format": JSON_FORMAT,
        "run_dir": str(cap.run_dir),
        "mode": cap.mode,
        "rpc_count": len(analysis.rpcs),
        "complete_rpcs": sum(r.complete for r in analysis.rpcs),
        "rpc": chosen,
        "stages": [{"name": s.name, "definition": s.definition, "count": s.count,
                    "p50": s.p50, "p90": s.p90, "p99": s.p99, "max": s.max}
                   for s in stage_statistics(analysis)],
        "files": [str(cap.run_dir / name) for name in (*RUN_FILES, *PICTURES)
                  if (cap.run_dir / name).is_file()],
        "view_command": f"toygrpc view {cap.run_dir}",
        "diagnostics": timeline.diagnostics,
    }


def show(run_dir: Path, rpc_index: int | None = None, as_json: bool = False,
         width: int | None = None, plots: bool = True, console: Console | None = None) -> int:
    """``toygrpc show``: print a saved run (swimlane, stage table, files) or its JSON."""
    cap, timeline = load_run(run_dir)
    analysis = analyze(timeline)
    if rpc_index is not None:
        pick_rpc(analysis, rpc_index)  # out of range: say so before writing anything
    console = console or Console(width=width)
    if as_json:
        if plots:
            write_plots(cap, timeline, analysis, _chosen(analysis, rpc_index),
                        Console(stderr=True))
        console.file.write(json.dumps(show_json(cap, timeline, analysis, rpc_index), indent=1)
                           + "\n")
        return 0
    errors = Console(stderr=True, width=width)
    for line in timeline.diagnostics:
        errors.print(f"[yellow]toygrpc: {line}[/yellow]", highlight=False, soft_wrap=True)
    render_run(cap, timeline, analysis, console, rpc_index, plots=plots)
    return 0


def _chosen(analysis: Analysis, rpc_index: int | None) -> Rpc | None:
    """The RPC to show, or None for a run without RPCs (unless one was asked for)."""
    return pick_rpc(analysis, rpc_index) if analysis.rpcs or rpc_index is not None else None
