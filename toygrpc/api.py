"""The Python API: capture a run, or load a saved one, and look at it (docs/api.md).

Every capture runs the traced programs in subprocesses, so it works the same from a
script, a test or a notebook (the notebook's own event loop is never touched)::

    import toygrpc
    trace = toygrpc.trace_client(rpcs=20)     # the Hello client, traced
    trace                                      # in Jupyter: swimlane, stage table, trace
    trace.rpcs[0].stages()                     # one RPC's stage durations (ns)
    trace.stages                               # the stage table (p50/p90/p99/max)
    trace.swimlane(3)                          # RPC 3 as a swimlane
    trace.trace_path                           # the file to open in Perfetto
    toygrpc.load("runs/20261125-130000-client")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult

from toygrpc import pipeline
from toygrpc.analysis.chains import Chain, Rpc
from toygrpc.analysis.run import Run
from toygrpc.capture.launch import DEFAULT_TRACERS, CaptureOptions, check_scenario
from toygrpc.errors import UsageError
from toygrpc.model.types import Driver, Mode
from toygrpc.render.notebook import RunView, swimlane_svg
from toygrpc.render.summary import build_summary
from toygrpc.render.terminal import RpcSwimlane, StageComparison, StageTable


class Trace:
    """A captured run with what it shows: chains, RPCs, stages, pictures and the trace."""

    def __init__(self, run: Run) -> None:
        self.run = run

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir

    @property
    def rpcs(self) -> list[Rpc]:
        return self.run.analysis.rpcs

    @property
    def chains(self) -> list[Chain]:
        return self.run.analysis.chains

    @property
    def capture_mode(self) -> str:
        """Which observers were on ("hooks", "hooks + core trace", "... + Python layer"):
        their cost is inside every stage time, so quote a number with its mode."""
        return self.run.manifest.capture_mode

    @property
    def hook_spans(self) -> StageTable:
        """The spans hooks alone measure (waiter life, resume, Python before and after),
        the same way in every capture mode: the figure a lighter mode gives."""
        return StageTable(self.run.hook_span_stats, self.capture_mode,
                          "What hooks alone measure")

    @property
    def stages(self) -> StageTable:
        """p50/p90/p99/max of every stage (a view; ``.stats`` holds the numbers)."""
        return StageTable(self.run.stage_stats, self.capture_mode)

    def swimlane(self, rpc: int | None = None) -> SwimlaneView:
        """RPC number ``rpc`` (1-based, as in summary.json) as a swimlane; default typical."""
        return SwimlaneView(self.run, rpc)

    @property
    def summary(self) -> dict[str, Any]:
        """The run in numbers, as summary.json holds it."""
        return build_summary(self.run)

    @property
    def trace_path(self) -> Path:
        """The trace file for the Perfetto UI (``toygrpc view`` serves it)."""
        return self.run.layout.trace

    def figures(self, rpc: int | None = None) -> list[Path]:
        """Write swimlane.svg/.png and stages.svg/.png into the run directory."""
        return pipeline.write_plots(self.run, rpc, Console(stderr=True))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield RunView(self.run)

    def _repr_mimebundle_(self, include: Sequence[str] | None = None,
                          exclude: Sequence[str] | None = None,
                          **kwargs: Any) -> dict[str, str]:
        return RunView(self.run)._repr_mimebundle_()

    def __repr__(self) -> str:
        return (f"<toygrpc.Trace {self.run.manifest.mode} ({self.capture_mode}) "
                f"{self.run_dir}: {len(self.rpcs)} RPCs, {self.run.analysis.links} links>")


class SwimlaneView:
    """One RPC's swimlane: text in a terminal, the picture and the rows in a notebook."""

    def __init__(self, run: Run, rpc: int | None) -> None:
        self.model = run.swimlane(rpc)
        self._run, self._rpc = run, rpc

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield RpcSwimlane(self.model)

    def _repr_mimebundle_(self, include: Sequence[str] | None = None,
                          exclude: Sequence[str] | None = None,
                          **kwargs: Any) -> dict[str, str]:
        bundle = RpcSwimlane(self.model)._repr_mimebundle_()
        svg = swimlane_svg(self._run, self._rpc)
        if svg:
            bundle["text/html"] = svg + bundle["text/html"]
        return bundle


def _tracers(core_trace: bool, extra: Sequence[str]) -> tuple[str, ...]:
    """The core tracers to switch on: none at all when the core trace is off."""
    if not core_trace:
        if extra:
            raise UsageError("extra core tracers need the core trace: drop tracers= "
                             "or core_trace=False")
        return ()
    return (*DEFAULT_TRACERS, *extra)


def _trace(mode: Mode, out: str | Path | None, quiet: bool, **options: Any) -> Trace:
    path = Path(out) if out is not None else pipeline.default_out(mode)
    if path.exists() and any(path.iterdir()):
        raise UsageError(f"{path} already exists and is not empty: pass another out=")
    capture = CaptureOptions(mode=mode, out=path, **options)
    progress = None if quiet else pipeline.Progress(status=lambda text: None)
    return Trace(pipeline.trace(capture, progress))


def trace_client(rpcs: int = 100, concurrency: int = 1, method: str = "unary",
                 python_layer: bool = True, out: str | Path | None = None,
                 target: str | None = None, tracers: Sequence[str] = (),
                 core_trace: bool = True, quiet: bool = True, messages: int = 3,
                 scenario: str = "") -> Trace:
    """Start the Hello server, trace the Hello client making ``rpcs`` calls (``messages``
    per stream; ``scenario``: calls that fail on purpose, as ``--scenario``).

    ``core_trace=False`` leaves the core's log off (hooks only: the lightest mode, whose
    chains stop at the Python-visible steps)."""
    return _trace("client", out, quiet, rpcs=rpcs, concurrency=concurrency, method=method,
                  python_layer=python_layer, target=target,
                  tracers=_tracers(core_trace, tracers), messages=messages,
                  scenario=check_scenario(scenario))


def trace_server(rpcs: int = 100, concurrency: int = 1, method: str = "unary",
                 python_layer: bool = True, out: str | Path | None = None,
                 driver: Driver = "python", tracers: Sequence[str] = (),
                 core_trace: bool = True, quiet: bool = True) -> Trace:
    """Trace the Hello server while an untraced client drives it."""
    return _trace("server", out, quiet, rpcs=rpcs, concurrency=concurrency, method=method,
                  python_layer=python_layer, driver=driver,
                  tracers=_tracers(core_trace, tracers))


def trace_both(rpcs: int = 100, concurrency: int = 1, method: str = "unary",
               python_layer: bool = True, out: str | Path | None = None,
               core_trace: bool = True, quiet: bool = True, messages: int = 3,
               scenario: str = "") -> Trace:
    """Trace the Hello server and client on one timeline, each RPC linked across."""
    return _trace("both", out, quiet, rpcs=rpcs, concurrency=concurrency, method=method,
                  python_layer=python_layer, tracers=_tracers(core_trace, ()),
                  messages=messages, scenario=check_scenario(scenario))


def trace_script(script: str | Path, *args: str, python_layer: bool = True,
                 out: str | Path | None = None, core_trace: bool = True,
                 quiet: bool = True) -> Trace:
    """Trace your own grpc.aio program, unchanged."""
    if not Path(script).is_file():
        raise UsageError(f"no such program: {script}")
    return _trace("run", out, quiet, python_layer=python_layer, script=(str(script), *args),
                  tracers=_tracers(core_trace, ()))


def compare(statistic: str = "p50", spans: str = "stages", show_modes: bool = True,
            **traces: Trace) -> StageComparison:
    """One statistic of every stage, side by side: ``compare(c1=a, c100=b)``. Each column
    names its capture mode, since the observers' cost is inside every number.
    ``spans="hooks"`` compares the coarser spans that hooks alone measure (``HOOK_SPANS``),
    the same way in every mode: how the lighter mode's figure is set beside a heavier one.
    ``show_modes=False`` leaves the modes out of the headers (when the labels name them)."""
    if statistic not in ("p50", "p90", "p99", "max"):
        raise UsageError(f"statistic must be p50, p90, p99 or max, not {statistic!r}")
    if spans not in ("stages", "hooks"):
        raise UsageError(f"spans must be stages or hooks, not {spans!r}")
    return StageComparison({label: t.run.stage_stats if spans == "stages"
                            else t.run.hook_span_stats for label, t in traces.items()},
                           {label: t.capture_mode for label, t in traces.items()}
                           if show_modes else {}, statistic)


def load(run_dir: str | Path) -> Trace:
    """A saved run directory (what ``toygrpc trace`` wrote), analysed again."""
    return Trace(pipeline.load_run(Path(run_dir)))
