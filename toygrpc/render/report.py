"""The short text report printed at the end of a capture."""

from __future__ import annotations

from collections import Counter

from rich.console import Console

from toygrpc.capture.session import Capture
from toygrpc.model.timeline import Timeline


def print_report(cap: Capture, timeline: Timeline, console: Console | None = None) -> None:
    console = console or Console()
    counts = Counter(e.kind for e in timeline.events)
    console.print(f"[bold]run directory:[/bold] {cap.run_dir}")
    for pid, role in timeline.processes.items():
        console.print(f"  {role} (pid {pid}): "
                      + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), highlight=False)
