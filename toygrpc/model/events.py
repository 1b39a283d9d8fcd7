"""Typed events on one timeline, whatever source they came from.

Every event has ``ts`` (nanoseconds on the common clock: CLOCK_REALTIME, which the
core's log lines and the hooks both read; viztracer's clock is mapped onto it, see
``toygrpc.capture.clock``), the ``pid`` and the OS thread id ``tid`` it happened on.
Spans also have ``dur`` (nanoseconds). Sources:

- hooks installed in the traced process (``toygrpc.capture.hooks``): futures, drains,
  wake-ups, the poller's socket and thread, the Cython glue's module functions, RPCs;
- the core's own trace (``GRPC_TRACE=api``), parsed by ``toygrpc.capture.corelog``;
- viztracer, for the pure-Python layer (``PythonSlice``).

Chrome JSON and Perfetto are outputs only (``toygrpc.render``); nothing here knows them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened at ``ts`` on thread ``tid`` of process ``pid``."""

    kind: ClassVar[str] = "event"
    ts: int
    pid: int
    tid: int


# --- hooks: the Python-visible seams of the Cython glue -----------------------------


@dataclass(frozen=True, slots=True)
class ThreadStarted(Event):
    """A Python thread began running (the poller is ``Thread-N (_poll_wrapper)``)."""

    kind: ClassVar[str] = "thread.started"
    name: str
    native_id: int


@dataclass(frozen=True, slots=True)
class PollerSocket(Event):
    """The socket pair the poller thread writes one byte into to wake the main thread."""

    kind: ClassVar[str] = "poller.socketpair"
    read_fd: int
    write_fd: int


@dataclass(frozen=True, slots=True)
class FutureCreated(Event):
    """``loop.create_future()``; ``caller`` is the nearest Python frame (``file:function``).

    ``in_batch`` is the ``batch_id`` of the ``execute_batch`` the future was made in
    (that batch's waiter), else 0. ``task_id`` is the task that made it.
    """

    kind: ClassVar[str] = "future.created"
    future_id: int
    caller: str
    in_batch: int = 0
    task_id: int = 0


@dataclass(frozen=True, slots=True)
class FutureResolved(Event):
    """``set_result``/``set_exception`` on a future; ``in_drain`` when inside a queue drain."""

    kind: ClassVar[str] = "future.resolved"
    future_id: int
    ok: bool
    in_drain: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class TaskResumed(Event):
    """The callback a task registered on a future began: the awaiting coroutine goes on."""

    kind: ClassVar[str] = "task.resumed"
    future_id: int
    awaited_ts: int = 0  # when the task began awaiting the future (registered its wake-up)


@dataclass(frozen=True, slots=True)
class LoopWake(Event):
    """The event loop's selector returned with the poller's read fd ready."""

    kind: ClassVar[str] = "loop.wake"
    fd: int
    waited: int  # nanoseconds spent in select() before this wake


@dataclass(frozen=True, slots=True)
class DrainSpan(Event):
    """One run of the poller queue's reader callback on the loop (``_handle_events``)."""

    kind: ClassVar[str] = "poller.drain"
    dur: int
    drain_id: int
    resolved: int  # futures resolved during this drain


@dataclass(frozen=True, slots=True)
class GlueSpan(Event):
    """A module-level function of the Cython glue, wrapped (``execute_batch``, ``_handle_rpc``...).

    For a coroutine function the span runs from the call to its completion, across
    suspensions. ``batch_id`` numbers ``execute_batch`` calls; ``ops`` names their operations.
    """

    kind: ClassVar[str] = "glue.span"
    dur: int
    name: str
    batch_id: int = 0
    ops: tuple[str, ...] = ()
    error: str = ""
    call: int = 0  # identity of the call object (client _AioCall, server RPCState)
    detail: str = ""  # _handle_rpc: the method; _find_method_handler: the client's link id


@dataclass(frozen=True, slots=True)
class TaskFinished(Event):
    """A server request-call task finished; ``result_id`` is the RPCState it returned."""

    kind: ClassVar[str] = "task.finished"
    task_id: int
    name: str
    result_id: int


@dataclass(frozen=True, slots=True)
class RpcStarted(Event):
    """A grpc.aio multicallable was called (client side), or a handler began (server side)."""

    kind: ClassVar[str] = "rpc.started"
    call_id: int  # identity of the call object, as GlueSpan.call
    method: str
    side: str  # "client" or "server"
    link: str = ""  # id sent in the call's metadata (trace both), found again on the server


@dataclass(frozen=True, slots=True)
class RpcFinished(Event):
    """The RPC's awaiting code got its outcome (client), or its handler returned (server)."""

    kind: ClassVar[str] = "rpc.finished"
    call_id: int
    status: str
    side: str


# --- the core's own trace -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoreApiCall(Event):
    """Any core API call of the log; the specific kinds below are subclasses' business."""

    kind: ClassVar[str] = "core.api"
    name: str
    args: str
    source: str  # file:line in the core


@dataclass(frozen=True, slots=True)
class CoreBatchStarted(Event):
    """``grpc_call_start_batch``: a batch of ops handed to the core, completing ``tag``."""

    kind: ClassVar[str] = "core.start_batch"
    call: str
    tag: str
    ops: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CoreRequestCall(Event):
    """``grpc_server_request_call``/``_registered_call``: ask for the next incoming RPC."""

    kind: ClassVar[str] = "core.request_call"
    tag: str
    registered: bool


@dataclass(frozen=True, slots=True)
class CoreTagCompleted(Event):
    """``cq_end_op_for_next``: a core thread puts the completion of ``tag`` on the queue."""

    kind: ClassVar[str] = "core.cq_end_op"
    tag: str
    ok: bool


@dataclass(frozen=True, slots=True)
class CoreReturnEvent(Event):
    """``RETURN_EVENT``: ``grpc_completion_queue_next`` hands an event to the poller thread."""

    kind: ClassVar[str] = "core.return_event"
    tag: str  # empty for QUEUE_SHUTDOWN
    ok: bool
    event_type: str  # OP_COMPLETE or QUEUE_SHUTDOWN


@dataclass(frozen=True, slots=True)
class CoreLine(Event):
    """A line of the core's stderr the parser did not turn into an event: kept, not dropped."""

    kind: ClassVar[str] = "core.line"
    text: str


# --- viztracer ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PythonSlice(Event):
    """A Python function (or C builtin called from Python) as viztracer recorded it."""

    kind: ClassVar[str] = "python.slice"
    dur: int
    name: str
    args: dict[str, Any] = field(default_factory=dict)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        ThreadStarted, PollerSocket, FutureCreated, FutureResolved, TaskResumed, LoopWake,
        DrainSpan, GlueSpan, TaskFinished, RpcStarted, RpcFinished, CoreApiCall, CoreBatchStarted,
        CoreRequestCall, CoreTagCompleted, CoreReturnEvent, CoreLine, PythonSlice,
    )
}


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with the event's ``kind`` first."""
    data: dict[str, Any] = {"kind": event.kind}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        data[f.name] = list(value) if isinstance(value, tuple) else value
    return data


def event_from_dict(data: dict[str, Any]) -> Event:
    """The inverse of ``event_to_dict``; raises KeyError/TypeError on a damaged record."""
    cls = EVENT_TYPES[data["kind"]]
    values = {k: v for k, v in data.items() if k != "kind"}
    for f in dataclasses.fields(cls):
        if f.name in values and isinstance(values[f.name], list):
            values[f.name] = tuple(values[f.name])
    return cls(**values)
