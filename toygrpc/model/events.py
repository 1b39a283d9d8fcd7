"""Typed events on one timeline, whatever source they came from.

Every event has ``ts`` (nanoseconds on the common clock: CLOCK_REALTIME, which the
core's log lines and the hooks both read; viztracer's clock is mapped onto it, see
``toygrpc.capture.merge``), the ``pid`` and the OS thread id ``tid`` it happened on.
Spans also have ``dur`` (nanoseconds). Sources:

- hooks installed in the traced process (``toygrpc.capture.hooks``): futures, drains,
  wake-ups, the poller's socket and thread, the Cython glue's module functions, RPCs;
- the thread sampler (``toygrpc.capture.threads``, ``--sample-threads``): every thread
  as /proc shows it (``ThreadSample``);
- the core's own trace (``GRPC_TRACE=api``, and ``http`` with ``--tracer http``), parsed
  by ``toygrpc.capture.corelog``;
- viztracer, for the pure-Python layer (``PythonSlice``).

Each kind is declared once, here, and nowhere else: its class gives the fields it is
recorded with (the hooks record them by name), its ``kind`` (the name in files), its
docstring (what it is), ``title()`` (how every view names it), ``details()`` (what a
trace shows of it) and ``hook`` (which hook records it, for the hook counts). A new
kind is a new class in this module; ``EVENT_TYPES`` finds it.

Chrome JSON and Perfetto are outputs only (``toygrpc.render``); nothing here knows them.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

Category = Literal["hook", "glue", "rpc", "core", "python"]

# The hooks ``toygrpc.capture.hooks`` installs, in the order reports list them; each
# event kind below names the one that records it.
HOOK_NAMES = (
    "poller.socketpair", "poller.thread", "loop.add_reader", "loop.create_future",
    "future.resolve", "task.resume", "loop.wake", "glue.execute_batch", "glue.client",
    "glue.server", "glue.serialization", "rpc.client",
)
# Glue functions that client calls and server handlers both use: a span of one of them
# names its side in ``detail``.
MESSAGE_GLUE = ("_receive_message", "_send_message", "_send_initial_metadata",
                "_receive_initial_metadata")


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened at ``ts`` on thread ``tid`` of process ``pid``."""

    kind: ClassVar[str] = "event"
    category: ClassVar[Category] = "hook"
    hook: ClassVar[str] = ""  # the one of HOOK_NAMES that records this kind
    ts: int
    pid: int
    tid: int

    def title(self) -> str:
        """A short name for what happened, as grpc, the core or asyncio calls it."""
        return self.kind

    def details(self) -> dict[str, Any]:
        """What a trace viewer shows of the event besides its title."""
        return {}

    def hook_name(self) -> str:
        """The hook that recorded this event ("" for the core's and viztracer's)."""
        return self.hook


# --- hooks: the Python-visible seams of the Cython glue -----------------------------


@dataclass(frozen=True, slots=True)
class ThreadStarted(Event):
    """A Python thread began running (the poller is ``Thread-N (_poll_wrapper)``)."""

    kind: ClassVar[str] = "thread.started"
    hook: ClassVar[str] = "poller.thread"
    name: str
    native_id: int

    def title(self) -> str:
        return f"thread started: {self.name}"


@dataclass(frozen=True, slots=True)
class PollerSocket(Event):
    """The socket pair the poller thread writes one byte into to wake the main thread."""

    kind: ClassVar[str] = "poller.socketpair"
    hook: ClassVar[str] = "poller.socketpair"
    read_fd: int
    write_fd: int

    def title(self) -> str:
        return "poller socket pair registered with the loop"

    def details(self) -> dict[str, Any]:
        return {"read_fd": self.read_fd, "write_fd": self.write_fd}


@dataclass(frozen=True, slots=True)
class FutureCreated(Event):
    """``loop.create_future()``; ``caller`` is the nearest Python frame (``file:function``).

    ``in_batch`` is the ``batch_id`` of the ``execute_batch`` the future was made in
    (that batch's waiter), else 0. ``task_id`` is the task that made it.
    """

    kind: ClassVar[str] = "future.created"
    hook: ClassVar[str] = "loop.create_future"
    future_id: int
    caller: str
    in_batch: int = 0
    task_id: int = 0

    def title(self) -> str:
        return "loop.create_future"

    def details(self) -> dict[str, Any]:
        return {"future": hex(self.future_id), "caller": self.caller, "batch": self.in_batch}


@dataclass(frozen=True, slots=True)
class FutureResolved(Event):
    """``set_result``/``set_exception`` on a future; ``in_drain`` when inside a queue drain."""

    kind: ClassVar[str] = "future.resolved"
    hook: ClassVar[str] = "future.resolve"
    future_id: int
    ok: bool
    in_drain: int = 0
    error: str = ""

    def title(self) -> str:
        return "set_result" if self.ok else "set_exception"

    def details(self) -> dict[str, Any]:
        return {"future": hex(self.future_id), "error": self.error, "drain": self.in_drain}


@dataclass(frozen=True, slots=True)
class FutureCancelled(Event):
    """``cancel()`` on a future: its waiter gave up (the awaiting task was cancelled), so
    the completion that comes later resolves nothing."""

    kind: ClassVar[str] = "future.cancelled"
    hook: ClassVar[str] = "future.resolve"
    future_id: int

    def title(self) -> str:
        return "future.cancel"

    def details(self) -> dict[str, Any]:
        return {"future": hex(self.future_id)}


@dataclass(frozen=True, slots=True)
class TaskResumed(Event):
    """The callback a task registered on a future began: the awaiting coroutine goes on."""

    kind: ClassVar[str] = "task.resumed"
    hook: ClassVar[str] = "task.resume"
    future_id: int
    # when the task began awaiting; 0 when not recorded (the hooks no longer record it:
    # toygrpc.capture.merge.check_core_clock bounds a batch by the next hook instant)
    awaited_ts: int = 0

    def title(self) -> str:
        return "task resumed"

    def details(self) -> dict[str, Any]:
        return {"future": hex(self.future_id)}


@dataclass(frozen=True, slots=True)
class LoopWake(Event):
    """The event loop's selector returned with the poller's read fd ready."""

    kind: ClassVar[str] = "loop.wake"
    hook: ClassVar[str] = "loop.wake"
    fd: int
    waited: int  # nanoseconds spent in select() before this wake

    def title(self) -> str:
        return "selector woke on the poller fd"

    def details(self) -> dict[str, Any]:
        return {"fd": self.fd, "waited_us": self.waited / 1000}


@dataclass(frozen=True, slots=True)
class DrainSpan(Event):
    """One run of the poller queue's reader callback on the loop (``_handle_events``)."""

    kind: ClassVar[str] = "poller.drain"
    hook: ClassVar[str] = "loop.add_reader"
    dur: int
    drain_id: int
    resolved: int  # futures resolved during this drain

    def title(self) -> str:
        return "_handle_events (queue drain)"

    def details(self) -> dict[str, Any]:
        return {"resolved": self.resolved, "drain": self.drain_id}


# The system calls of an epoll wait, as ``ThreadSample`` names them.
EPOLL_WAITS = ("epoll_wait", "epoll_pwait", "epoll_pwait2")


@dataclass(frozen=True, slots=True)
class ThreadSample(Event):
    """Every thread of the process at one instant, as /proc shows it (``--sample-threads``):
    OS tid -> ``name``, scheduler ``state``, the ``syscall`` it is blocked in and, for an
    epoll wait, its epoll ``fd``, ``timeout_ms`` and the kinds of fd it ``watches``. The C
    threads (poller, EventEngine pool) are visible nowhere else while they wait."""

    kind: ClassVar[str] = "threads.sample"
    threads: dict[str, dict[str, Any]]
    # From the listing (``ts``) to the last thread's files read: a thread that ended in
    # between is missing from the sample (0: not recorded, an older capture).
    reading_ns: int = 0

    def title(self) -> str:
        return f"threads sampled ({len(self.threads)})"

    def details(self) -> dict[str, Any]:
        return {tid: " ".join(str(info.get(key, "")) for key in ("name", "state", "syscall"))
                for tid, info in self.threads.items()}


@dataclass(frozen=True, slots=True)
class GlueSpan(Event):
    """A module-level function of the Cython glue, wrapped (``execute_batch``, ``_handle_rpc``...).

    For a coroutine function the span runs from the call to its completion, across
    suspensions. ``batch_id`` numbers ``execute_batch`` calls; ``ops`` names their operations.
    """

    kind: ClassVar[str] = "glue.span"
    category: ClassVar[Category] = "glue"
    dur: int
    name: str
    batch_id: int = 0
    ops: tuple[str, ...] = ()
    error: str = ""
    call: int = 0  # identity of the call object (client _AioCall, server RPCState)
    detail: str = ""  # _handle_rpc: the method; _find_method_handler: the client's link id;
    # MESSAGE_GLUE: "client" or "server"

    def title(self) -> str:
        return f"cygrpc.{self.name}"

    def details(self) -> dict[str, Any]:
        args: dict[str, Any] = {"call": hex(self.call)}
        if self.ops:
            args["ops"] = list(self.ops)
        if self.detail:
            args["detail"] = self.detail
        if self.error:
            args["error"] = self.error
        return args

    def hook_name(self) -> str:
        if self.name == "execute_batch":
            return "glue.execute_batch"
        if self.name in MESSAGE_GLUE and self.detail == "client":
            return "glue.client"
        return "glue.server"


@dataclass(frozen=True, slots=True)
class HandlerSerialization(Event):
    """A server method handler's ``request_deserializer`` or ``response_serializer`` ran.

    The Cython glue calls them itself (``deserialize``/``serialize`` in
    ``aio/common.pyx.pxi``, C functions), so neither viztracer nor the glue hooks see them:
    the hooks wrap the handler's two callables when the servicer is registered with the
    server. ``call`` is the RPC's call identity (as ``GlueSpan.call``), ``size`` the
    message's bytes.
    """

    kind: ClassVar[str] = "server.serialization"
    category: ClassVar[Category] = "glue"
    hook: ClassVar[str] = "glue.serialization"
    dur: int
    name: str  # request_deserializer or response_serializer
    method: str
    size: int
    call: int = 0

    def title(self) -> str:
        return self.name

    def details(self) -> dict[str, Any]:
        return {"method": self.method, "bytes": self.size, "call": hex(self.call)}


@dataclass(frozen=True, slots=True)
class TaskFinished(Event):
    """A server request-call task finished; ``result_id`` is the RPCState it returned."""

    kind: ClassVar[str] = "task.finished"
    task_id: int
    name: str
    result_id: int

    def title(self) -> str:
        return f"{self.name} task finished"


@dataclass(frozen=True, slots=True)
class RpcStarted(Event):
    """A grpc.aio multicallable was called (client side), or a handler began (server side)."""

    kind: ClassVar[str] = "rpc.started"
    category: ClassVar[Category] = "rpc"
    hook: ClassVar[str] = "rpc.client"
    call_id: int  # identity of the call object, as GlueSpan.call
    method: str
    side: str  # "client" or "server" (model.types.Side)
    link: str = ""  # id sent in the call's metadata (trace both), found again on the server

    def title(self) -> str:
        return f"RPC start {self.method}"

    def details(self) -> dict[str, Any]:
        return {"link": self.link}


@dataclass(frozen=True, slots=True)
class RpcFinished(Event):
    """The RPC's awaiting code got its outcome (client), or its handler returned (server).

    ``status`` is the gRPC status code's name (``OK``, ``DEADLINE_EXCEEDED``...);
    ``status_details`` its details string, if any."""

    kind: ClassVar[str] = "rpc.finished"
    category: ClassVar[Category] = "rpc"
    call_id: int
    status: str
    side: str  # model.types.Side
    status_details: str = ""

    def title(self) -> str:
        return f"RPC done {self.status}"

    def hook_name(self) -> str:
        return "rpc.client" if self.side == "client" else "glue.server"

    def details(self) -> dict[str, Any]:
        return {"details": self.status_details} if self.status_details else {}


# --- the core's own trace -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoreApiCall(Event):
    """Any core API call of the log; the specific kinds below are subclasses' business."""

    kind: ClassVar[str] = "core.api"
    category: ClassVar[Category] = "core"
    name: str
    args: str
    source: str  # file:line in the core

    def title(self) -> str:
        return self.name

    def details(self) -> dict[str, Any]:
        return {"args": self.args}


@dataclass(frozen=True, slots=True)
class CoreBatchStarted(Event):
    """``grpc_call_start_batch``: a batch of ops handed to the core, completing ``tag``."""

    kind: ClassVar[str] = "core.start_batch"
    category: ClassVar[Category] = "core"
    call: str
    tag: str
    ops: tuple[str, ...]

    def title(self) -> str:
        return "grpc_call_start_batch"

    def details(self) -> dict[str, Any]:
        return {"tag": self.tag, "call": self.call, "ops": list(self.ops)}


@dataclass(frozen=True, slots=True)
class CoreRequestCall(Event):
    """``grpc_server_request_call``/``_registered_call``: ask for the next incoming RPC."""

    kind: ClassVar[str] = "core.request_call"
    category: ClassVar[Category] = "core"
    tag: str
    registered: bool

    def title(self) -> str:
        return ("grpc_server_request_registered_call" if self.registered
                else "grpc_server_request_call")

    def details(self) -> dict[str, Any]:
        return {"tag": self.tag}


@dataclass(frozen=True, slots=True)
class CoreTagCompleted(Event):
    """``cq_end_op_for_next``: a core thread puts the completion of ``tag`` on the queue."""

    kind: ClassVar[str] = "core.cq_end_op"
    category: ClassVar[Category] = "core"
    tag: str
    ok: bool

    def title(self) -> str:
        return "cq_end_op_for_next" + ("" if self.ok else " (not ok)")

    def details(self) -> dict[str, Any]:
        return {"tag": self.tag, "ok": self.ok}


@dataclass(frozen=True, slots=True)
class CoreReturnEvent(Event):
    """``RETURN_EVENT``: ``grpc_completion_queue_next`` hands an event to the poller thread."""

    kind: ClassVar[str] = "core.return_event"
    category: ClassVar[Category] = "core"
    tag: str  # empty for QUEUE_SHUTDOWN
    ok: bool
    event_type: str  # OP_COMPLETE or QUEUE_SHUTDOWN

    def title(self) -> str:
        return f"RETURN_EVENT {self.event_type}"

    def details(self) -> dict[str, Any]:
        return {"tag": self.tag, "ok": self.ok}


# --- the core's HTTP/2 transport (``--tracer http``) -----------------------------------
# The transport logs each frame it parses, never one it writes: a frame sent is seen as
# received by the peer (trace both sides). Values of headers are never kept (corelog).


@dataclass(frozen=True, slots=True)
class Http2FrameReceived(Event):
    """An HTTP/2 frame the transport parsed: ``INCOMING[t]: TYPE:FLAGS len:N id:S``.

    ``length`` is the frame's payload in bytes (the 9-byte frame header not counted);
    ``stream_id`` 0 is the connection itself (SETTINGS, PING, WINDOW_UPDATE...)."""

    kind: ClassVar[str] = "core.http2_frame"
    category: ClassVar[Category] = "core"
    transport: str
    frame: str
    flags: tuple[str, ...]
    length: int
    stream_id: int

    def title(self) -> str:
        return f"HTTP/2 {':'.join((self.frame, *self.flags))} received"

    def details(self) -> dict[str, Any]:
        return {"transport": self.transport, "length": self.length, "stream": self.stream_id}


@dataclass(frozen=True, slots=True)
class Http2WriteState(Event):
    """The transport's write state changed (``W:t CLIENT [peer] state A -> B [reason]``):
    on the thread that logs it, "begin write in current thread" is that thread writing."""

    kind: ClassVar[str] = "core.http2_write"
    category: ClassVar[Category] = "core"
    transport: str
    side: str  # CLIENT or SERVER, as the core says
    old: str
    new: str
    reason: str

    def title(self) -> str:
        return f"HTTP/2 write {self.old} -> {self.new}"

    def details(self) -> dict[str, Any]:
        return {"transport": self.transport, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Http2StreamOpened(Event):
    """A client transport gave a stream its HTTP/2 id (odd, rising: 1, 3, 5...)."""

    kind: ClassVar[str] = "core.http2_stream"
    category: ClassVar[Category] = "core"
    transport: str
    stream: str
    stream_id: int

    def title(self) -> str:
        return f"HTTP/2 stream {self.stream_id} opened"

    def details(self) -> dict[str, Any]:
        return {"transport": self.transport, "stream": self.stream}


@dataclass(frozen=True, slots=True)
class Http2StreamOp(Event):
    """``perform_stream_op``: a batch's ops reach the transport's stream; ``message_bytes``
    is the length of the message it sends (-1 when it sends none), never its bytes."""

    kind: ClassVar[str] = "core.http2_stream_op"
    category: ClassVar[Category] = "core"
    stream: str
    ops: tuple[str, ...]
    message_bytes: int

    def title(self) -> str:
        return "perform_stream_op"

    def details(self) -> dict[str, Any]:
        return {"stream": self.stream, "ops": list(self.ops), "message_bytes": self.message_bytes}


@dataclass(frozen=True, slots=True)
class CoreLine(Event):
    """A line of the core's stderr the parser did not turn into an event: kept, not dropped."""

    kind: ClassVar[str] = "core.line"
    category: ClassVar[Category] = "core"
    text: str

    def title(self) -> str:
        return "core log line"


# --- viztracer ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PythonSlice(Event):
    """A Python function (or C builtin called from Python) as viztracer recorded it."""

    kind: ClassVar[str] = "python.slice"
    category: ClassVar[Category] = "python"
    dur: int
    name: str
    args: dict[str, Any] = field(default_factory=dict)

    def title(self) -> str:
        return self.name

    def details(self) -> dict[str, Any]:
        return self.args


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls for cls in list(globals().values())
    if isinstance(cls, type) and issubclass(cls, Event) and cls is not Event
}


E = TypeVar("E", bound=Event)
_MAKERS: dict[type[Event], Callable[..., Any]] = {}


def maker(cls: type[E]) -> Callable[..., E]:
    """What makes ``cls(*values)`` from every field's value, in order, at a third of the
    cost: a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``
    by name, this sets each slot by its own descriptor (a capture makes hundreds of
    thousands of events, millions with the Python layer). A class it cannot make so (a
    field outside ``__init__``, a ``__post_init__``, no slot) is made by ``cls`` itself."""
    make = _MAKERS.get(cls)
    if make is None:
        fields = dataclasses.fields(cls)
        slots = [inspect.getattr_static(cls, f.name, None) for f in fields]
        if (hasattr(cls, "__post_init__") or not all(f.init for f in fields)
                or not all(hasattr(slot, "__set__") for slot in slots)):
            make = cls
        else:
            values = ", ".join(f"v{at}" for at in range(len(fields)))
            body = "".join(f"    s{at}(e, v{at})\n" for at in range(len(fields)))
            scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
            scope.update((f"s{at}", slot.__set__) for at, slot in enumerate(slots))
            exec(f"def make({values}):\n    e = new(cls)\n{body}    return e\n", scope)
            make = scope["make"]
            make.__qualname__ = f"maker({cls.__name__})"
        _MAKERS[cls] = make
    return make


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with the event's ``kind`` first."""
    data: dict[str, Any] = {"kind": event.kind}
    for name in _field_names(type(event)):
        value = getattr(event, name)
        data[name] = list(value) if isinstance(value, tuple) else value
    return data


# How a field's declared type is checked when an event is read back from a file.
_FIELD_CHECKS: dict[str, Any] = {
    "int": lambda v: type(v) is int, "str": lambda v: type(v) is str,
    "bool": lambda v: type(v) is bool, "dict": lambda v: type(v) is dict,
    "tuple": lambda v: type(v) is tuple and all(type(x) is str for x in v),
}
# Per kind, worked out once: files hold millions of events.
_NAMES: dict[type[Event], tuple[str, ...]] = {}
_CHECKS: dict[type[Event], tuple[tuple[str, Any], ...]] = {}


def _field_names(cls: type[Event]) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _field_checks(cls: type[Event]) -> tuple[tuple[str, Any], ...]:
    checks = _CHECKS.get(cls)
    if checks is None:
        checks = _CHECKS[cls] = tuple(
            (f.name, _FIELD_CHECKS.get(str(f.type).split("[", 1)[0].split(" ", 1)[0]))
            for f in dataclasses.fields(cls))
    return checks


def event_from_dict(data: dict[str, Any]) -> Event:
    """The inverse of ``event_to_dict``; raises KeyError/TypeError on a damaged record,
    including a field of the wrong type (a file is not trusted to hold what it should)."""
    cls = EVENT_TYPES[data["kind"]]
    values = dict(data)
    del values["kind"]
    for name, check in _field_checks(cls):
        if name in values:
            value = values[name]
            if isinstance(value, list):
                value = values[name] = tuple(value)
            if check is not None and not check(value):
                declared = next(f.type for f in dataclasses.fields(cls) if f.name == name)
                raise TypeError(f"{cls.kind}.{name} is not {declared}")
    return cls(**values)
