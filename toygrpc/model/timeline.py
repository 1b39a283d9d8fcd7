"""The merged model of a capture: every event on one clock, with who is who."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from toygrpc.model.events import Event, PythonSlice, event_from_dict, event_to_dict
from toygrpc.model.layout import RunLayout

E = TypeVar("E", bound=Event)
LINES_PER_WRITE = 10_000
_COMPACT = json.JSONEncoder(separators=(",", ":"))
# What event_line writes for a Python slice without arguments (most events of a run).
PYTHON_SLICE_LINE = (b'{"kind":"python.slice","ts":%d,"pid":%d,"tid":%d,"dur":%d,"name":%s,'
                     b'"args":{}}\n')


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
        with RunLayout(run_dir).events.open("wb") as out:
            out.write(json.dumps(header).encode() + b"\n")
            lines: list[bytes] = []
            names: dict[str, bytes] = {}  # a name's JSON, for the millions of Python slices
            for event in self.events:
                if type(event) is PythonSlice and not event.args:
                    name = names.get(event.name)
                    if name is None:
                        name = names[event.name] = _COMPACT.encode(event.name).encode()
                    lines.append(PYTHON_SLICE_LINE % (event.ts, event.pid, event.tid,
                                                      event.dur, name))
                else:
                    lines.append(event_line(event_to_dict(event)))
                if len(lines) >= LINES_PER_WRITE:
                    out.write(b"".join(lines))
                    lines.clear()
            out.write(b"".join(lines))

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
                    events.append(event_from_dict(_parse_line(line)))
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
