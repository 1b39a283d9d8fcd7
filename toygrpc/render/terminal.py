"""Terminal views of a run with rich: one RPC as a swimlane, the stage table, the report.

They answer "what happened in one call, on which thread" without opening Perfetto.
Views are plain objects with ``__rich_console__`` (print them with any Console, at
any width) and ``_repr_mimebundle_`` (a notebook shows them as text and HTML); they
draw ``analysis.swimlane.SwimlaneModel`` and ``analysis.stages.StageStats``, the same
models the plots and ``show --json`` read.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from toygrpc.analysis.chains import Rpc
from toygrpc.analysis.http2 import FrameRow
from toygrpc.analysis.run import Run
from toygrpc.analysis.stages import StageStats
from toygrpc.analysis.swimlane import SwimlaneModel, SwimStep

PROCESS_STYLES = {"client": "cyan", "server": "magenta"}
ARROW_STYLE = "bold yellow"


def short_ops(ops: Sequence[str]) -> str:
    return " ".join(op.removesuffix("Operation") for op in ops)


# --- rich views -----------------------------------------------------------------------


def mimebundle(renderable: RenderableType, width: int = 120) -> dict[str, str]:
    """text/plain and text/html of a rich renderable, for Jupyter's rich display."""
    console = Console(file=io.StringIO(), width=width, record=True, force_jupyter=False,
                      color_system="truecolor")
    console.print(renderable)
    text = console.export_text(styles=False, clear=False)  # keep the record for the HTML
    return {"text/plain": text, "text/html": console.export_html(inline_styles=True)}


def us(ns: float) -> str:
    return f"{ns / 1000:.1f}"


def rpc_stage_line(rpc: Rpc) -> str:
    """The RPC's latency as its stages divide it (``Rpc.stages()``: they add up exactly)."""
    parts = ", ".join(f"{name} {us(value)}" for name, value in rpc.stages().items() if value)
    status = rpc.status + (f" ({rpc.details})" if rpc.details else "")
    return f"{rpc.side} {status}, latency {us(rpc.latency)} µs = {parts}"


class RpcSwimlane:
    """One RPC as a swimlane: a column per thread role, a row per step, arrows on hand-offs."""

    def __init__(self, model: SwimlaneModel) -> None:
        self.model = model

    def _lane_text(self, step: SwimStep, width: int) -> Text:
        lanes = self.model.lanes
        centre = [i * width + width // 2 for i in range(len(lanes))]
        chars = [" "] * (len(lanes) * width)
        styles = ["dim"] * len(chars)
        for c in centre:
            chars[c] = "│"
        target = step.lane
        left = [s for s in step.sources if s <= target]
        right = [s for s in step.sources if s > target]
        if left:
            start = centre[min(left)]
            for x in range(start, centre[target]):
                chars[x], styles[x] = "─", ARROW_STYLE
            for s in left:  # a source on the step's own lane (another thread): just "▶"
                chars[centre[s]] = "┴" if s != min(left) else "╰"
            chars[centre[target] - 1], styles[centre[target] - 1] = "▶", ARROW_STYLE
        if right:
            end = centre[max(right)]
            for x in range(centre[target] + 1, end + 1):
                chars[x], styles[x] = "─", ARROW_STYLE
            for s in right:
                chars[centre[s]] = "┴" if s != max(right) else "╯"
            chars[centre[target] + 1] = "◀"
        process = lanes[target].process
        chars[centre[target]] = "●" if step.chain else "◆"
        styles[centre[target]] = f"bold {PROCESS_STYLES.get(process, 'green')}"
        text = Text()
        for ch, style in zip(chars, styles, strict=True):
            text.append(ch, style)
        return text

    def _lane_header(self, width: int) -> Text:
        lanes = self.model.lanes
        groups: list[tuple[str, int]] = []
        for lane in lanes:
            if groups and groups[-1][0] == lane.process:
                groups[-1] = (lane.process, groups[-1][1] + 1)
            else:
                groups.append((lane.process, 1))
        text = Text(no_wrap=True)
        for process, count in groups:
            text.append(process.center(count * width, "╌" if count > 1 else " ")[:count * width],
                        PROCESS_STYLES.get(process, "green"))
        text.append("\n")
        for lane in lanes:
            name = lane.kind if len(lane.kind) < width else lane.kind[:width - 1]
            text.append(name.center(width), "bold")
        return text

    def title(self) -> str:
        rpc = self.model.rpc
        peer = ""
        if rpc.peer is not None:
            peer = f"; its {rpc.peer.side} side shown too"
        return (f"RPC {self.model.number}: {rpc.side} {rpc.method} {rpc.status}, "
                f"{us(rpc.latency)} µs{peer}")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        model = self.model
        n = len(model.lanes)
        offsets = [f"{step.offset / 1000:+.1f}" for step in model.steps]
        deltas = [us(step.delta) if step.delta is not None else "" for step in model.steps]
        widths = {"µs": max(map(len, offsets), default=2),
                  "step": max((len(s.label) for s in model.steps), default=4),
                  "thread": max((len(s.thread) for s in model.steps), default=6),
                  "Δ µs": max(4, *map(len, deltas))}
        if options.max_width < 100:  # narrow: the lane already says which thread
            del widths["thread"]
        # Columns are 3 apart (a divider and two pads); the stage column takes what is left.
        fixed = sum(widths.values()) + 3 * (len(widths) + 1)
        width = max(5, min(9, (options.max_width - fixed - 20) // max(n, 1)))
        stage_width = options.max_width - fixed - n * width
        table = Table(title=self.title(), box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
                      padding=(0, 1), title_justify="left", expand=False)
        table.add_column("µs", justify="right", no_wrap=True, min_width=widths["µs"])
        table.add_column(self._lane_header(width), no_wrap=True, min_width=n * width)
        table.add_column("step", no_wrap=True, min_width=widths["step"])
        if "thread" in widths:
            table.add_column("thread", no_wrap=True, min_width=widths["thread"])
        if stage_width >= 8:
            table.add_column("stage", no_wrap=True, overflow="ellipsis", max_width=stage_width)
        table.add_column("Δ µs", justify="right", no_wrap=True, min_width=widths["Δ µs"])
        for step, offset, delta in zip(model.steps, offsets, deltas, strict=True):
            process = model.lanes[step.lane].process
            label = Text(step.label, PROCESS_STYLES.get(process, "green"))
            cells: list[RenderableType] = [offset, self._lane_text(step, width), label]
            if "thread" in widths:
                cells.append(step.thread)
            if stage_width >= 8:
                cells.append(step.stage)
            cells.append(delta)
            table.add_row(*cells)
        yield table
        legend = Text()
        for number, owner, chain in model.chains:
            what = chain.kind if chain.kind != "batch" else f"batch {short_ops(chain.ops)}"
            status = f" ({chain.end_reason})" if chain.end_reason else ""
            legend.append(f"#{number} ", "bold")
            legend.append(f"{owner.side}: {what}{status}\n")
        for r in (model.rpc, model.rpc.peer):
            if r is not None and not r.chains:
                legend.append(f"the {r.side} RPC has no chain to show: its completions were "
                              "not followed (see the hook diagnostics)\n", "yellow")
        for r in (model.rpc, model.rpc.peer):
            if r is not None:
                legend.append(rpc_stage_line(r) + "\n")
                if r.end_reason:
                    legend.append(f"{r.side} RPC ends: {r.end_reason}\n", "yellow")
        notes = [f"#{s.chain} {s.step}: {s.note}" for s in model.steps if s.note and s.chain]
        for note in dict.fromkeys(notes):
            legend.append(f"{note}\n", "dim")
        legend.append("● step  ◆ RPC start/end  ─▶ control passes to another thread  "
                      "core: the core's own threads (EventEngine...)  "
                      "Δ: time since the chain's previous step (the stage's share)", "dim")
        yield legend

    def _repr_mimebundle_(self, include: Sequence[str] | None = None,
                          exclude: Sequence[str] | None = None,
                          **kwargs: Any) -> dict[str, str]:
        return mimebundle(self)


class StageTable:
    """p50/p90/p99/max of every stage over the run, in µs, with what each stage measures."""

    def __init__(self, stats: Sequence[StageStats], capture_mode: str = "",
                 title: str = "Stages over the run") -> None:
        self.stats = list(stats)
        self.capture_mode = capture_mode  # the observers whose cost is inside these times
        self.title = title

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        inline = options.max_width >= 100  # else the definitions follow the table
        title = f"{self.title} (µs"
        title += f", captured with {self.capture_mode})" if self.capture_mode else ")"
        table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False,
                      show_edge=False, title_justify="left")
        table.add_column("stage", no_wrap=True)
        table.add_column("n", justify="right")
        for name in ("p50", "p90", "p99", "max"):
            table.add_column(name, justify="right", no_wrap=True)
        if inline:  # it wraps in what room is left (never wider: the console would crop it)
            table.add_column("what it measures")
        for s in self.stats:
            values = [us(s.p50), us(s.p90), us(s.p99), us(s.max)] if s.count else ["-"] * 4
            row: list[RenderableType] = [Text(s.name, "" if s.count else "dim"), str(s.count),
                                         *values]
            if inline:
                row.append(Text(s.definition, "dim"))
            table.add_row(*row)
        yield table
        if not inline:
            definitions = Text()
            for s in self.stats:
                definitions.append(f"{s.name}", "bold")
                definitions.append(f": {s.definition}\n", "dim")
            yield definitions

    def _repr_mimebundle_(self, include: Sequence[str] | None = None,
                          exclude: Sequence[str] | None = None,
                          **kwargs: Any) -> dict[str, str]:
        return mimebundle(self)



class Http2FrameTable:
    """The HTTP/2 frames each process received (``--tracer http``), in time order."""

    MAX_ROWS = 40  # a run of many calls has thousands: the first ones say what each is

    def __init__(self, rows: Sequence[FrameRow], title: str = "HTTP/2 frames received",
                 max_rows: int = MAX_ROWS) -> None:
        self.rows = list(rows)
        self.title = title
        self.max_rows = max_rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(title=f"{self.title} (µs after the first)",
                      box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
                      title_justify="left")
        for name in ("receiver", "at µs", "frame", "length", "stream", "thread"):
            table.add_column(name, no_wrap=True,
                             justify="left" if name in ("receiver", "frame") else "right")
        for row in self.rows[:self.max_rows]:
            table.add_row(row.receiver, f"{row.at_us:.0f}", row.frame, str(row.length),
                          str(row.stream_id), str(row.thread))
        yield table
        if len(self.rows) > self.max_rows:
            yield Text(f"... and {len(self.rows) - self.max_rows} more frames (events.jsonl, "
                       "kind core.http2_frame)", "dim")

    def _repr_mimebundle_(self, include: Sequence[str] | None = None,
                          exclude: Sequence[str] | None = None,
                          **kwargs: Any) -> dict[str, str]:
        return mimebundle(self)


class StageComparison:
    """One statistic (p50 by default) of every stage, side by side for several runs: how
    the stages move between concurrency levels or capture modes. A run without a sample
    of a stage shows "-" (hooks alone do not see the core's steps)."""

    def __init__(self, columns: dict[str, Sequence[StageStats]],
                 modes: dict[str, str] | None = None, statistic: str = "p50") -> None:
        self.columns = {label: {s.name: s for s in stats} for label, stats in columns.items()}
        self.modes = modes or {}
        self.statistic = statistic

    def value(self, label: str, stage: str) -> int | None:
        """The statistic (ns) of ``stage`` in column ``label``; None without samples."""
        stat = self.columns[label].get(stage)
        return int(getattr(stat, self.statistic)) if stat and stat.count else None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(title=f"{self.statistic} (µs) by run", box=box.SIMPLE_HEAD,
                      pad_edge=False, show_edge=False, title_justify="left")
        table.add_column("stage", no_wrap=True)
        for label in self.columns:
            mode = self.modes.get(label)
            table.add_column(f"{label}\n({mode})" if mode else label, justify="right")
        names = list(dict.fromkeys(name for column in self.columns.values() for name in column))
        stages = [name for name in names
                  if any(self.value(label, name) is not None for label in self.columns)]
        for name in stages:
            cells = [self.value(label, name) for label in self.columns]
            table.add_row(name, *("-" if v is None else us(v) for v in cells))
        yield table

    def _repr_mimebundle_(self, include: Sequence[str] | None = None,
                          exclude: Sequence[str] | None = None,
                          **kwargs: Any) -> dict[str, str]:
        return mimebundle(self)


class RunReport:
    """What ``toygrpc trace`` and ``toygrpc show`` print: one RPC's swimlane, the stage
    table, which hooks fired, the run's files and the commands to go further."""

    def __init__(self, run: Run, rpc_index: int | None = None) -> None:
        self.run = run
        self.rpc_index = rpc_index

    def views(self) -> list[RenderableType]:
        """The swimlane and the stage table (they fit the console's width)."""
        run = self.run
        views: list[RenderableType] = []
        if run.analysis.rpcs or self.rpc_index is not None:
            views.append(RpcSwimlane(run.swimlane(self.rpc_index)))
        else:
            views.append(Text("no RPCs in this run: no swimlane to draw", "yellow"))
        views.extend((Text(), StageTable(run.stage_stats, run.manifest.capture_mode)))
        frames = run.frames
        if frames:  # captured with --tracer http
            views.extend((Text(), Http2FrameTable(frames)))
        return views

    def counts(self) -> list[Text]:
        """Which hooks fired how often, and how many RPCs are complete."""
        run, analysis = self.run, self.run.analysis
        lines: list[Text] = []
        counts = run.hook_counts
        for pid, role in run.timeline.processes.items():
            fired = ", ".join(f"{hook} {n}" for hook, n in counts.get(role, {}).items())
            lines.append(Text(f"{role} (pid {pid}) hooks fired: {fired}", "dim"))
        complete = sum(r.complete for r in analysis.rpcs)
        lines.append(Text(f"{complete}/{len(analysis.rpcs)} RPCs with complete chains, "
                          f"{analysis.links} links"))
        return lines

    def footer(self) -> list[Text]:
        """Files and commands: lines that hold paths, never to be broken."""
        run, analysis = self.run, self.run.analysis
        lines = [Text("files:", "bold")]
        lines.extend(Text(f"  {line}") for line in describe_files(run))
        if analysis.rpcs:
            lines.append(Text(f"another RPC: toygrpc show {run.run_dir} --rpc N  "
                              f"(N from 1 to {len(analysis.rpcs)})"))
        lines.append(Text.assemble(("open the trace: ", "bold"), f"toygrpc view {run.run_dir}"))
        return lines

    def print(self, console: Console) -> None:
        """Print to a terminal: the views at its width, the footer's paths unbroken."""
        for view in [*self.views(), *self.counts()]:
            console.print(view, highlight=False)
        for line in self.footer():
            console.print(line, highlight=False, soft_wrap=True)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.views()
        yield from self.counts()
        yield from self.footer()

    def _repr_mimebundle_(self, include: Sequence[str] | None = None,
                          exclude: Sequence[str] | None = None,
                          **kwargs: Any) -> dict[str, str]:
        return mimebundle(self)


def describe_files(run: Run) -> list[str]:
    """One line per file of the run directory that exists, saying what it is."""
    lines = [f"{path}  {what}" for path, what in run.layout.existing()
             if path.name != "server.stderr.txt"]
    for process in run.manifest.processes:
        folder = run.layout.process(process.role).folder
        if folder.is_dir():
            lines.append(f"{folder}/  the raw inputs of the {process.role} process")
    return lines
