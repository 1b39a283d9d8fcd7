"""The one place where the stages meet: capture -> merge -> analyse -> render.

``trace`` captures a new run, ``load_run`` reads a saved one (rebuilding the merged
timeline from the raw inputs when needed), ``write_outputs`` renders its files and
``show`` prints it. The commands, the benchmark and the Python API call these; no
stage package wires the others.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from toygrpc.errors import UsageError
from toygrpc.forked import ForkedWork

if TYPE_CHECKING:
    from rich.console import Console

    from toygrpc.analysis.run import Run
    from toygrpc.capture.launch import CaptureOptions
    from toygrpc.model.manifest import Manifest
    from toygrpc.render.perfetto import Format
    from toygrpc.render.pictures import Pictures

# What ``trace`` needs once the capture has ended, imported while the capture's processes
# start (``import_analysis``): the stages are imported where they are used, so that
# ``toygrpc trace`` starts its processes before it has imported them.
ANALYSIS_MODULES = ("toygrpc.capture.merge", "toygrpc.analysis.run", "toygrpc.render.perfetto",
                    "toygrpc.render.summary", "rich.console", "rich.text")


def import_analysis() -> None:
    """Import the merge, the analysis and the writers ``trace`` runs after the capture.

    The capture calls it once its processes are started: they take a few tenths of a
    second to import grpc and be ready, during which this process would only wait."""
    for name in ANALYSIS_MODULES:
        importlib.import_module(name)


def _ignore(*_: object) -> None:
    return None


@dataclass
class Progress:
    """Callbacks a long run reports through (the CLI draws them as a progress bar)."""

    status: Callable[[str], None] = _ignore  # what is happening now
    rpcs: Callable[[int, int], None] = _ignore  # RPCs done, out of total, during capture
    step: Callable[[int, int, str], None] = _ignore  # analysis step i of n, and its name


def default_out(mode: str) -> Path:
    """A new run directory under ``runs/``, named by the time and the mode."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / f"{stamp}-{mode}"
    n = 1
    while path.exists():
        n += 1
        path = Path("runs") / f"{stamp}-{mode}-{n}"
    return path


ANALYSIS_STEPS = ("merging the sources onto one timeline",
                  "following every completion across threads",
                  "writing the trace (events.jsonl and summary.json meanwhile)",
                  "writing events.jsonl and summary.json")


def trace(options: CaptureOptions, progress: Progress | None = None,
          trace_format: Format = "proto", pictures: Pictures | None = None) -> Run:
    """Capture what ``options`` say, merge, analyse, and write the trace (native Perfetto
    protobuf, or Chrome JSON) and summary.json; with ``pictures``, a second process draws
    the plots meanwhile (``write_plots(..., pictures)`` collects them)."""
    from toygrpc.capture.launch import capture
    from toygrpc.capture.stopping import Stopper

    progress = progress or Progress()
    stopper = Stopper()
    if pictures is not None:
        pictures.start()
    # Ctrl-C or SIGTERM: the first stops the capture cleanly (the analysis still runs),
    # the next one (or the first once nothing runs) abandons: KeyboardInterrupt.
    with stopper.installed():
        try:
            manifest = capture(options, status=progress.status, progress=progress.rpcs,
                               stopper=stopper,
                               ready=pictures.ready if pictures is not None else None,
                               started=import_analysis)
            from toygrpc.analysis.run import Run
            from toygrpc.capture.merge import build_timeline, load_or_build
            from toygrpc.render.perfetto import PerfettoRenderer

            total = len(ANALYSIS_STEPS)
            progress.step(0, total, ANALYSIS_STEPS[0])
            saved = manifest.layout.events.is_file()
            run = Run(manifest, load_or_build(manifest) if saved
                      else build_timeline(manifest))
            progress.step(1, total, ANALYSIS_STEPS[1])
            try:
                _ = run.analysis
            except Exception:
                if not saved:  # what was merged is kept, for `toygrpc show` to say why
                    run.timeline.save(run.run_dir)
                raise
            if pictures is not None:
                pictures.send(run)
            progress.step(2, total, ANALYSIS_STEPS[2])
            with ForkedWork(lambda: _write_timeline_and_summary(run, saved)) as rest:
                PerfettoRenderer(trace_format=trace_format).render(run)
                progress.step(3, total, ANALYSIS_STEPS[3])
                run.adopt(rest.join())
            progress.step(4, total, "done")
        except BaseException:
            if pictures is not None:
                pictures.cancel()
            from toygrpc.model.layout import RunLayout
            from toygrpc.render.summary import partial_path

            with suppress(OSError):  # the summary a killed writer had begun (ours)
                partial_path(RunLayout(options.out).summary).unlink()
            raise
    return run


def _write_timeline_and_summary(run: Run, saved: bool) -> dict[str, object]:
    """``events.jsonl`` (unless it was read from it) and ``summary.json``: what a forked
    child writes while ``trace`` writes the Perfetto trace. It then computes the rest of
    what the report prints (``Run.shareable``: seconds on a large run, on the core the
    child has to itself), for the parent to ``adopt``."""
    from toygrpc.render.summary import SummaryRenderer

    if not saved:
        run.timeline.save(run.run_dir)
    SummaryRenderer().render(run)
    return run.shareable()


def capture_run(options: CaptureOptions) -> Run:
    """Capture and merge, without writing any output (tests and the benchmark)."""
    from toygrpc.capture.launch import capture

    return analyse(capture(options))


def analyse(manifest: Manifest) -> Run:
    """Merge a capture's raw files afresh and analyse them (nothing read from or written
    to ``events.jsonl``): what the benchmark times."""
    from toygrpc.analysis.run import Run
    from toygrpc.capture.merge import build_timeline

    run = Run(manifest, build_timeline(manifest))
    _ = run.analysis
    return run


def load_run(run_dir: Path) -> Run:
    """A saved run, from ``events.jsonl`` or else from the raw inputs, analysed; any problem
    is one UsageError line that says which file and what to do. A damaged ``events.jsonl``
    is rebuilt from the raw inputs; what is lost is counted in ``run.timeline.losses``."""
    from toygrpc.analysis.run import DAMAGE, Run, describe_damage
    from toygrpc.capture.corelog import redact_file
    from toygrpc.capture.merge import build_timeline
    from toygrpc.model.manifest import Manifest

    manifest = Manifest.load(run_dir)
    note = ""
    traced = [p for p in manifest.processes if p.traced]
    missing = [p.role for p in traced
               if not any(path.is_file()
                          for path in manifest.layout.process(p.role).raw_inputs)]
    if manifest.layout.events.is_file():
        events_name = manifest.layout.events.name
        try:
            run = Run.load(run_dir)
            _ = run.analysis  # a damaged timeline fails here, not later in a renderer
            own = [f"{what}: {count}" for what, count in run.timeline.losses.items()
                   if events_name in what]
            if not own or missing or not traced:
                return run  # whole, or partial with nothing better to rebuild it from
            note = f"{manifest.layout.events} is damaged ({', '.join(own)})"
        except UsageError as exc:
            note = str(exc)
        except DAMAGE as exc:
            note = f"{manifest.layout.events} is damaged ({describe_damage(exc)})"
    if not traced or missing:
        what = (f"the raw files of {', '.join(missing)} are missing ("
                + ", ".join(f"{manifest.process_dir(role)}/" for role in missing) + ")"
                if missing else "the manifest lists no traced process")
        first = note.split(";")[0] if note else (f"it has no {manifest.layout.events.name} "
                                                 "to show")
        raise UsageError(f"{manifest.run_dir} is incomplete: {first}, and {what} to rebuild "
                         "it from; capture the run again")
    if manifest.options.get("keep_values") is not True:
        for proc in traced:  # a capture cut short (toygrpc killed) may not have done it
            redact_file(manifest.layout.process(proc.role).core_log)
    try:
        run = Run(manifest, build_timeline(manifest))
        _ = run.analysis
    except DAMAGE as exc:
        raise UsageError(f"{manifest.run_dir}: the raw files could not be merged "
                         f"({describe_damage(exc)}); capture the run again") from None
    if note:
        run.timeline.diagnostics.append(note.split(";")[0] + ": rebuilt from the raw files")
    with suppress(OSError):  # a read-only run directory still shows
        run.timeline.save(manifest.run_dir)  # the derived file, for the next time
    return run


def say_losses(run: Run, console: Console) -> None:
    """Say loudly, on ``console``, that a run is partial and what it lost."""
    from rich.text import Text

    if run.timeline.partial:
        console.print(Text(f"partial run: {sum(run.timeline.losses.values())} losses counted; "
                           "the analysis covers what was captured", "bold red"), soft_wrap=True)
        for what, count in run.timeline.losses.items():
            console.print(Text(f"  lost: {what}: {count}", "red"), soft_wrap=True)


def write_plots(run: Run, rpc_index: int | None, console: Console,
                pictures: Pictures | None = None) -> list[Path]:
    """The swimlane and stage pictures in the run directory (those ``pictures`` drew, if
    given); a failure is a note, not fatal."""
    from rich.text import Text

    from toygrpc.render.pictures import DrawingFailed

    if pictures is not None and pictures.rpc_index == rpc_index:
        try:
            return pictures.wait()
        except (UsageError, OSError) as exc:
            console.print(Text(f"plots not written: {exc}", "yellow"), soft_wrap=True)
            return []
        except DrawingFailed:
            pass  # drawn here instead
        finally:
            pictures.cancel()
    try:
        from toygrpc.render.base import FileRenderer
        from toygrpc.render.plots import StagesPlot, SwimlanePlot

        renderers: list[FileRenderer] = [StagesPlot()]
        if run.analysis.rpcs or rpc_index is not None:
            renderers.insert(0, SwimlanePlot(rpc=rpc_index))
        return [path for renderer in renderers for path in renderer.render(run)]
    except (UsageError, OSError) as exc:
        console.print(Text(f"plots not written: {exc}", "yellow"), soft_wrap=True)
        return []


def report(run: Run, console: Console, rpc_index: int | None = None,
           plots: bool = True, pictures: Pictures | None = None) -> None:
    """Draw the pictures (unless told not to; or wait for ``pictures``), then print the
    run's report."""
    from toygrpc.model.timeline import collector_paused
    from toygrpc.render.terminal import RunReport

    if plots:
        with console.status("drawing swimlane.svg and stages.svg"):
            write_plots(run, rpc_index, console, pictures)
    with collector_paused():  # the run's objects stay: a full pass would find no garbage
        RunReport(run, rpc_index).print(console)


def show(run_dir: Path, rpc_index: int | None = None, as_json: bool = False,
         width: int | None = None, plots: bool = True, console: Console | None = None) -> int:
    """``toygrpc show``: print a saved run (swimlane, stage table, files) or its JSON."""
    from rich.console import Console
    from rich.text import Text

    from toygrpc.analysis.swimlane import pick_rpc
    from toygrpc.render.show_json import ShowJson

    run = load_run(run_dir)
    if rpc_index is not None:
        pick_rpc(run.analysis, rpc_index)  # out of range: say so before writing anything
    console = console or Console(width=width)
    if as_json:
        say_losses(run, Console(stderr=True))
        if plots:
            write_plots(run, rpc_index, Console(stderr=True))
        console.file.write(json.dumps(ShowJson(rpc_index).render(run), indent=1) + "\n")
        return 0
    errors = Console(stderr=True, width=width)
    for line in run.timeline.diagnostics:
        errors.print(Text(f"toygrpc: {line}", "yellow"), soft_wrap=True)
    say_losses(run, errors)
    report(run, console, rpc_index, plots=plots)
    return 0
