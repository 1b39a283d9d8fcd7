"""The short text report printed at the end of a capture (the full views: render.terminal)."""

from __future__ import annotations

from rich.console import Console

from toygrpc.analysis.chains import Analysis
from toygrpc.capture.session import Capture
from toygrpc.model.timeline import Timeline
from toygrpc.render.summary import hook_counts


def print_report(cap: Capture, timeline: Timeline, analysis: Analysis,
                 console: Console | None = None) -> None:
    console = console or Console()
    try:
        from toygrpc.render.show import render_end_of_trace
    except ImportError:  # the terminal views are optional until that stage exists
        pass
    else:
        render_end_of_trace(cap, timeline, analysis, console)
        return
    counts = hook_counts(timeline)
    for pid, role in timeline.processes.items():
        fired = ", ".join(f"{hook} {n}" for hook, n in counts.get(role, {}).items())
        console.print(f"{role} (pid {pid}) hooks fired: {fired}", highlight=False)
    complete = sum(r.complete for r in analysis.rpcs)
    console.print(f"{complete}/{len(analysis.rpcs)} RPCs with complete chains, "
                  f"{analysis.links} links", highlight=False)
    console.print(f"run directory: {cap.run_dir}  (open the trace: toygrpc view {cap.run_dir})",
                  highlight=False)
