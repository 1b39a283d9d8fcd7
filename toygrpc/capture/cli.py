"""``toygrpc trace client|server|both|run``: capture, then merge, analyse and render."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

from toygrpc.capture.launch import DEFAULT_TRACERS, CaptureOptions, capture
from toygrpc.errors import UsageError

MODES = {
    "client": "start the Hello server (untraced) and trace the Hello client calling it",
    "server": "trace the Hello server while an untraced client (Python or Node) drives it",
    "both": "trace the Hello server and the Hello client, on one timeline",
    "run": "trace your own grpc.aio program, unchanged: toygrpc trace run [OPTIONS] SCRIPT "
           "[ARGS...] (options go before SCRIPT; what follows it is the program's)",
}


def add_commands(commands: Any) -> None:
    from toygrpc.client import METHODS, positive_int

    trace = commands.add_parser(
        "trace", help="capture a real grpc.aio run: hooks, the core's trace and viztracer",
        description="Run grpc.aio processes under capture and write a run directory: the raw "
        "inputs (core log, hook events, viztracer output) and the merged timeline.",
    )
    modes = trace.add_subparsers(dest="mode", metavar="MODE", required=True,
                                 parser_class=type(trace))
    for mode, help_text in MODES.items():
        sub = modes.add_parser(mode, help=help_text, description=help_text)
        if mode == "run":
            sub.add_argument("script", metavar="SCRIPT", help="the Python program to run")
            sub.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                             help="arguments passed to the program")
        else:
            sub.add_argument("--rpcs", type=positive_int, default=100, metavar="N",
                             help="how many RPCs (default 100)")
            sub.add_argument("--concurrency", type=positive_int, default=1, metavar="C",
                             help="RPCs in flight at once (default 1)")
            sub.add_argument("--method", default="unary", choices=(*METHODS, "all"),
                             help="method shape (default unary)")
        if mode in ("client",):
            sub.add_argument("--target", metavar="HOST:PORT",
                             help="trace the client against this running server instead of "
                             "starting one")
        if mode == "server":
            sub.add_argument("--driver", choices=("python", "node"), default="python",
                             help="the untraced client that drives the server (default python)")
        sub.add_argument("--out", type=Path, metavar="DIR",
                         help="run directory to write (default runs/<time>-<mode>)")
        sub.add_argument("--no-python", action="store_true",
                         help="leave viztracer off: hooks and the core's trace only")
        sub.add_argument("--tracer", action="append", default=[], metavar="NAME",
                         help="an extra core tracer besides api (http, tcp, call, channel...); "
                         "repeatable")
        sub.add_argument("--force", action="store_true",
                         help="overwrite --out if it already holds a run")
        sub.set_defaults(handler=run_trace)


def default_out(mode: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / f"{stamp}-{mode}"
    n = 1
    while path.exists():
        n += 1
        path = Path("runs") / f"{stamp}-{mode}-{n}"
    return path


def options_from_args(args: argparse.Namespace) -> CaptureOptions:
    from toygrpc.addresses import parse_host_port

    out: Path = args.out or default_out(args.mode)
    if out.exists() and any(out.iterdir()):
        if not args.force:
            raise UsageError(f"{out} already exists and is not empty: choose another --out "
                             "or add --force to overwrite it")
        shutil.rmtree(out)
    target = getattr(args, "target", None)
    if target is not None:
        parse_host_port(target, what="--target")
    script: tuple[str, ...] = ()
    if args.mode == "run":
        if not Path(args.script).is_file():
            raise UsageError(f"no such program: {args.script} (pass the path of a Python script)")
        script = (args.script, *args.args)
    return CaptureOptions(
        mode=args.mode, out=out, rpcs=getattr(args, "rpcs", 0),
        concurrency=getattr(args, "concurrency", 1), method=getattr(args, "method", "unary"),
        target=target, python_layer=not args.no_python,
        tracers=(*DEFAULT_TRACERS, *[t for t in args.tracer if t not in DEFAULT_TRACERS]),
        driver=getattr(args, "driver", "python"), script=script,
    )


def run_trace(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from toygrpc.analysis.chains import analyze
    from toygrpc.capture.merge import load_or_build
    from toygrpc.render.perfetto import PerfettoRenderer
    from toygrpc.render.report import print_report
    from toygrpc.render.summary import SummaryRenderer

    options = options_from_args(args)
    console = Console(stderr=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("capturing", total=None)

        def status(text: str) -> None:
            bar.update(task, description=text)

        def rpcs_done(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        cap = capture(options, status=status, progress=rpcs_done)
        bar.update(task, total=4, completed=0, description="merging the sources onto one "
                   "timeline")
        timeline = load_or_build(cap)
        bar.update(task, completed=1, description="following every completion across threads")
        analysis = analyze(timeline)
        bar.update(task, completed=2, description="writing trace.json")
        PerfettoRenderer().render(timeline, analysis, cap.run_dir)
        bar.update(task, completed=3, description="writing summary.json")
        SummaryRenderer().render(cap, timeline, analysis, cap.run_dir)
        bar.update(task, completed=4)
    for line in timeline.diagnostics:
        console.print(f"[yellow]toygrpc: {line}[/yellow]", highlight=False, soft_wrap=True)
    print_report(cap, timeline, analysis)
    failed = [p for p in cap.processes if p.exit_status not in (0, None) and p.role != "server"]
    return 1 if failed else 0
