"""``toygrpc trace client|server|both|run``: capture, then merge, analyse and render."""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from toygrpc.cmdline import Subcommands
from toygrpc.errors import UsageError
from toygrpc.model.types import DRIVERS, Mode

if TYPE_CHECKING:
    from toygrpc.capture.launch import CaptureOptions

MODES: dict[Mode, str] = {
    "client": "start the Hello server (untraced) and trace the Hello client calling it",
    "server": "trace the Hello server while an untraced client (Python or Node) drives it",
    "both": "trace the Hello server and the Hello client, on one timeline",
    "run": "trace your own grpc.aio program, unchanged: toygrpc trace run [OPTIONS] SCRIPT "
           "[ARGS...], or -m MODULE [ARGS...] as with python -m (options go before SCRIPT; "
           "what follows it is the program's)",
}


def register(commands: Subcommands) -> None:
    from toygrpc.client import add_workload_arguments

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
            sub.add_argument("-m", dest="module", action="store_true",
                             help="SCRIPT is a module name, run as `python -m SCRIPT` would "
                             "(from the current directory)")
            sub.add_argument("script", metavar="SCRIPT", help="the Python program to run")
            sub.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                             help="arguments passed to the program")
        else:
            add_workload_arguments(sub, default_rpcs=100)
        if mode == "client":
            sub.add_argument("--target", metavar="HOST:PORT",
                             help="trace the client against this running server instead of "
                             "starting one")
        if mode in ("client", "both"):
            from toygrpc.client import SCENARIOS

            sub.add_argument("--scenario", choices=tuple(SCENARIOS), metavar="NAME",
                             help="make every RPC fail on purpose and trace how: " + "; ".join(
                                 f"{s.name} ({s.help})" for s in SCENARIOS.values()))
        if mode == "server":
            sub.add_argument("--driver", choices=DRIVERS, default="python",
                             help="the untraced client that drives the server (default python)")
        sub.add_argument("--out", type=Path, metavar="DIR",
                         help="run directory to write (default runs/<time>-<mode>)")
        sub.add_argument("--no-python", action="store_true",
                         help="leave viztracer off: hooks and the core's trace only")
        sub.add_argument("--python-from-start", action="store_true",
                         help="record the Python layer from interpreter start (imports "
                         "included); by default it starts at the first channel or server")
        sub.add_argument("--format", choices=("proto", "json"), default="proto",
                         help="trace file: proto = trace.perfetto-trace, native Perfetto "
                         "(default); json = trace.json, Chrome JSON for other tools")
        sub.add_argument("--tracer", action="append", default=[], metavar="NAME",
                         help="an extra core tracer besides api (http, tcp, call, channel...); "
                         "repeatable")
        sub.add_argument("--force", action="store_true",
                         help="overwrite --out if it already holds a run")
        output = sub.add_mutually_exclusive_group()
        output.add_argument("--json", action="store_true",
                            help="print the run as one JSON object on stdout (what `toygrpc "
                            "show --json` prints, and each process's exit status), no report")
        output.add_argument("--quiet", "-q", action="store_true",
                            help="no progress bar and no report: only warnings and errors")
        sub.set_defaults(handler=run)


def options_from_args(args: argparse.Namespace) -> CaptureOptions:
    """The capture options the arguments describe; checks them and changes nothing."""
    from toygrpc.addresses import parse_host_port
    from toygrpc.capture.launch import DEFAULT_TRACERS, CaptureOptions
    from toygrpc.pipeline import default_out

    out: Path = args.out or default_out(args.mode)
    if out.exists() and any(out.iterdir()) and not args.force:
        raise UsageError(f"{out} already exists and is not empty: choose another --out "
                         "or add --force to overwrite it")
    if args.no_python and args.python_from_start:
        raise UsageError("--python-from-start needs the Python layer: drop --no-python")
    target = getattr(args, "target", None)
    if target is not None:
        parse_host_port(target, what="--target")
    script: tuple[str, ...] = ()
    if args.mode == "run" and getattr(args, "module", False):
        check_module(args.script)
        script = ("-m", args.script, *args.args)
    elif args.mode == "run":
        if not Path(args.script).is_file():
            raise UsageError(f"no such program: {args.script} (pass the path of a Python script)")
        script = (args.script, *args.args)
    if getattr(args, "driver", "python") == "node":
        from toygrpc.interop import node

        node.check_node_ready()  # before anything starts: a missing part is one line
    return CaptureOptions(
        mode=args.mode, out=out, rpcs=getattr(args, "rpcs", 0),
        concurrency=getattr(args, "concurrency", 1), method=getattr(args, "method", "unary"),
        target=target, python_layer=not args.no_python,
        python_from_start=args.python_from_start,
        tracers=(*DEFAULT_TRACERS, *[t for t in args.tracer if t not in DEFAULT_TRACERS]),
        driver=getattr(args, "driver", "python"), script=script,
        messages=getattr(args, "messages", 3), scenario=getattr(args, "scenario", None) or "",
    )


def check_module(name: str) -> None:
    """A UsageError unless ``python -m name`` would find the module's top-level package.

    Looked up, not imported: importing the user's code here would run it untraced."""
    import importlib.machinery
    import os

    top = name.split(".", 1)[0]
    if not all(part.isidentifier() for part in name.split(".")):
        raise UsageError(f"-m {name}: not a module name (a dotted Python name, as for python -m)")
    if top in sys.builtin_module_names:
        return
    if importlib.machinery.PathFinder.find_spec(top, [os.getcwd(), *sys.path]) is None:
        raise UsageError(f"no module named {top!r} (-m {name}): run from the directory that "
                         "holds it, or install it")


def clear_out(out: Path) -> None:
    """Empty the run directory that --force allows to overwrite (arguments already checked)."""
    if out.exists() and any(out.iterdir()):
        shutil.rmtree(out)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from toygrpc import pipeline

    options = options_from_args(args)
    clear_out(options.out)
    console = Console(stderr=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    as_json, quiet = getattr(args, "json", False), getattr(args, "quiet", False)
    # With --json, stdout is the JSON alone: a traced program's own output goes to stderr.
    program_output = contextlib.redirect_stdout(sys.stderr) if as_json else \
        contextlib.nullcontext()
    with program_output, Progress(*columns, console=console, transient=True,
                                  disable=as_json or quiet) as bar:
        task = bar.add_task("capturing", total=None)
        progress = pipeline.Progress(
            status=lambda text: bar.update(task, description=text),
            rpcs=lambda done, total: bar.update(task, completed=done, total=total),
            step=lambda i, n, text: bar.update(task, completed=i, total=n, description=text),
        )
        run = pipeline.trace(options, progress, trace_format=args.format)
    for line in run.timeline.diagnostics:
        console.print(f"[yellow]toygrpc: {line}[/yellow]", highlight=False, soft_wrap=True)
    failed = [p for p in run.manifest.processes
              if p.exit_status not in (0, None) and p.role != "server"]
    if as_json:
        from toygrpc.render.show_json import ShowJson

        pipeline.write_plots(run, None, console)
        report = ShowJson().render(run)
        report["processes"] = [{"role": p.role, "traced": p.traced, "exit_status": p.exit_status}
                               for p in run.manifest.processes]
        print(json.dumps(report, indent=1))
    elif quiet:
        pipeline.write_plots(run, None, console)
    else:
        pipeline.report(run, Console())
    return 1 if failed else 0

