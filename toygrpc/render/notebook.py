"""How a run shows itself in Jupyter: the swimlane as SVG, the stage table, the trace.

``RunView`` is a display object, not an output class: ``_repr_mimebundle_`` gives the
notebook HTML (the swimlane picture inline, the table, where the trace is and the
command that opens it) and ``__rich_console__`` gives a terminal the same report.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult

from toygrpc.analysis.run import Run
from toygrpc.render.terminal import RpcSwimlane, RunReport, StageTable, mimebundle


def swimlane_svg(run: Run, rpc_index: int | None = None) -> str:
    """The swimlane picture of one RPC as SVG text ("" when matplotlib is missing)."""
    try:
        from toygrpc.render.plots import swimlane_figure_svg
    except ImportError:
        return ""
    return swimlane_figure_svg(run.swimlane(rpc_index))


class RunView:
    """A run as a notebook shows it."""

    def __init__(self, run: Run, rpc_index: int | None = None) -> None:
        self.run = run
        self.rpc_index = rpc_index

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield RunReport(self.run, self.rpc_index)

    def _repr_html_(self) -> str:
        run = self.run
        parts = [f"<h4>toygrpc run {html.escape(str(run.run_dir))} "
                 f"({html.escape(run.manifest.mode)}; captured with "
                 f"{html.escape(run.manifest.capture_mode)})</h4>"]
        if run.analysis.rpcs:
            svg = swimlane_svg(run, self.rpc_index)
            if svg:
                parts.append(f"<div class='toygrpc-swimlane'>{svg}</div>")
            parts.append(mimebundle(RpcSwimlane(run.swimlane(self.rpc_index)))["text/html"])
        else:
            parts.append("<p>no RPCs in this run: no swimlane to draw</p>")
        table = StageTable(run.stage_stats, run.manifest.capture_mode)
        parts.append(mimebundle(table)["text/html"])
        complete = sum(r.complete for r in run.analysis.rpcs)
        parts.append(f"<p>{complete}/{len(run.analysis.rpcs)} RPCs with complete chains, "
                     f"{run.analysis.links} links. Trace: <code>"
                     f"{html.escape(str(run.layout.trace))}</code>; open it with <code>"
                     f"toygrpc view {html.escape(str(run.run_dir))}</code></p>")
        return "\n".join(parts)

    def _repr_mimebundle_(self, include: Sequence[str] | None = None,
                          exclude: Sequence[str] | None = None,
                          **kwargs: Any) -> dict[str, str]:
        console = Console(file=io.StringIO(), width=120, record=True, color_system=None,
                          force_jupyter=False)  # else rich displays it a second time
        console.print(RunReport(self.run, self.rpc_index))
        return {"text/plain": console.export_text(), "text/html": self._repr_html_()}
