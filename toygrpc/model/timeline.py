"""The merged model of a capture: every event on one clock, with who is who."""

from __future__ import annotations

import dataclasses
import gc
import json
import operator
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import orjson

from toygrpc.model.events import (
    EVENT_TYPES,
    Event,
    PythonSlice,
    event_from_dict,
    event_to_dict,
    maker,
)
from toygrpc.model.layout import RunLayout

E = TypeVar("E", bound=Event)
LINES_PER_WRITE = 10_000
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def event_line(record: dict[str, Any]) -> bytes:
    """One line of ``events.jsonl``: what ``json.dumps(record, separators=(",", ":"))``
    writes (ASCII, non-ASCII escaped), by orjson where its bytes are the same (an
    all-ASCII line without DEL, and no float: only a field that is a dict, such as a
    Python slice's ``args``, may hold one), else by json."""
    try:
        nested = any(isinstance(value, dict) and value for value in record.values())
        line = b"" if nested else orjson.dumps(record)
    except TypeError:  # an int beyond 64 bits
        line = b""
    if not line or not line.isascii() or b"\x7f" in line:
        line = _COMPACT.encode(record).encode()
    return line + b"\n"


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a run's millions of long-lived objects
    (events, chains, summary records) are made: each of its full passes walks every object
    alive, and allocating that many objects set off several, for nothing (they are all
    still in use). Objects are freed by reference counting as always; the collector runs
    again afterwards, as it was."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# A field's declared type -> the type its JSON value reads as (a tuple is a list of str).
_JSON_TYPES: dict[str, type] = {"int": int, "str": str, "bool": bool, "dict": dict,
                                "tuple": list}


def _reading_plans() -> dict[str, tuple[Callable[..., Event], tuple[str, ...],
                                        tuple[type, ...], tuple[int, ...]]]:
    """Per kind: what makes it (``maker``: as its class, cheaper), the keys
    ``event_to_dict`` writes (in order), the type of each value as JSON reads it, and
    which values are tuples (lists in the file)."""
    plans = {}
    for kind, cls in EVENT_TYPES.items():
        fields = dataclasses.fields(cls)
        declared = [str(f.type).split("[", 1)[0].split(" ", 1)[0] for f in fields]
        if not all(name in _JSON_TYPES for name in declared) or not all(
                f.init and not f.kw_only for f in fields):
            continue  # a kind this reader does not know how to check: event_from_dict reads it
        plans[kind] = (maker(cls), ("kind", *(f.name for f in fields)),
                       (str, *(_JSON_TYPES[name] for name in declared)),
                       tuple(at for at, name in enumerate(declared, 1) if name == "tuple"))
    return plans


_PLANS = _reading_plans()


def event_from_record(record: Any) -> Event:
    """``event_from_dict(record)``, without its general checks for a record that holds
    exactly what ``save`` writes (every field, in order, of its declared type), as the
    hooks write it too; anything else, damaged included, goes through ``event_from_dict``
    and reads as it always did."""
    kind = record.get("kind") if type(record) is dict else None
    plan = _PLANS.get(kind) if type(kind) is str else None
    if plan is not None:
        make, keys, types, tuples = plan
        if tuple(record) == keys:
            values = list(record.values())
            if tuple(map(type, values)) == types:
                for at in tuples:
                    values[at] = items = tuple(values[at])
                    if not all(type(item) is str for item in items):
                        return event_from_dict(record)
                return make(*values[1:])
    return event_from_dict(record)


# What event_line writes for a Python slice without arguments (most events of a run),
# less its newline.
PYTHON_SLICE_LINE = (b'{"kind":"python.slice","ts":%d,"pid":%d,"tid":%d,"dur":%d,"name":%s,'
                     b'"args":{}}')
# What starts each kind's line: ``{"kind":...,`` (msgspec writes the fields after it).
_LINE_STARTS = {cls: b'{"kind":%s,' % json.dumps(kind).encode()
                for kind, cls in EVENT_TYPES.items()}
_AFTER_BRACE = operator.itemgetter(slice(1, None))
_ENCODE = msgspec.json.Encoder().encode


def _event_lines(events: list[Event], names: dict[str, bytes] | None = None) -> bytes:
    """``event_line(event_to_dict(event))`` for each event, joined: each Python slice
    without arguments by one format (``names``: their names' JSON, kept across calls),
    all the other events by msgspec at once (in a run they come a few at a time between
    slices: a call per few events would cost more than the events do)."""
    names = {} if names is None else names
    slices = PythonSlice
    others = [event for event in events if type(event) is not slices]
    if len(others) == len(events):  # no slice (a run without the Python layer)
        return _encoded_lines(others) if others else b""
    other = iter(_encoded_lines(others).split(b"\n") if others else ()).__next__
    lines: list[bytes] = []
    add, line_of, name_of = lines.append, PYTHON_SLICE_LINE.__mod__, names.get
    for event in events:
        if type(event) is not slices:
            add(other())
        elif event.args:
            add(event_line(event_to_dict(event))[:-1])
        else:
            name = name_of(event.name)
            if name is None:
                name = names[event.name] = _COMPACT.encode(event.name).encode()
            add(line_of((event.ts, event.pid, event.tid, event.dur, name)))
    lines.append(b"")
    return b"\n".join(lines)


def _encoded_lines(events: list[Event]) -> bytes:
    """``event_line(event_to_dict(event))`` for each event, joined, written in C: msgspec
    writes an event's fields in the order ``event_to_dict`` gives them (the ``kind``
    ahead of them is the class's). A line where msgspec could write other bytes than json
    is written by ``event_line``: one with a non-ASCII or DEL character, or a non-empty
    dict (a Python slice's ``args`` may hold floats)."""
    try:
        text = b"\n".join(map(bytes.__add__, map(_LINE_STARTS.__getitem__, map(type, events)),
                               map(_AFTER_BRACE, map(_ENCODE, events)))) + b"\n"
    except (KeyError, TypeError, ValueError, msgspec.EncodeError):  # a kind or value it lacks
        return b"".join(event_line(event_to_dict(event)) for event in events)
    if text.isascii() and b"\x7f" not in text and b':{"' not in text:
        return text
    lines = text.split(b"\n")[:-1]
    for at, line in enumerate(lines):
        if not line.isascii() or b"\x7f" in line or b':{"' in line:
            lines[at] = event_line(event_to_dict(events[at]))[:-1]
    return b"\n".join(lines) + b"\n"


def _parse_line(line: str) -> Any:
    """A line of ``events.jsonl``: orjson, or json for what only json reads (NaN, ints
    beyond 64 bits), so that a line reads as it always did."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


@dataclass
class Timeline:
    """Events sorted by time, plus process roles, thread names and the clock report."""

    events: list[Event]
    processes: dict[int, str] = field(default_factory=dict)  # pid -> role
    threads: dict[tuple[int, int], str] = field(default_factory=dict)  # (pid, tid) -> role
    clock: dict[str, Any] = field(default_factory=dict)
    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)  # role -> hook report
    diagnostics: list[str] = field(default_factory=list)
    # What was lost, counted: "what (where)" -> how many. Non-empty = a partial run.
    losses: dict[str, int] = field(default_factory=dict)

    @property
    def partial(self) -> bool:
        return any(self.losses.values())

    def lose(self, what: str, count: int = 1) -> None:
        """Count something that was lost (never silently: reports say every loss)."""
        if count > 0:
            self.losses[what] = self.losses.get(what, 0) + count

    def of(self, kind: type[E]) -> Iterator[E]:
        """The events of one kind, in time order."""
        return (e for e in self.events if isinstance(e, kind))

    def thread_role(self, pid: int, tid: int) -> str:
        return self.threads.get((pid, tid), f"thread {tid}")

    def save(self, run_dir: Path) -> None:
        """Write ``events.jsonl``: a header line, then one event per line."""
        header = {
            "processes": {str(k): v for k, v in self.processes.items()},
            "threads": [[pid, tid, role] for (pid, tid), role in self.threads.items()],
            "clock": self.clock, "hooks": self.hooks, "diagnostics": self.diagnostics,
            "losses": self.losses, "event_count": len(self.events),
        }
        events = self.events
        with RunLayout(run_dir).events.open("wb") as out:
            out.write(json.dumps(header).encode() + b"\n")
            names: dict[str, bytes] = {}  # a name's JSON, for the millions of Python slices
            for at in range(0, len(events), LINES_PER_WRITE):
                out.write(_event_lines(events[at:at + LINES_PER_WRITE], names))

    @classmethod
    def load(cls, run_dir: Path) -> Timeline:
        """Read ``events.jsonl``. A damaged header raises (KeyError, TypeError, ValueError...);
        damaged or missing event lines are counted in ``losses``, not skipped silently."""
        path = RunLayout(run_dir).events
        with collector_paused(), path.open(errors="replace") as source:
            header = json.loads(next(source))
            events, damaged = [], 0
            for line in source:
                try:
                    events.append(event_from_record(_parse_line(line)))
                except (ValueError, KeyError, TypeError, AttributeError):
                    damaged += 1
        timeline = cls(
            events=events,
            processes={int(k): str(v) for k, v in dict(header["processes"]).items()},
            threads={(int(pid), int(tid)): str(role) for pid, tid, role in header["threads"]},
            clock=dict(header["clock"]), hooks=dict(header["hooks"]),
            diagnostics=[str(d) for d in header["diagnostics"]],
            losses={str(k): int(v) for k, v in dict(header.get("losses", {})).items()},
        )
        if not all(isinstance(v, dict) for v in timeline.hooks.values()):
            raise TypeError("hook reports are not objects")
        timeline.lose(f"damaged lines ({path.name})", damaged)
        expected = int(header.get("event_count", len(events) + damaged))
        timeline.lose(f"events missing: the file is cut ({path.name})",
                      expected - len(events) - damaged)
        return timeline
