"""Hooks installed inside the traced process: the Python-visible seams of grpc.aio's glue.

The Cython glue (``grpc._cython.cygrpc``) makes no Python frames, so viztracer cannot
see it. It does, however, reach back into Python objects at a few places, and each of
those is a seam this module takes (see docs/capture.md for the evidence):

- ``socket.socketpair()`` when the poller is created: the poller's wake-up fds;
- ``loop.add_reader(read_socket, partial(_handle_events, loop))``: wrapped, each call
  is one drain of the poller's queue on the loop's thread;
- ``loop.create_future()``: every waiter future grpc makes (asyncio's own C Future:
  no subclass, so the awaiting C task keeps its fast path);
- ``loop.call_soon(callback, future)``: how a future that ``CallbackWrapper.functor_run``
  resolved (``set_result``/``set_exception``) schedules its done callbacks, from C; the
  first is the resolution, and the awaiting task's wake-up, wrapped, is its resume;
- the selector's ``select()`` returning the poller's fd: the wake-up;
- ``threading.Thread.run``: the poller thread's birth and native id;
- module-level functions of cygrpc called through the module's globals
  (``execute_batch``, the server's ``_handle_rpc`` ...): wrapped into spans;
- grpc.aio's multicallables (pure Python): where each client RPC starts and ends.

Each event is appended to one in-memory list (``Recorder``) as a tuple, so the hot path
does no I/O and builds no dict; a writer thread appends them to ``hooks.jsonl`` in chunks
as the run goes, so a process killed or cut off keeps what it recorded up to its last
chunk. The hook report
says how many events were written and whether the process finished, so a reader can
tell a whole file from a cut one.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import itertools
import json
import os
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from toygrpc.model.events import (
    MESSAGE_GLUE,
    DrainSpan,
    Event,
    FutureCancelled,
    FutureCreated,
    FutureResolved,
    GlueSpan,
    HandlerSerialization,
    LoopWake,
    PollerSocket,
    RpcFinished,
    RpcStarted,
    TaskFinished,
    TaskResumed,
    ThreadStarted,
)
from toygrpc.model.layout import ProcessLayout
from toygrpc.workload import LINK_ENV  # the launcher sets it (both, run)

now = time.time_ns  # CLOCK_REALTIME, the clock the core's log lines are stamped with
native_id = threading.get_native_id
current_task = asyncio.current_task

# Module-level coroutine functions of cygrpc that its own code calls through the module's
# globals, so that replacing them on the module intercepts those calls.
GLUE_FUNCTIONS = (
    "execute_batch",
    "_receive_message",
    "_send_message",
    "_send_initial_metadata",
    "_receive_initial_metadata",
    "_send_error_status_from_server",
    "_handle_rpc",
    "_find_method_handler",
    "_handle_unary_unary_rpc",
    "_handle_unary_stream_rpc",
    "_handle_stream_unary_rpc",
    "_handle_stream_stream_rpc",
    "_finish_handler_with_unary_response",
    "_finish_handler_with_stream_responses",
    "_schedule_rpc_coro",
    "_handle_exceptions",
    "_handle_cancellation_from_core",
)
# Which positional argument of a glue function is the call object (client ``_AioCall``
# or server ``RPCState``), so spans can be grouped per RPC.
CALL_ARGUMENT = {
    "execute_batch": 0, "_receive_message": 0, "_send_message": 0,
    "_send_initial_metadata": 0, "_receive_initial_metadata": 0,
    "_send_error_status_from_server": 0, "_handle_rpc": 3, "_handle_unary_unary_rpc": 1,
    "_handle_unary_stream_rpc": 1, "_handle_stream_unary_rpc": 1,
    "_handle_stream_stream_rpc": 1, "_finish_handler_with_unary_response": 0,
    "_finish_handler_with_stream_responses": 0, "_schedule_rpc_coro": 1,
    "_handle_exceptions": 0, "_handle_cancellation_from_core": 1,
}
# Server glue functions that run the handler: their fourth argument is the servicer
# context, which knows the status code the handler ended with.
HANDLER_FINISHERS = ("_finish_handler_with_unary_response",
                     "_finish_handler_with_stream_responses")
# The server's deadline is the client's plus the request headers' transit (grpc-timeout
# counts from when the client sent them), and the client's RST_STREAM at its deadline takes
# a transit of its own: on a loaded machine the two differ by milliseconds either way. A
# cancellation this close to the server's deadline is taken for the deadline's.
DEADLINE_TOLERANCE_S = 0.05
REQUEST_CALL_TASKS = ("_request_registered_call", "_request_call")
MULTICALLABLES = (
    "UnaryUnaryMultiCallable", "UnaryStreamMultiCallable",
    "StreamUnaryMultiCallable", "StreamStreamMultiCallable",
)

SAMPLE_THREADS_AT_DRAINS = (1, 64)
WRITE_INTERVAL_S = 0.25  # how often the writer thread appends recorded events to the file
WRITER_THREAD_NAME = "toygrpc-hooks-writer"

LINK_METADATA_KEY = "toygrpc-link"

_current_batch: contextvars.ContextVar[int] = contextvars.ContextVar("toygrpc_batch", default=0)
_current_call: contextvars.ContextVar[int] = contextvars.ContextVar("toygrpc_call", default=0)


@dataclass
class Recorder:
    """Collects events and per-hook diagnostics; one per traced process."""

    pid: int = field(default_factory=os.getpid)
    # (kind, ts, tid, *its other fields in declaration order): one tuple, no dict, no
    # dataclass, on the hot path; the writer names the fields (``record_fields``).
    events: list[tuple[Any, ...]] = field(default_factory=list)
    attached: dict[str, str] = field(default_factory=dict)  # hook -> how it attached
    failed: dict[str, str] = field(default_factory=dict)  # hook -> why it could not
    drain_seq: Iterable[int] = field(default_factory=lambda: itertools.count(1))
    batch_seq: Iterable[int] = field(default_factory=lambda: itertools.count(1))
    link_seq: Iterable[int] = field(default_factory=lambda: itertools.count(1))  # process-wide
    # OS tid -> [id, futures resolved so far] of the drain running on that thread: per
    # thread, because several loops (one per thread) may drain the one poller at once.
    drains: dict[int, list[int]] = field(default_factory=dict)
    socketpairs: dict[int, int] = field(default_factory=dict)  # read fd -> write fd
    poller_fds: set[int] = field(default_factory=set)

    thread_names: dict[str, str] = field(default_factory=dict)  # OS tid -> name
    written: int = 0  # events appended to hooks.jsonl
    dropped: int = 0  # events that could not be written (reported, never silent)
    write_error: str = ""
    # Writes out what C's stderr holds (the core log, when the bootstrap buffers it).
    flush_core_log: Callable[[], None] = field(default=lambda: None)

    def sample_thread_names(self) -> None:
        """Read the names of every thread alive now, the core's own included (Linux)."""
        for comm in Path("/proc/self/task").glob("*/comm"):
            try:
                self.thread_names[comm.parent.name] = comm.read_text().strip()
            except OSError:
                continue

    def add(self, kind: type[Event], **fields: Any) -> None:
        """Record an event by its field names (those of its ``model.events`` class; ``pid``
        is the recorder's). Hooks on the hot path append the tuple themselves: a frozen
        dataclass costs a few µs to build, a dict of keywords about one; the writer writes
        the fields, and the reader builds the dataclass."""
        values: list[Any] = []
        for f in dataclasses.fields(kind):
            if f.name in ("ts", "pid", "tid"):
                continue
            if f.name in fields:
                values.append(fields[f.name])
            elif f.default is not dataclasses.MISSING:
                values.append(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                values.append(f.default_factory())
            else:
                raise TypeError(f"{kind.kind} needs {f.name}")
        self.events.append((kind, fields["ts"], fields["tid"], *values))

    def note_failure(self, hook: str, why: str) -> None:
        self.failed[hook] = why
        print(f"toygrpc: hook {hook} could not attach: {why}", file=sys.stderr, flush=True)

    # --- writing: in chunks, as the run goes ------------------------------------------

    def start_writing(self, files: ProcessLayout, interval_s: float = WRITE_INTERVAL_S) -> None:
        """Open ``hooks.jsonl`` and append recorded events to it every ``interval_s`` from a
        daemon thread: what a killed process recorded up to its last chunk stays on disk."""
        self._files = files
        self._out = files.hooks.open("w")
        self._write_lock = threading.Lock()
        self._stop_writing = threading.Event()
        self._writer = threading.Thread(target=self._write_loop, args=(interval_s,),
                                        name=WRITER_THREAD_NAME, daemon=True)
        self._writer.start()

    def _write_loop(self, interval_s: float) -> None:
        while not self._stop_writing.wait(interval_s):
            self.flush()
            self.flush_core_log()  # the core's trace too: a killed process keeps it to here

    def flush(self, timeout_s: float = -1) -> None:
        """Append the events recorded so far. Taken from the head of the list by slice and
        ``del``, each atomic under the GIL, so hooks appending meanwhile lose nothing.
        With ``timeout_s``, a writer thread stuck mid-chunk (a garbage collection there
        can wait on grpc's teardown) makes the rest counted as dropped, not a hang."""
        out: IO[str] | None = getattr(self, "_out", None)
        if out is None:
            return
        if not self._write_lock.acquire(timeout=timeout_s):
            self.dropped += len(self.events)
            self.write_error = self.write_error or "the writer thread did not finish"
            return
        try:
            self._write_chunk(out)
        finally:
            self._write_lock.release()

    def _write_chunk(self, out: IO[str]) -> None:
        count = len(self.events)
        if not count:
            return
        chunk = self.events[:count]
        del self.events[:count]
        lines = []
        pid = str(self.pid)
        for entry in chunk:
            try:
                lines.append(_json_line(entry, pid))
            except (TypeError, ValueError):
                self.dropped += 1  # not JSON-able: counted in the report, never silent
        try:
            out.write("\n".join(lines) + "\n" if lines else "")
            out.flush()
            self.written += len(lines)
        except OSError as exc:  # a full disk: count what is lost, say it once
            self.dropped += len(lines)
            if not self.write_error:
                self.write_error = f"{type(exc).__name__}: {exc.strerror or exc}"


    def report(self, finished: bool) -> dict[str, Any]:
        """The hook report: attachments, counts, and whether the process finished."""
        core_log_bytes = -1
        try:
            sys.stderr.flush()
            self.flush_core_log()
            core_log_bytes = os.fstat(2).st_size  # stderr is the core log file
        except (OSError, ValueError):
            pass
        return {"pid": self.pid, "attached": self.attached, "failed": self.failed,
                "threads": self.thread_names, "finished": finished,
                "events_written": self.written, "events_dropped": self.dropped,
                "write_error": self.write_error, "core_log_bytes": core_log_bytes}

    def write_report(self, files: ProcessLayout, finished: bool = False) -> None:
        """Write the hook report (at start, so that a killed process still has one)."""
        temporary = files.hook_report.with_name(files.hook_report.name + ".tmp")
        temporary.write_text(json.dumps(self.report(finished), indent=2))
        temporary.replace(files.hook_report)  # never a half-written report

    def save(self, files: ProcessLayout) -> None:
        """Stop the writer, append the last events, and write the final hook report.

        Called with garbage collection off (see bootstrap): a collection here could run a
        cygrpc deallocation that waits on a lock grpc's teardown holds."""
        if getattr(self, "_out", None) is None:
            self.start_writing(files, interval_s=3600)
        self._stop_writing.set()
        self._writer.join(timeout=5)
        self.flush(timeout_s=5)
        try:
            self._out.close()
        except OSError as exc:
            self.write_error = self.write_error or f"{type(exc).__name__}: {exc}"
        self.sample_thread_names()
        self.write_report(files, finished=True)


RECORDER = Recorder()
_record = RECORDER.events.append  # the hot path's one call per event (the list is never replaced)


_record_fields: dict[type[Event], tuple[str, ...]] = {}


def record_fields(kind: type[Event]) -> tuple[str, ...]:
    """The fields a recorded tuple holds after (kind, ts, tid), in declaration order."""
    names = _record_fields.get(kind)
    if names is None:
        names = _record_fields[kind] = tuple(
            f.name for f in dataclasses.fields(kind) if f.name not in ("ts", "pid", "tid"))
    return names


_caller_names: dict[Any, str] = {}  # code object -> "path-tail:function"


_line_keys: dict[type[Event], list[str]] = {}  # kind -> the JSON text before each value
_encoded: dict[Any, str] = {}  # strings and tuples that recur (callers, names, ops...)
ENCODED_CACHE_SIZE = 4096


def _encode(value: Any) -> str:
    """A field value as ``json.dumps`` writes it (ints, bools, strings, tuples of them)."""
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    text = _encoded.get(value) if kind is str or kind is tuple else None
    if text is None:
        text = json.dumps(value, separators=(",", ":"))
        if (kind is str or kind is tuple) and len(_encoded) < ENCODED_CACHE_SIZE:
            _encoded[value] = text
    return text


def _json_line(entry: tuple[Any, ...], pid: str) -> str:
    """A recorded tuple as its ``hooks.jsonl`` line: the bytes ``json.dumps`` would write
    for the event's dict (kind, ts, pid, tid, then its fields in order), about four times
    faster, which matters: the writer thread shares the GIL with the traced program."""
    kind = entry[0]
    keys = _line_keys.get(kind)
    if keys is None:
        keys = _line_keys[kind] = [f'{{"kind":{json.dumps(kind.kind)},"ts":', ',"pid":',
                                   ',"tid":'] + [f',"{name}":' for name in record_fields(kind)]
    parts = [keys[0], str(entry[1]), keys[1], pid, keys[2], str(entry[2])]
    # (a tuple may leave out trailing fields that have defaults)
    for key, value in zip(keys[3:], entry[3:], strict=False):
        parts.append(key)
        parts.append(_encode(value))
    parts.append("}")
    return "".join(parts)


def _caller(depth: int = 2) -> str:
    """The nearest Python frame above ``depth`` that is not a hook, as ``path-tail:function``."""
    frame: Any = sys._getframe(depth)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    if frame is None:
        return "?"
    code = frame.f_code
    name = _caller_names.get(code)
    if name is None:
        filename = code.co_filename
        cut = filename.rfind("site-packages/")
        tail = filename[cut + 14 :] if cut >= 0 else filename.rsplit("/", 2)[-1]
        name = _caller_names[code] = f"{tail}:{code.co_name}"
    return name


# asyncio's future as asyncio itself makes it: the C ``_asyncio.Future`` when the
# accelerator is built (always, on CPython). The hooks never subclass it: a C task awaits
# an exact Future or Task on its fast path, anything else through Python attribute calls.
PLAIN_FUTURE: type[asyncio.Future[Any]] = asyncio.Future
TASK_WAKEUPS = ("task_wakeup", "__wakeup")  # the C task's wake-up callback, the Python one's
_loop_call_soon = asyncio.BaseEventLoop.call_soon
KEEP_ASYNCIO_FRAMES = False  # set by the bootstrap when viztracer records the Python layer
_default_select = selectors.DefaultSelector.select
_poller_fds = RECORDER.poller_fds  # the recorder's set, never replaced


def _done_marker(future: Any) -> None:
    """The first done callback of every future the loop makes: ``call_soon`` records the
    resolution when the future schedules it, and drops it (it never runs)."""


def _record_done(future: Any, future_id: int) -> None:
    """A future the loop made has just resolved or been cancelled: it is scheduling its
    first done callback (the marker), which a future does inside ``set_result``,
    ``set_exception`` or ``cancel``, in the queue drain that is running, if any."""
    if future.cancelled():
        _record((FutureCancelled, now(), native_id(), future_id))
        return
    rec = RECORDER
    tid = native_id()
    running = rec.drains.get(tid)
    drain = 0
    if running is not None:
        drain = running[0]
        running[1] += 1
    exception = future._exception  # the attribute, not exception(): that marks it retrieved
    if exception is None:
        _record((FutureResolved, now(), tid, future_id, True, drain, ""))
    else:
        _record((FutureResolved, now(), tid, future_id, False, drain, type(exception).__name__))


def _record_resume(future_id: int, wakeup: Callable[[Any], None]) -> Callable[[Any], None]:
    """The task's wake-up, recording when it runs: the awaiting coroutine goes on."""

    def resumed(future: Any) -> None:
        _record((TaskResumed, now(), native_id(), future_id))
        wakeup(future)

    return resumed


class TracingSelector(selectors.DefaultSelector):
    """Records when ``select()`` returns with the poller's read fd ready."""

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        started = now()
        ready: list[tuple[selectors.SelectorKey, int]] = _default_select(self, timeout)
        if ready and _poller_fds:
            for key, _ in ready:
                if key.fd in _poller_fds:
                    ended = now()
                    _record((LoopWake, ended, native_id(), key.fd, ended - started))
                    break
        return ready


class TracingEventLoop(asyncio.SelectorEventLoop):
    """asyncio's default loop with the seams grpc.aio uses wrapped."""

    def __init__(self) -> None:
        super().__init__(TracingSelector())
        # what call_soon returns for the marker it drops (a C future ignores it)
        self._dropped = asyncio.Handle(_done_marker, (None,), self)
        self._dropped.cancel()
        self._last_done: Any = None  # the future resolved last (its task's wake-up is next)
        # asyncio's own call_soon checks the loop is open, then queues a handle with
        # _call_soon (3.8 to 3.13); where that is not so, or where viztracer records the
        # Python layer (which should show asyncio's own call_soon), it is called instead
        self._inline_call_soon = (not KEEP_ASYNCIO_FRAMES and hasattr(self, "_closed")
                                  and hasattr(self, "_call_soon"))

    def create_future(self) -> asyncio.Future[Any]:
        future = PLAIN_FUTURE(loop=self)
        future.add_done_callback(_done_marker)
        task = current_task(self)
        _record((FutureCreated, now(), native_id(), id(future), _caller(), _current_batch.get(),
                 0 if task is None else id(task)))
        return future

    def call_soon(  # type: ignore[override]  # the same call, without the stubs' generics
        self, callback: Callable[..., Any], *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        """Where a resolved future schedules its done callbacks (from C, for a C future):
        the marker ``create_future`` put first is its resolution (recorded, dropped); the
        awaiting task's wake-up that follows is wrapped to record the resume. Other calls
        (task steps...) pass straight on."""
        if callback is _done_marker:
            self._last_done = future = args[0]
            _record_done(future, id(future))
            return self._dropped
        if args and args[0] is self._last_done and (
                getattr(callback, "__name__", "") in TASK_WAKEUPS):
            callback = _record_resume(id(args[0]), callback)
        loop: Any = self  # asyncio's private attributes, which the stubs do not declare
        if loop._debug or not self._inline_call_soon:
            return _loop_call_soon(self, callback, *args, context=context)
        # BaseEventLoop.call_soon without debug, one frame less: this override then costs
        # the untraced loop nothing on the calls it only passes on (task steps...)
        if loop._closed:
            raise RuntimeError("Event loop is closed")
        handle: asyncio.Handle = loop._call_soon(callback, args, context)
        return handle

    def create_task(self, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = super().create_task(coro, **kwargs)
        name = getattr(coro, "__name__", "")
        if name in REQUEST_CALL_TASKS:
            task_id = id(task)

            def finished(done: asyncio.Task[Any]) -> None:
                result = None if done.cancelled() or done.exception() else done.result()
                _record((TaskFinished, now(), native_id(), task_id, name,
                         0 if result is None else id(result)))

            task.add_done_callback(finished)
        return task

    def add_reader(  # type: ignore[override]  # the hook accepts what grpc passes, untyped
        self, fd: Any, callback: Callable[..., Any], *args: Any
    ) -> None:
        func = getattr(callback, "func", None)
        if isinstance(callback, functools.partial) and getattr(func, "__name__", "") == (
            "_handle_events"
        ):
            callback = _traced_drain(callback)
            read_fd = fd if isinstance(fd, int) else fd.fileno()
            rec = RECORDER
            rec.poller_fds.add(read_fd)
            rec.add(PollerSocket, ts=now(), pid=rec.pid, tid=native_id(), read_fd=read_fd,
                    write_fd=rec.socketpairs.get(read_fd, -1))
            rec.attached["loop.add_reader"] = "wrapped PollerCompletionQueue._handle_events"
            rec.attached["loop.wake"] = f"selector watches fd {read_fd}"
        super().add_reader(fd, callback, *args)


def _traced_drain(handle_events: Callable[[], None]) -> Callable[[], None]:
    def drain() -> None:
        rec = RECORDER
        drain_id = next(rec.drain_seq)  # type: ignore[call-overload]  # an itertools.count
        if drain_id in SAMPLE_THREADS_AT_DRAINS:
            rec.sample_thread_names()  # the core's threads exist while calls are in flight
        tid = native_id()
        outer = rec.drains.get(tid)
        running = rec.drains[tid] = [drain_id, 0]
        started = now()
        try:
            handle_events()
        finally:
            _record((DrainSpan, started, tid, now() - started, drain_id, running[1]))
            if outer is None:
                del rec.drains[tid]
            else:
                rec.drains[tid] = outer

    return drain


class TracingEventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """Makes ``asyncio.run`` and ``new_event_loop`` give a ``TracingEventLoop``."""

    _loop_factory = TracingEventLoop


def _install_socketpair(rec: Recorder) -> None:
    original = socket.socketpair

    @functools.wraps(original)
    def socketpair(*args: Any, **kwargs: Any) -> tuple[socket.socket, socket.socket]:
        pair = original(*args, **kwargs)
        rec.socketpairs[pair[0].fileno()] = pair[1].fileno()
        return pair

    socket.socketpair = socketpair
    rec.attached["poller.socketpair"] = "socket.socketpair"


def _install_thread_run(rec: Recorder) -> None:
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        tid = native_id()
        rec.add(ThreadStarted, ts=now(), pid=rec.pid, tid=tid, name=self.name, native_id=tid)
        original(self)

    threading.Thread.run = run  # type: ignore[method-assign]  # the hook is the point
    rec.attached["poller.thread"] = "threading.Thread.run"


def _wrap_glue(name: str, original: Callable[..., Any], rec: Recorder) -> Callable[..., Any]:
    call_position = CALL_ARGUMENT.get(name, -1)
    is_batch = name == "execute_batch"
    is_handler = name == "_handle_rpc"
    is_lookup = name == "_find_method_handler"
    is_finisher = name in HANDLER_FINISHERS
    is_error_status = name == "_send_error_status_from_server"
    is_message = name in MESSAGE_GLUE

    async def traced(*args: Any, **kwargs: Any) -> Any:
        started = now()
        tid = native_id()
        batch_id, token, call_token, detail = 0, None, None, ""
        ops: tuple[str, ...] = ()
        if is_batch:  # (installed as _wrap_execute_batch; kept for a batch by another name)
            batch_id = next(rec.batch_seq)  # type: ignore[call-overload]  # an itertools.count
            ops = _op_names(args[1])
            token = _current_batch.set(batch_id)
        call = id(args[call_position]) if 0 <= call_position < len(args) else 0
        if is_handler:
            detail = str(args[0])
            call_token = _current_call.set(call)
        elif is_lookup:
            call = _current_call.get()
            detail = _link_from_metadata(args[1] if len(args) > 1 else ())
        elif is_message and args:
            detail = "client" if type(args[0]).__name__ == "_AioCall" else "server"
        elif is_error_status and len(args) > 2:
            _record((RpcFinished, started, tid, call, _code_name(args[1]), "server",
                     str(args[2] or "")))
        error = ""
        try:
            return await original(*args, **kwargs)
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            if is_finisher and error in ("", "CancelledError") and len(args) > 3:
                status, details = _handler_status(args[3], cancelled=bool(error))
                _record((RpcFinished, now(), tid, call, status, "server", details))
            if token is not None:
                _current_batch.reset(token)
            if call_token is not None:
                _current_call.reset(call_token)
            _record((GlueSpan, started, tid, now() - started, name, batch_id, ops, error, call,
                     detail))

    traced.__name__ = traced.__qualname__ = name
    return traced


def _wrap_execute_batch(original: Callable[..., Any], rec: Recorder) -> Callable[..., Any]:
    """``execute_batch`` (one per batch of every RPC: the hot one), with no more than its
    span needs: the batch's number for the waiter it makes, its ops, its call, its end."""
    batch_seq = rec.batch_seq

    async def execute_batch(*args: Any, **kwargs: Any) -> Any:
        started = now()
        if len(args) > 2 and not isinstance(args[2], TracingEventLoop):
            _foreign_loop(rec, args[2])
        batch_id: int = next(batch_seq)  # type: ignore[call-overload]  # an itertools.count
        token = _current_batch.set(batch_id)
        error = ""
        try:
            return await original(*args, **kwargs)
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            _current_batch.reset(token)
            _record((GlueSpan, started, native_id(), now() - started, "execute_batch", batch_id,
                     _op_names(args[1]) if len(args) > 1 else (), error,
                     id(args[0]) if args else 0, ""))

    return execute_batch


_op_names_of: dict[tuple[type, ...], tuple[str, ...]] = {}  # op classes -> their names


def _op_names(operations: Any) -> tuple[str, ...]:
    """The class names of a batch's operations (a handful of shapes recur: cached)."""
    classes = tuple(map(type, operations))
    names = _op_names_of.get(classes)
    if names is None:
        names = _op_names_of[classes] = tuple(cls.__name__ for cls in classes)
    return names


def _foreign_loop(rec: Recorder, loop: Any) -> None:
    """grpc runs on a loop that is not ours: say which, once."""
    hook = "loop.create_future"
    if hook in rec.failed:
        return
    kind = type(loop)
    rec.note_failure(hook, f"grpc.aio runs on {kind.__module__}.{kind.__qualname__}, not on "
                     "asyncio's default loop: futures, drains and wake-ups cannot be hooked "
                     "there (uvloop and other C loops); glue spans and the core trace are "
                     "still recorded")


def _link_from_metadata(metadata: Any) -> str:
    try:
        for key, value in metadata:
            if key == LINK_METADATA_KEY:
                return str(value)
    except (TypeError, ValueError):
        pass
    return ""


def _install_glue(rec: Recorder) -> None:
    try:
        from grpc._cython import cygrpc
    except ImportError as exc:
        rec.note_failure("glue.execute_batch", f"grpc._cython.cygrpc did not import: {exc}")
        return
    missing = []
    for name in GLUE_FUNCTIONS:
        original = getattr(cygrpc, name, None)
        if original is None:
            missing.append(name)
            continue
        wrap = _wrap_execute_batch if name == "execute_batch" else _wrap_glue
        setattr(cygrpc, name, wrap(original, rec) if wrap is _wrap_execute_batch
                else _wrap_glue(name, original, rec))
    if "execute_batch" in missing:
        rec.note_failure("glue.execute_batch",
                         f"cygrpc has no module-level execute_batch in grpcio {_grpc_version()}")
    else:
        rec.attached["glue.execute_batch"] = "cygrpc.execute_batch"
        rec.attached["glue.client"] = "cygrpc message functions, called by client calls"
    server_missing = [n for n in missing if n != "execute_batch"]
    if server_missing:
        rec.attached["glue.server"] = "partial: missing " + ", ".join(server_missing)
    else:
        rec.attached["glue.server"] = f"{len(GLUE_FUNCTIONS) - 1} cygrpc server functions"


def _traced_codec(name: str, method: str, original: Callable[[Any], Any],
                  rec: Recorder) -> Callable[[Any], Any]:
    """A handler's (de)serializer that records each call (``HandlerSerialization``)."""
    def codec(value: Any) -> Any:
        started = now()
        result = original(value)
        raw = value if name == "request_deserializer" else result
        rec.add(HandlerSerialization, ts=started, pid=rec.pid, tid=native_id(),
                dur=now() - started, name=name, method=method,
                size=len(raw) if isinstance(raw, bytes | bytearray) else -1,
                call=_current_call.get())
        return result

    codec.__name__ = codec.__qualname__ = name
    return codec


def _traced_handler(method: str, handler: Any, rec: Recorder) -> Any:
    """The same method handler, its two callables wrapped (a handler without them, or
    not a namedtuple, is returned as it is)."""
    if handler is None or not hasattr(handler, "_replace"):
        return handler
    wrapped = {name: _traced_codec(name, method, getattr(handler, name), rec)
               for name in ("request_deserializer", "response_serializer")
               if callable(getattr(handler, name, None))}
    return handler._replace(**wrapped) if wrapped else handler


class _TracedGenericHandler:
    """A generic handler whose method handlers come back wrapped."""

    def __init__(self, inner: Any, rec: Recorder) -> None:
        self._inner, self._rec = inner, rec

    def service(self, handler_call_details: Any) -> Any:
        handler = self._inner.service(handler_call_details)
        return _traced_handler(str(getattr(handler_call_details, "method", "")), handler,
                               self._rec)


def _install_server_serialization(rec: Recorder) -> None:
    """Wrap the (de)serializers of every handler given to a grpc.aio server."""
    try:
        import grpc
        from grpc.aio._server import Server
    except ImportError as exc:
        rec.note_failure("glue.serialization", f"grpc.aio._server did not import: {exc}")
        return
    registered = getattr(Server, "add_registered_method_handlers", None)
    generic = getattr(Server, "add_generic_rpc_handlers", None)
    if generic is None:
        rec.note_failure("glue.serialization",
                         "grpc.aio._server.Server has no add_generic_rpc_handlers")
        return

    # a GenericRpcHandler too, for any isinstance check on the way
    traced_generic = type("TracedGenericHandler",
                          (_TracedGenericHandler, grpc.GenericRpcHandler), {})

    def add_generic_rpc_handlers(self: Any, handlers: Any) -> Any:
        return generic(self, tuple(traced_generic(h, rec) for h in handlers))

    setattr(Server, "add_generic_rpc_handlers", add_generic_rpc_handlers)  # noqa: B010
    how = "grpc.aio Server.add_generic_rpc_handlers"
    if registered is not None:
        def add_registered_method_handlers(self: Any, service: str, handlers: Any) -> Any:
            return registered(self, service, {
                name: _traced_handler(f"/{service}/{name}", handler, rec)
                for name, handler in dict(handlers).items()})

        setattr(Server, "add_registered_method_handlers",  # noqa: B010
                add_registered_method_handlers)
        how += " and add_registered_method_handlers"
    rec.attached["glue.serialization"] = how + ": handlers' (de)serializers wrapped"


def _install_multicallables(rec: Recorder) -> None:
    try:
        from grpc.aio import _channel
    except ImportError as exc:
        rec.note_failure("rpc.client", f"grpc.aio._channel did not import: {exc}")
        return
    for class_name in MULTICALLABLES:
        cls = getattr(_channel, class_name, None)
        if cls is None or not callable(cls):
            rec.note_failure("rpc.client", f"grpc.aio._channel.{class_name} is missing")
            continue
        cls.__call__ = _traced_multicallable(cls.__call__, rec)
    rec.attached.setdefault("rpc.client", "grpc.aio multicallables' __call__")


def _install_unary_await(rec: Recorder) -> None:
    """A unary-response RPC ends when the caller's ``await call`` returns: after the
    response is deserialized (grpc.aio's done callbacks run before that)."""
    try:
        from grpc.aio._call import _UnaryResponseMixin
    except ImportError as exc:
        rec.note_failure("rpc.client", f"grpc.aio._call._UnaryResponseMixin is missing: {exc}")
        return
    original = _UnaryResponseMixin.__await__

    def __await__(self: Any) -> Any:
        try:
            response = yield from original(self)
        finally:
            ended = now()
            cython_call = getattr(self, "_cython_call", None)
            status, details = _status_of(self)
            _record((RpcFinished, ended, native_id(),
                     0 if cython_call is None else id(cython_call), status, "client", details))
        return response

    _UnaryResponseMixin.__await__ = __await__


def _traced_multicallable(original: Callable[..., Any], rec: Recorder) -> Callable[..., Any]:
    link_calls = os.environ.get(LINK_ENV) == "1"
    method_names: dict[Any, str] = {}  # the method's bytes -> its name
    try:
        from grpc.aio._call import _UnaryResponseMixin as unary_response
    except ImportError:
        unary_response = None

    @functools.wraps(original)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = now()
        method = getattr(self, "_method", b"")
        name = method_names.get(method)
        if name is None:
            name = method_names[method] = (method.decode() if isinstance(method, bytes)
                                           else str(method))
        link = ""
        if link_calls:
            link = f"{rec.pid}-{next(rec.link_seq)}"  # type: ignore[call-overload]  # an itertools.count
            kwargs["metadata"] = (*(kwargs.get("metadata") or ()), (LINK_METADATA_KEY, link))
        result = original(self, *args, **kwargs)
        cython_call = getattr(result, "_cython_call", None)
        call_id = id(cython_call) if cython_call is not None else 0
        _record((RpcStarted, started, native_id(), call_id, name, "client", link))
        if unary_response is not None and isinstance(result, unary_response):
            pass  # its end is when the caller's await returns: see _install_unary_await
        elif hasattr(result, "add_done_callback"):

            def finished(done_call: Any) -> None:
                ended = now()
                status, details = _status_of(done_call)
                _record((RpcFinished, ended, native_id(), call_id, status, "client", details))
            result.add_done_callback(finished)
        return result

    return call


@functools.cache
def _status_names() -> dict[int, str]:
    import grpc

    return {c.value[0]: c.name for c in grpc.StatusCode}


def _code_name(code: Any) -> str:
    """A status code (an int, or a grpc.StatusCode) by its name."""
    value = getattr(code, "value", (code,))[0] if not isinstance(code, int) else code
    return _status_names().get(value, str(value)) if isinstance(value, int) else str(code)


def _status_of(call: Any) -> tuple[str, str]:
    """The final status of a finished grpc.aio call and its details, read without awaiting."""
    try:
        if call.cancelled():
            return "CANCELLED", "Locally cancelled by application!"
        status = call._cython_call._status
        return _code_name(status.code()), str(status.details() or "")
    except Exception as exc:  # a hook must never break the traced program
        return f"unknown ({type(exc).__name__})", ""


def _handler_status(context: Any, cancelled: bool) -> tuple[str, str]:
    """The status a server handler ended with, from its servicer context: the code it set
    (OK by default), or, cancelled, the deadline's if that had come."""
    try:
        if cancelled:
            remaining = context.time_remaining()
            if remaining is not None and remaining <= DEADLINE_TOLERANCE_S:
                return "DEADLINE_EXCEEDED", ""
            return "CANCELLED", ""
        code = context.code()
        return ("OK" if code is None else _code_name(code)), str(context.details() or "")
    except Exception as exc:  # a hook must never break the traced program
        return f"unknown ({type(exc).__name__})", ""


def _grpc_version() -> str:
    try:
        import grpc

        return str(grpc.__version__)
    except ImportError:
        return "unknown"


def _install_loop(rec: Recorder) -> None:
    asyncio.set_event_loop_policy(TracingEventLoopPolicy())
    rec.attached["loop.create_future"] = "TracingEventLoop.create_future (asyncio's C Future)"
    rec.attached["future.resolve"] = "TracingEventLoop.call_soon: a future's first done callback"
    rec.attached["task.resume"] = "TracingEventLoop.call_soon: the awaiting task's wake-up"


def _install_rpc(rec: Recorder) -> None:
    _install_multicallables(rec)
    _install_unary_await(rec)
    _install_server_serialization(rec)


def _install_startup(rec: Recorder) -> None:
    _install_socketpair(rec)
    _install_thread_run(rec)


# The hooks in groups that can be installed alone (``toygrpc bench --ablation`` measures
# each one's cost): "startup" fires once per process; the others on every RPC.
HOOK_GROUPS: dict[str, Callable[[Recorder], None]] = {
    "startup": _install_startup,
    "loop": _install_loop,
    "glue": _install_glue,
    "rpc": _install_rpc,
}


def install(rec: Recorder = RECORDER, groups: Iterable[str] = tuple(HOOK_GROUPS)) -> Recorder:
    """Install the hooks of ``groups`` (all by default); a hook that cannot attach is
    reported, the others still work. ``rec`` gets the attachments and failures; events
    always go to ``RECORDER`` (the hot path appends to its list without a lookup)."""
    for group in groups:
        HOOK_GROUPS[group](rec)
    return rec


def check_loop(rec: Recorder = RECORDER) -> None:
    """Say loudly when the program ran grpc.aio on a loop these hooks could not reach."""
    policy = asyncio.get_event_loop_policy()
    if not isinstance(policy, TracingEventLoopPolicy):
        rec.note_failure(
            "loop.create_future",
            f"the program replaced the event loop policy with {type(policy).__module__}."
            f"{type(policy).__name__}; loop hooks work only on asyncio's default loop "
            "(uvloop and other C loops cannot be hooked); core trace still recorded",
        )
    if rec.socketpairs and not rec.poller_fds and "loop.create_future" not in rec.failed:
        rec.note_failure("loop.add_reader",
                         "grpc never registered its poller socket with a traced loop")
