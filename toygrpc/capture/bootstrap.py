"""Run a program, unchanged, inside a traced process: ``python -m toygrpc.capture.bootstrap``.

The launcher (``toygrpc.capture.launch``) starts every traced process through this
module. It installs the hooks before the program imports anything, optionally starts
viztracer, runs the program as ``__main__`` (a script path or ``-m module``), and on
the way out writes what it recorded into ``--out``: ``hooks.jsonl`` (+ the hook report),
``viztracer.json`` and ``clock.json``. The core's trace goes to this process's stderr,
which the launcher sends to ``core.log``.

viztracer starts when the program first touches grpc (a channel or a server is made):
interpreter start-up and imports are not the story. (The harness's own frames are
taken out when the timeline is merged: ``toygrpc.capture.merge.without_harness``.)
``--python-from-start`` records from before the program's first line instead.
"""

from __future__ import annotations

import argparse
import functools
import json
import runpy
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from toygrpc.capture import hooks
from toygrpc.model.layout import ProcessLayout

CLOCK_SAMPLES = 25


def sample_clock(getts: Any) -> dict[str, float]:
    """Bracket viztracer's clock between two CLOCK_REALTIME reads; keep the tightest pair.

    Returns the offset (realtime ns minus viztracer us * 1000) and the bracket's width,
    which bounds the error of mapping viztracer's timestamps onto the common clock.
    """
    best: dict[str, float] = {}
    for _ in range(CLOCK_SAMPLES):
        before = time.time_ns()
        tracer_us = float(getts())
        after = time.time_ns()
        width = after - before
        if not best or width < best["width_ns"]:
            best = {"offset_ns": (before + after) / 2 - tracer_us * 1000, "width_ns": width,
                    "realtime_ns": (before + after) / 2}
    return best


def start_on_first_grpc_use(start: Callable[[], None]) -> None:
    """Call ``start`` once, when the program first makes a grpc.aio channel or server."""
    try:
        from grpc.aio import _channel, _server
    except ImportError:
        start()  # no grpc.aio to wait for: record everything rather than nothing
        return
    started = False

    def wrap(cls: type) -> None:
        original = cls.__init__  # type: ignore[misc]  # reading a class's __init__

        @functools.wraps(original)
        def __init__(self: object, *args: Any, **kwargs: Any) -> None:
            nonlocal started
            if not started:
                started = True
                start()
            original(self, *args, **kwargs)

        cls.__init__ = __init__  # type: ignore[misc]  # the seam: first channel or server

    wrap(_channel.Channel)
    wrap(_server.Server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toygrpc.capture.bootstrap")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--viztracer", action="store_true")
    parser.add_argument("--tracer-entries", type=int, default=2_000_000)
    parser.add_argument("--python-from-start", action="store_true",
                        help="record the Python layer from interpreter start, not from the "
                        "program's first channel or server")
    parser.add_argument("-m", dest="module", action="store_true",
                        help="the target is a module name, as with python -m")
    parser.add_argument("target")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    out: Path = options.out
    files = ProcessLayout(out)
    out.mkdir(parents=True, exist_ok=True)

    recorder = hooks.install()
    tracer = None
    clock: dict[str, Any] = {}
    if options.viztracer:
        from viztracer import VizTracer

        tracer = VizTracer(tracer_entries=options.tracer_entries, verbose=0,
                           output_file=str(files.viztracer), register_global=True)

        def start_tracer() -> None:
            clock["start"] = sample_clock(tracer.getts)
            tracer.start()

        if options.python_from_start:
            start_tracer()
        else:
            start_on_first_grpc_use(start_tracer)

    sys.argv = [options.target, *options.args]
    status = 0
    try:
        if options.module:
            runpy.run_module(options.target, run_name="__main__", alter_sys=True)
        else:
            sys.path.insert(0, str(Path(options.target).resolve().parent))
            runpy.run_path(options.target, run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
    except KeyboardInterrupt:
        status = 130
    finally:
        if tracer is not None and "start" in clock:
            tracer.stop()
            clock["end"] = sample_clock(tracer.getts)
            tracer.save(verbose=0)
        hooks.check_loop(recorder)
        recorder.save(files)
        files.clock.write_text(json.dumps(clock, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
