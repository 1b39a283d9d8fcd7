"""Merge the raw inputs of a capture into one ``Timeline`` on one clock.

The common clock is CLOCK_REALTIME in nanoseconds:

- hooks read it directly (``time.time_ns``);
- the core stamps its log lines with the same clock, printed as local time truncated
  to the microsecond: taken as is, and *checked*: every batch gives a bracket (the
  waiter future is created just before ``grpc_call_start_batch`` and awaited just
  after, both on the same thread), so the offsets consistent with all brackets form
  an interval, whose farthest end from zero is the stored error bound;
- viztracer has a clock of its own: it is sampled against CLOCK_REALTIME at start and
  end of the process (tightest of 25 bracketed reads each) and mapped linearly; the
  bound is half the widest bracket plus the drift between the two samples.
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from toygrpc.capture.corelog import LogClock, parse_lines
from toygrpc.model.events import (
    CoreBatchStarted,
    CoreReturnEvent,
    CoreTagCompleted,
    Event,
    FutureCreated,
    GlueSpan,
    PythonSlice,
    RpcStarted,
    TaskResumed,
    ThreadStarted,
)
from toygrpc.model.layout import ProcessLayout
from toygrpc.model.manifest import Manifest
from toygrpc.model.timeline import Timeline

POLLER_THREAD_MARK = "_poll_wrapper"
TRUNCATION_NS = 1000  # the core prints microseconds


def build_timeline(cap: Manifest) -> Timeline:
    """Parse every process's raw files and merge them, sorted by time."""
    timeline = Timeline(events=[], diagnostics=list(cap.diagnostics))
    clock = log_clock(cap)
    for proc in cap.processes:
        if not proc.traced:
            continue
        files = cap.layout.process(proc.role)
        pid = proc.pid
        timeline.processes[pid] = proc.role
        events: list[Event] = []
        hooks_file = files.hooks
        if hooks_file.is_file():
            events.extend(_read_hooks(files, timeline, proc.role))
        else:
            timeline.diagnostics.append(f"{proc.role}: no hook events ({hooks_file} missing)")
        core_file = files.core_log
        if core_file.is_file():
            with core_file.open(errors="replace") as lines:
                events.extend(parse_lines(lines, pid, clock))
        else:
            timeline.diagnostics.append(f"{proc.role}: no core log ({core_file} missing)")
        viz_file = files.viztracer
        if proc.viztracer:
            if viz_file.is_file():
                events.extend(_read_viztracer(viz_file, files.clock, pid, proc.role,
                                              timeline))
            else:
                timeline.diagnostics.append(
                    f"{proc.role}: viztracer wrote no {viz_file.name} (it starts at the "
                    "program's first grpc.aio channel or server; --python-from-start "
                    "records from interpreter start)")
        timeline.clock.setdefault(proc.role, {})["core"] = check_core_clock(events)
        _name_threads(timeline, pid, events, timeline.hooks.get(proc.role, {}).get("threads", {}))
        not_aio = not_grpc_aio(events)
        if not_aio:
            timeline.diagnostics.append(f"{proc.role}: {not_aio}")
        timeline.events.extend(events)
    timeline.events.sort(key=lambda e: e.ts)
    return timeline


def log_clock(cap: Manifest) -> LogClock:
    """How the core log lines of this capture map onto the common clock."""
    return LogClock(_year(cap.started_ns, cap.utc_offset_s), cap.utc_offset_s, cap.started_ns)


def _year(started_ns: int, utc_offset_s: int) -> int:
    import time

    return int(time.gmtime(started_ns // 1_000_000_000 + utc_offset_s).tm_year)


def _read_hooks(files: ProcessLayout, timeline: Timeline, role: str) -> list[Event]:
    from toygrpc.model.events import event_from_dict

    path, report_path = files.hooks, files.hook_report
    if report_path.is_file():
        report = json.loads(report_path.read_text())
        timeline.hooks[role] = report
        for hook, why in report.get("failed", {}).items():
            timeline.diagnostics.append(f"{role}: hook {hook} did not attach: {why}")
    events = []
    with path.open() as source:
        for number, line in enumerate(source, 1):
            try:
                events.append(event_from_dict(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                timeline.diagnostics.append(f"{path}:{number}: damaged hook event ({exc})")
    return events


def _read_viztracer(path: Path, clock_path: Path, pid: int, role: str,
                    timeline: Timeline) -> list[Event]:
    try:
        data = json.loads(path.read_text())
        samples = json.loads(clock_path.read_text())
        start: dict[str, float] = samples["start"]
        end: dict[str, float] = samples["end"]
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        timeline.diagnostics.append(f"{role}: viztracer output unusable ({exc})")
        return []
    # Linear map from viztracer's microseconds to realtime nanoseconds through both samples.
    t0 = (start["realtime_ns"] - start["offset_ns"]) / 1000
    t1 = (end["realtime_ns"] - end["offset_ns"]) / 1000
    slope = (end["offset_ns"] - start["offset_ns"]) / (t1 - t0) if t1 > t0 else 0.0

    def to_ns(us: float) -> int:
        return round(us * 1000 + start["offset_ns"] + slope * (us - t0))

    error = max(start["width_ns"], end["width_ns"]) / 2 + abs(end["offset_ns"] - start["offset_ns"])
    timeline.clock.setdefault(role, {})
    timeline.clock[role]["viztracer"] = {
        "method": "bracketed samples at start and end, linear map",
        "error_bound_ns": round(error),
        "drift_ns": round(end["offset_ns"] - start["offset_ns"]),
    }
    overflow = data.get("viztracer_metadata", {}).get("overflow")
    if overflow:
        timeline.diagnostics.append(f"{role}: viztracer's buffer overflowed: the oldest Python "
                                    "events were dropped (raise --tracer-entries)")
    events: list[Event] = []
    for entry in without_harness(data.get("traceEvents", [])):
        events.append(PythonSlice(to_ns(entry["ts"]), pid, int(entry["tid"]),
                                  round(entry.get("dur", 0) * 1000), entry["name"],
                                  dict(entry.get("args", {}))))
    return events


# viztracer names a Python frame "qualname (file:line)": the harness's files are here,
# wherever the package is installed.
HARNESS_DIR = "/toygrpc/capture/"


def without_harness(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """viztracer's complete events less the harness: the program and grpc as they run
    untraced. A frame of ``toygrpc.capture`` goes, and so does everything under it,
    except under a wrapper (a hook's wrapper function or a Traced*/Tracing* method):
    there the Python frames it calls (what it wraps, and what runs from there) stay,
    and only its own C calls (clock reads, bookkeeping) go. Excluding the files in
    viztracer itself would hide the wrapped calls too: it ignores whole subtrees."""
    complete = [e for e in entries if e.get("ph") == "X"]
    complete.sort(key=lambda e: (e["tid"], e["ts"], -e.get("dur", 0)))
    kept: list[dict[str, Any]] = []
    stack: list[tuple[float, str]] = []  # (end, mode) of the open frames of this thread
    tid = None
    for entry in complete:
        if entry["tid"] != tid:
            tid, stack = entry["tid"], []
        start = entry["ts"]
        while stack and stack[-1][0] <= start:
            stack.pop()
        above = stack[-1][1] if stack else "show"
        name: str = entry["name"]
        python_frame = name.endswith(")") and " (" in name
        if HARNESS_DIR in name:
            function = name.split(" (")[0]
            wrapper = "<locals>" in function or function.startswith(("Traced", "Tracing"))
            mode = "wrapper" if wrapper and above != "hide" else "hide"
        elif above == "hide":
            mode = "hide"
        elif above == "wrapper" and not python_frame:
            mode = "wrapper"  # the hook's own C call: gone, but what it runs may stay
        else:
            mode = "show"
            kept.append(entry)
        stack.append((start + entry.get("dur", 0), mode))
    return kept


def check_core_clock(events: list[Event]) -> dict[str, Any]:
    """Bound the offset between core log stamps and hook stamps with per-batch brackets."""
    created = [e for e in events if isinstance(e, FutureCreated) and e.in_batch]
    awaited: dict[int, list[int]] = defaultdict(list)  # future ids are reused: keep all
    for e in events:
        if isinstance(e, TaskResumed) and e.awaited_ts:
            awaited[e.future_id].append(e.awaited_ts)
    starts_by_tid: dict[int, list[CoreBatchStarted]] = defaultdict(list)
    for e in events:
        if isinstance(e, CoreBatchStarted):
            starts_by_tid[e.tid].append(e)
    lo, hi, brackets = -10**12, 10**12, 0
    created_by_tid: dict[int, list[FutureCreated]] = defaultdict(list)
    for f in sorted(created, key=lambda e: e.ts):
        created_by_tid[f.tid].append(f)
    for tid, futures in created_by_tid.items():
        for future, start in zip(futures, sorted(starts_by_tid.get(tid, []), key=lambda e: e.ts),
                                 strict=False):
            times = awaited.get(future.future_id, [])
            at = bisect.bisect_left(times, future.ts)  # in time order: ids recur, never scan
            if at == len(times):
                continue
            upper = times[at]
            # true core time = logged + delta, delta in [0, 1us) from truncation
            lo = max(lo, future.ts - start.ts - TRUNCATION_NS)
            hi = min(hi, upper - start.ts)
            brackets += 1
    if not brackets:
        return {"method": "same clock (CLOCK_REALTIME), unchecked: no batch brackets",
                "brackets": 0, "error_bound_ns": None}
    consistent = lo <= hi
    return {
        "method": "same clock (CLOCK_REALTIME); checked by bracketing each batch start "
                  "between its waiter's creation and the await",
        "brackets": brackets,
        "offset_interval_ns": [lo, hi],
        "consistent": consistent,
        "error_bound_ns": max(abs(lo), abs(hi), TRUNCATION_NS) if consistent else abs(lo - hi),
    }


def not_grpc_aio(events: list[Event]) -> str:
    """One line when a process used grpc but not grpc.aio ("" otherwise): the harness
    follows grpc.aio's calls; a synchronous program's core activity is kept, unexplained."""
    batches = sum(isinstance(e, CoreBatchStarted) for e in events)
    hooked = any(e.category != "core" and e.category != "python" for e in events)
    aio = any(isinstance(e, GlueSpan | FutureCreated | RpcStarted) and
              (not isinstance(e, FutureCreated) or e.in_batch) for e in events)
    if not batches or aio or not hooked:  # without hook events, nothing can be told
        return ""
    threads = len({e.tid for e in events if isinstance(e, CoreBatchStarted)})
    return (f"this program used grpc without grpc.aio (synchronous grpc?): toygrpc traces "
            f"grpc.aio calls, so it follows none here; it saw {batches} core batch(es) "
            f"started on {threads} thread(s), kept in the trace")


def _name_threads(timeline: Timeline, pid: int, events: list[Event],
                  native: dict[str, str]) -> None:
    """Give each thread a role: main, poller (grpc.aio's), a Python thread's own name, or
    the core's own thread names; "poller" and "core" only for what they are."""
    for tid_text, name in native.items():
        timeline.threads[(pid, int(tid_text))] = name
    aio = any(isinstance(e, ThreadStarted) and POLLER_THREAD_MARK in e.name for e in events)
    python_threads = set()
    for event in events:
        if isinstance(event, ThreadStarted):
            python_threads.add(event.native_id)
            role = "poller" if POLLER_THREAD_MARK in event.name else f"python {event.name}"
            timeline.threads[(pid, event.native_id)] = role
    for event in events:
        if isinstance(event, CoreReturnEvent):
            timeline.threads.setdefault((pid, event.tid), "poller" if aio else "cq reader")
        elif isinstance(event, CoreTagCompleted) and event.tid not in python_threads:
            timeline.threads.setdefault((pid, event.tid), "core")
    timeline.threads[(pid, pid)] = "main"


def load_or_build(cap: Manifest) -> Timeline:
    """The run's timeline, from ``events.jsonl`` when present, else built and saved."""
    if cap.layout.events.is_file():
        return Timeline.load(cap.run_dir)
    timeline = build_timeline(cap)
    timeline.save(cap.run_dir)
    return timeline
