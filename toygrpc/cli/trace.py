"""``toygrpc trace client|server|both|run``: capture, then merge, analyse and render."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from toygrpc.cmdline import Subcommands, positive_int, positive_seconds
from toygrpc.errors import EXIT_INTERRUPTED, UsageError
from toygrpc.model.types import DRIVERS, Mode

if TYPE_CHECKING:
    from collections.abc import Iterator

    from toygrpc import pipeline
    from toygrpc.capture.launch import CaptureOptions
    from toygrpc.render.pictures import Pictures

MODES: dict[Mode, str] = {
    "client": "start the Hello server (untraced) and trace the Hello client calling it",
    "server": "trace the Hello server while an untraced client (Python or Node) drives it",
    "both": "trace the Hello server and the Hello client, on one timeline",
    "run": "trace your own grpc.aio program, unchanged: toygrpc trace run [OPTIONS] SCRIPT "
           "[ARGS...], or -m MODULE [ARGS...] as with python -m (options go before SCRIPT; "
           "what follows it is the program's)",
}


def register(commands: Subcommands) -> None:
    from toygrpc.workload import SCENARIOS, add_workload_arguments, scenario_help

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
            sub.add_argument("--scenario", choices=tuple(SCENARIOS), metavar="NAME",
                             help="make every RPC fail on purpose and trace how: "
                             + scenario_help())
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
                         "repeatable. http: the HTTP/2 frames each process receives, its "
                         "write states and stream ops become events and a frame table "
                         "(header values redacted unless --keep-values)")
        sub.add_argument("--sample-threads", type=positive_int, metavar="MS",
                         help="every MS milliseconds, record what each thread of the traced "
                         "process is doing, read from /proc (Linux): name, state, the system "
                         "call it waits in, and for an epoll wait the fds it watches. Shows "
                         "grpc's C threads (poller, EventEngine pool, lifeguard), which log "
                         "nothing while they wait. Off by default")
        sub.add_argument("--force", action="store_true",
                         help="replace --out if it holds a previous run (only a run: any "
                         "other directory, or a file the run did not make, is refused)")
        sub.add_argument("--tracer-entries", type=positive_int, metavar="N",
                         help="viztracer's buffer in entries (default: sized for the run; a "
                         "full buffer drops the oldest Python events, and the run says so)")
        sub.add_argument("--keep-values", action="store_true",
                         help="keep metadata values in core.log and the timeline (by default "
                         "they are redacted: they may hold tokens)")
        if mode == "run":
            sub.add_argument("--timeout", type=positive_seconds, metavar="SECONDS",
                             help="stop the program (as Ctrl-C does) after SECONDS")
        sub.add_argument("--plots", action="store_true",
                         help="also draw swimlane.svg/.png and stages.svg/.png (needs the "
                         "[plots] extra, matplotlib; a second process draws them, which "
                         "takes longer than the rest). Off by default: `toygrpc show RUN` "
                         "draws them later")
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
    check_out(out, args.force)
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
        check_python_program(Path(args.script))
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
        tracer_entries=args.tracer_entries, keep_values=args.keep_values,
        timeout_s=getattr(args, "timeout", None),
        sample_threads_ms=args.sample_threads or 0,
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


def check_python_program(path: Path) -> None:
    """The program ``trace run`` runs must be a Python source file that compiles."""
    if not path.is_file():
        raise UsageError(f"no such program: {path} (pass the path of a Python script)")
    try:
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        where = f" (line {exc.lineno}: {exc.msg})" if isinstance(exc, SyntaxError) else ""
        raise UsageError(f"{path} is not a Python program{where}: trace run runs Python "
                         "scripts") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _previous_run(out: Path) -> list[Path] | None:
    """The files of the run in ``out`` (what --force may delete), or None if ``out`` is not
    a run or holds anything a run does not make."""
    from toygrpc.model.manifest import Manifest

    try:
        manifest = Manifest.load(out)
        ours, foreign = manifest.layout.files_of_run([p.role for p in manifest.processes])
    except (UsageError, OSError):
        return None
    return None if foreign else ours


def check_out(out: Path, force: bool) -> None:
    """--out must be a directory we can write, empty or (with --force) a previous run."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory: choose another --out")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"--out {out} is under {parent}, which is a file: choose another --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: {parent} is not writable: choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UsageError(f"{out} already exists and is not empty: choose another --out "
                             "or, if it holds a previous run, add --force to replace it")
        if _previous_run(out) is None:
            raise UsageError(f"{out} is not a toygrpc run (or holds files a run does not "
                             "make): --force only replaces a previous run; choose another --out")


def clear_out(out: Path) -> None:
    """Delete the previous run that --force replaces, file by file: only what a run makes
    (every argument has been checked before this is called)."""
    if not (out.is_dir() and any(out.iterdir())):
        return
    files = _previous_run(out)
    if files is None:  # checked already; never delete what is not a run
        raise UsageError(f"{out} is not a toygrpc run: --force only replaces a previous run")
    for path in files:  # a folder comes after its files
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()


def make_out(out: Path) -> None:
    """Create --out; an environment error (read-only, /proc, full disk) is one line."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".toygrpc-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write --out {out}: {exc.strerror or exc}; choose another "
                         "--out") from None


def plots_hint(run_dir: Path) -> str:
    """The report's line, when ``--plots`` was not given, that says how to get the pictures."""
    return (f"pictures: toygrpc show {run_dir} draws swimlane.svg/.png and stages.svg/.png "
            "(or trace with --plots)")


def run(args: argparse.Namespace) -> int:
    if not getattr(args, "plots", False):
        return _run(args, None)
    from toygrpc.render.pictures import Pictures  # light: no matplotlib here

    # First thing: the drawing process imports matplotlib on the other core while this
    # one imports the rest (the capture lets no RPC start before it is done).
    pictures = Pictures().start()
    try:
        return _run(args, pictures)
    finally:
        if not pictures.sent:
            pictures.cancel()  # a usage error, or an abandoned run: nothing to draw


@contextlib.contextmanager
def progress_bar(shown: bool) -> Iterator[pipeline.Progress]:
    """The capture's progress as a bar on stderr; nothing at all (rich's bar not even
    imported: ``--quiet`` and ``--json`` start their capture sooner) unless ``shown``."""
    from toygrpc import pipeline

    if not shown:
        yield pipeline.Progress()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("capturing", total=None)
        yield pipeline.Progress(
            status=lambda text: bar.update(task, description=text),
            rpcs=lambda done, total: bar.update(task, completed=done, total=total),
            step=lambda i, n, text: bar.update(task, completed=i, total=n, description=text),
        )


def _run(args: argparse.Namespace, pictures: Pictures | None) -> int:
    """The trace command; with ``pictures`` (``--plots``) it draws them too."""
    from toygrpc import pipeline

    options = options_from_args(args)
    clear_out(options.out)
    make_out(options.out)
    as_json, quiet = getattr(args, "json", False), getattr(args, "quiet", False)
    # With --json, stdout is the JSON alone: a traced program's own output goes to stderr.
    program_output = contextlib.redirect_stdout(sys.stderr) if as_json else \
        contextlib.nullcontext()
    try:
        with program_output, progress_bar(not (as_json or quiet)) as progress:
            run = pipeline.trace(options, progress, trace_format=args.format,
                                 pictures=pictures)
    except KeyboardInterrupt:
        from rich.console import Console
        from rich.text import Text

        Console(stderr=True).print(
            Text(f"toygrpc: analysis abandoned; the raw files and the manifest are in "
                 f"{options.out}: `toygrpc show {options.out}` analyses them", "yellow"),
            soft_wrap=True)
        return EXIT_INTERRUPTED
    except OSError as exc:  # a full disk while writing: the run so far stays
        raise UsageError(f"cannot write the run in {options.out}: "
                         f"{exc.strerror or exc}") from None
    from rich.console import Console
    from rich.text import Text

    console = Console(stderr=True)
    for line in run.timeline.diagnostics:
        console.print(Text(f"toygrpc: {line}", "yellow"), soft_wrap=True)
    pipeline.say_losses(run, console)
    failed = [p for p in run.manifest.processes
              if p.exit_status not in (0, None) and p.role != "server"]
    if as_json:
        from toygrpc.render.show_json import ShowJson

        if pictures is not None:
            pipeline.write_plots(run, None, console, pictures)
        report = ShowJson().render(run)
        report["processes"] = [{"role": p.role, "traced": p.traced, "exit_status": p.exit_status}
                               for p in run.manifest.processes]
        print(json.dumps(report, indent=1))
    elif quiet:
        if pictures is not None:
            pipeline.write_plots(run, None, console, pictures)
    else:
        out = Console()
        pipeline.report(run, out, plots=pictures is not None, pictures=pictures)
        if pictures is None:
            out.print(Text(plots_hint(run.run_dir)), highlight=False, soft_wrap=True)
    if options.mode == "run":  # the program's own status, as if it had run alone
        statuses = [p.exit_status for p in run.manifest.processes if p.role == "program"]
        status = statuses[0] if statuses and statuses[0] is not None else 1
        return 128 - status if status < 0 else status  # killed by a signal: 128 + its number
    if run.manifest.stopped:  # analysed, but the workload was cut short by the user
        return EXIT_INTERRUPTED
    return 1 if failed else 0

