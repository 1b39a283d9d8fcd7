"""The merged model of a capture: every event on one clock, with who is who."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from toygrpc.model.events import Event, event_from_dict, event_to_dict
from toygrpc.model.layout import RunLayout

E = TypeVar("E", bound=Event)


@dataclass
class Timeline:
    """Events sorted by time, plus process roles, thread names and the clock report."""

    events: list[Event]
    processes: dict[int, str] = field(default_factory=dict)  # pid -> role
    threads: dict[tuple[int, int], str] = field(default_factory=dict)  # (pid, tid) -> role
    clock: dict[str, Any] = field(default_factory=dict)
    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)  # role -> hook report
    diagnostics: list[str] = field(default_factory=list)

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
        }
        with RunLayout(run_dir).events.open("w") as out:
            out.write(json.dumps(header) + "\n")
            for event in self.events:
                out.write(json.dumps(event_to_dict(event), separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, run_dir: Path) -> Timeline:
        with RunLayout(run_dir).events.open() as source:
            header = json.loads(next(source))
            events = [event_from_dict(json.loads(line)) for line in source]
        return cls(
            events=events,
            processes={int(k): v for k, v in header["processes"].items()},
            threads={(pid, tid): role for pid, tid, role in header["threads"]},
            clock=header["clock"], hooks=header["hooks"], diagnostics=header["diagnostics"],
        )
