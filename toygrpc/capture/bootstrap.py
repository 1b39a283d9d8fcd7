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

Stopping: SIGINT (Ctrl-C) stops the program as Ctrl-C does; SIGTERM is turned into a
SIGINT, so that a terminated program stops the same way and still writes its files.
Once the program has returned, both are ignored and garbage collection is off while
the files are written: a collection there could run a cygrpc deallocation that waits
on a lock grpc's teardown holds, and hang the process for good. A program stopped by
a signal then leaves at once (``os._exit``), without the interpreter's teardown, which
can hang the same way. With ``--quick-exit`` (the launcher passes it to the Hello client,
toygrpc's own program, whose teardown writes nothing: grpc is shut down when its event
loop closes), what the process made is frozen once the files are written, so that the
interpreter's exit skips its last garbage collections (about 40 ms with grpc and viztracer
loaded, on the capture's critical path); a user's program ends as it would alone.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import runpy
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from toygrpc.capture import hooks
from toygrpc.capture.threads import TASKS, ThreadSampler
from toygrpc.model.layout import ProcessLayout

CLOCK_SAMPLES = 25


def _terminate_as_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM: stop the program as Ctrl-C would (asyncio.run cancels its main task)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once; the launcher escalates if needed
    os.kill(os.getpid(), signal.SIGINT)


def _quiet_shutdown() -> None:
    """Ignore further stop signals and keep the garbage collector out of the way."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    gc.disable()


class CoreLogBuffer:
    """C's stderr, where the core writes its trace, fully buffered while the program runs.

    The core writes each line of its trace with one ``fwrite`` to stderr, which C leaves
    unbuffered: a system call per line, about 17 per unary call, made on the thread that
    logs (the event loop's among them). Buffered, they go out a block at a time; each line
    is still whole and in the order written (``fwrite`` holds the stream's lock), at the
    time the core stamped when it logged. Once the program has returned, ``unbuffer``
    writes out what is pending and makes stderr unbuffered again, so that the lines of the
    teardown (the core's cleanup thread logs after the interpreter's exit has flushed C's
    streams) are written as they come, as without the buffer. ``flush`` is for the hook
    report's size check and the hooks' writer thread, which calls it with every chunk:
    a process killed with -9 keeps the core's lines up to then, as it keeps the hooks'
    events.

    Only for a program that writes nothing to stderr itself (``--buffer-core-log``: the
    launcher's Hello client and server, the benchmark's workload): a line a program writes
    to ``sys.stderr`` goes to the file at once, and takes its time from the core line
    before it in ``core.log``, which the buffer would hold back."""

    SIZE = 1 << 16
    FULLY_BUFFERED, UNBUFFERED = 0, 2  # glibc's _IOFBF and _IONBF

    def __init__(self) -> None:
        self.flush: Callable[[], None] = _nothing
        self.unbuffer: Callable[[], None] = _nothing
        self.error = ""

    def install(self) -> bool:
        """Buffer C's stderr; False if it cannot (``error`` says why)."""
        try:
            import ctypes

            libc = ctypes.CDLL(None)
            stream = ctypes.c_void_p(ctypes.c_void_p.in_dll(libc, "stderr").value)
            libc.malloc.restype = ctypes.c_void_p
            # C's own memory, never freed: the stream may use it until the process ends,
            # after the interpreter has freed its objects.
            buffer = libc.malloc(self.SIZE)
            if not buffer or libc.setvbuf(stream, ctypes.c_void_p(buffer),
                                          self.FULLY_BUFFERED, self.SIZE) != 0:
                self.error = "setvbuf refused"
                return False
        except (OSError, AttributeError, ValueError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            return False

        def flush() -> None:
            libc.fflush(stream)

        def unbuffer() -> None:
            libc.setvbuf(stream, None, self.UNBUFFERED, 0)  # writes out what is pending

        self.flush, self.unbuffer = flush, unbuffer
        return True


def _nothing() -> None:
    pass


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
            # whole nanoseconds in integers: a float holds 1.8e18 only to 256 ns
            middle = (before + after) // 2
            best = {"offset_ns": middle - round(tracer_us * 1000), "width_ns": width,
                    "realtime_ns": middle}
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


def import_viztracer() -> Any:
    """viztracer's tracer class, imported without trio.

    viztracer's C module imports trio, if installed, when it loads (a quarter of a second
    of the traced process's start-up, on the critical path of every capture), only to
    name trio tasks with ``log_async``, which is never on here. The import is refused
    while viztracer loads and allowed again after: a program that uses trio still has it."""
    refused = "trio" not in sys.modules
    if refused:
        sys.modules["trio"] = None  # type: ignore[assignment]  # None: refuse the import
    try:
        from viztracer import VizTracer
    finally:
        if refused:
            del sys.modules["trio"]
    return VizTracer


def start_sampler(recorder: hooks.Recorder, interval_ms: int) -> ThreadSampler | None:
    """Start the /proc thread sampler if asked for; say so in the hook report either way."""
    if interval_ms <= 0:
        return None
    if not TASKS.is_dir():
        recorder.note_failure("threads.sample", f"{TASKS} does not exist (Linux only)")
        return None
    sampler = ThreadSampler(recorder.add, recorder.pid, interval_ms / 1000)
    sampler.start()
    recorder.attached["threads.sample"] = f"/proc/self/task every {interval_ms} ms"
    return sampler


def _hook_groups(text: str) -> tuple[str, ...]:
    groups = tuple(g for g in text.split(",") if g)
    unknown = [g for g in groups if g not in hooks.HOOK_GROUPS]
    if unknown:
        raise argparse.ArgumentTypeError(f"no hook group {', '.join(unknown)}")
    return groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toygrpc.capture.bootstrap")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--viztracer", action="store_true")
    parser.add_argument("--tracer-entries", type=int, default=2_000_000)
    parser.add_argument("--python-from-start", action="store_true",
                        help="record the Python layer from interpreter start, not from the "
                        "program's first channel or server")
    parser.add_argument("--sample-threads", type=int, default=0, metavar="MS",
                        help="sample every thread's name, state and system call from /proc "
                        "every MS milliseconds (0: off)")
    parser.add_argument("--hook-groups", type=_hook_groups, default=tuple(hooks.HOOK_GROUPS),
                        metavar="G1,G2", help="install only these groups of hooks, comma-"
                        f"separated, of {', '.join(hooks.HOOK_GROUPS)} (default: all; "
                        "toygrpc bench --ablation measures each one's cost)")
    parser.add_argument("--quick-exit", action="store_true",
                        help="once the files are written, freeze the heap: the exit skips the "
                        "interpreter's last garbage collections (for programs whose teardown "
                        "finalizes nothing, as toygrpc's Hello client)")
    parser.add_argument("--buffer-core-log", action="store_true",
                        help="buffer C's stderr (the core's trace) while the program runs, "
                        "for a program that writes nothing to stderr itself (toygrpc's "
                        "Hello client and server)")
    parser.add_argument("-m", dest="module", action="store_true",
                        help="the target is a module name, as with python -m")
    parser.add_argument("target")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    out: Path = options.out
    files = ProcessLayout(out)
    out.mkdir(parents=True, exist_ok=True)

    # A launcher started from a script may have SIGINT ignored; the program must not.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    recorder = hooks.RECORDER
    core_log = CoreLogBuffer()
    if options.buffer_core_log:
        if core_log.install():
            recorder.flush_core_log = core_log.flush
        else:
            recorder.note_failure("core.log buffer", "C's stderr stays unbuffered, a system "
                                  f"call per line of the core's trace ({core_log.error})")
    hooks.KEEP_ASYNCIO_FRAMES = options.viztracer  # the Python layer shows asyncio as it runs
    recorder.start_writing(files)  # before viztracer starts: its thread is not traced
    sampler = start_sampler(recorder, options.sample_threads)  # likewise
    hooks.install(recorder, options.hook_groups)
    recorder.write_report(files)
    tracer = None
    clock: dict[str, Any] = {}
    if options.viztracer:
        VizTracer = import_viztracer()

        # dump_raw: viztracer writes its buffer straight from C instead of first turning
        # every entry into a Python object (about 2 GB at 10,000 RPCs); the same entries,
        # times printed to the nanosecond.
        tracer = VizTracer(tracer_entries=options.tracer_entries, verbose=0, dump_raw=True,
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
    interrupted = False
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
        status, interrupted = 130, True
    finally:
        _quiet_shutdown()
        try:
            if tracer is not None and "start" in clock:
                tracer.stop()
                clock["end"] = sample_clock(tracer.getts)
            files.clock.write_text(json.dumps(clock, indent=2))
            if tracer is not None and "start" in clock:
                # No file_info: it would copy the source of every traced file (and whatever
                # literal it holds) into the run; nothing here reads it.
                tracer.save(verbose=0, file_info=False)
            if "loop" in options.hook_groups:
                hooks.check_loop(recorder)
            if sampler is not None:
                sampler.stop()
            recorder.save(files)
        finally:  # the teardown's lines as they come, as without the buffer
            core_log.unbuffer()
        if options.quick_exit:
            gc.freeze()
    if interrupted or status == 130:  # stopped by Ctrl-C, whoever caught it
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


if __name__ == "__main__":
    sys.exit(main())
