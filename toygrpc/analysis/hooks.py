"""Which hooks fired, and how often: per process, the events each hook recorded.

The report's "hooks fired" lines and summary.json's ``hook_counts`` read it.
"""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from collections.abc import Iterator

from toygrpc.model.events import HOOK_NAMES, Event
from toygrpc.model.timeline import Timeline

_PID = operator.attrgetter("pid")


def hook_counts(timeline: Timeline) -> dict[str, dict[str, int]]:
    """Per process role: how many events each hook produced.

    Counted per process and kind without a Python step per event (a run holds millions of
    Python slices); only the kinds whose hook depends on the event are asked one by one."""
    counts: dict[str, Counter[str]] = {role: Counter() for role in timeline.processes.values()}
    events: list[Event] = timeline.events
    # only the kinds some hook records are counted per process (not the Python slices)
    totals: Counter[type[Event]] = Counter(map(type, events))
    hooked = {kind for kind in totals if kind.hook or kind.hook_name is not Event.hook_name}
    if len(hooked) < len(totals):
        events = list(itertools.compress(events, map(hooked.__contains__, map(type, events))))
    kinds: Iterator[type[Event]] = map(type, events)
    per_kind = Counter(zip(map(_PID, events), kinds, strict=True))
    asked: set[type[Event]] = set()
    for (pid, kind), count in per_kind.items():
        role = timeline.processes.get(pid)
        if role is None:
            continue
        if kind.hook_name is Event.hook_name:
            counts[role][kind.hook] += count
        else:
            asked.add(kind)
    if asked:
        for event in itertools.compress(events, map(asked.__contains__, map(type, events))):
            role = timeline.processes.get(event.pid)
            if role is not None:
                counts[role][event.hook_name()] += 1
    return {role: {hook: c[hook] for hook in HOOK_NAMES} for role, c in counts.items()}
