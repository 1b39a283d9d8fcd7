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
import dataclasses
import inspect
import json
from collections import defaultdict
from collections.abc import Callable
from itertools import chain, islice
from math import inf
from operator import attrgetter
from pathlib import Path
from typing import Any

import msgspec

from toygrpc.capture.corelog import LineDamage, LogClock, parse_lines
from toygrpc.model.events import (
    CoreBatchStarted,
    CoreLine,
    CoreReturnEvent,
    CoreTagCompleted,
    Event,
    FutureCreated,
    GlueSpan,
    HandlerSerialization,
    LoopWake,
    PollerSocket,
    PythonSlice,
    RpcStarted,
    TaskResumed,
    ThreadStarted,
)
from toygrpc.model.layout import ProcessLayout
from toygrpc.model.manifest import Manifest
from toygrpc.model.timeline import Timeline, collector_paused, event_from_record

POLLER_THREAD_MARK = "_poll_wrapper"
TRUNCATION_NS = 1000  # the core prints microseconds


def build_timeline(cap: Manifest) -> Timeline:
    """Parse every process's raw files and merge them, sorted by time.

    The cyclic garbage collector is off meanwhile: the merge makes millions of objects
    that all live on (a full capture's events), and each of its collections would walk
    every one of them again for nothing."""
    with collector_paused():
        return _build_timeline(cap)


def _build_timeline(cap: Manifest) -> Timeline:
    timeline = Timeline(events=[], diagnostics=list(cap.diagnostics))
    clock = log_clock(cap)
    for proc in cap.processes:
        if not proc.traced:
            continue
        files = cap.layout.process(proc.role)
        events: list[Event] = []
        hooks_file = files.hooks
        if hooks_file.is_file():
            events.extend(_read_hooks(files, timeline, proc.role))
        pid = _process_id(proc.pid, events, timeline.hooks.get(proc.role, {}))
        timeline.processes[pid] = proc.role
        if not hooks_file.is_file():
            timeline.diagnostics.append(f"{proc.role}: no hook events ({hooks_file} missing)")
            timeline.lose(f"{proc.role}: hook events (hooks.jsonl missing)")
        core_file = files.core_log
        if core_file.is_file():
            damage = LineDamage()
            with core_file.open(errors="replace") as lines:
                events.extend(parse_lines(lines, pid, clock, damage=damage,
                                          keep_values=cap.options.get("keep_values") is True))
            _lose_damaged_lines(damage, timeline, proc.role)
            _check_core_size(core_file, proc.core_log_bytes, timeline, proc.role)
        else:
            timeline.diagnostics.append(f"{proc.role}: no core log ({core_file} missing)")
            timeline.lose(f"{proc.role}: the core's trace (core.log missing)")
        viz_file = files.viztracer
        python: list[PythonSlice] = []  # none of the checks below reads viztracer's slices
        if proc.viztracer:
            if viz_file.is_file():
                python = _read_viztracer(viz_file, files.clock, pid, proc.role, timeline, events)
            else:
                timeline.diagnostics.append(
                    f"{proc.role}: viztracer wrote no {viz_file.name} (it starts at the "
                    "program's first grpc.aio channel or server; --python-from-start "
                    "records from interpreter start)")
                timeline.lose(f"{proc.role}: the Python layer (viztracer wrote no file)")
        core_clock = timeline.clock.setdefault(proc.role, {})["core"] = check_core_clock(events)
        interval = core_clock.get("offset_interval_ns") or [0, 0]
        # One clock: the offset must be 0 up to the core's truncation to the microsecond.
        if core_clock.get("consistent") is False or not (
                interval[0] <= TRUNCATION_NS and interval[1] >= 0):  # e.g. a damaged offset
            timeline.lose(f"{proc.role}: the core log's times disagree with the hooks' "
                          "(check capture.json's started_ns and utc_offset_s)")
        _name_threads(timeline, pid, events, timeline.hooks.get(proc.role, {}).get("threads", {}))
        not_aio = not_grpc_aio(events)
        if not_aio:
            timeline.diagnostics.append(f"{proc.role}: {not_aio}")
        timeline.diagnostics.extend(f"{proc.role}: {line}" for line in unknown_tracers(events))
        timeline.events.extend(events)
        timeline.events.extend(python)
    timeline.events.sort(key=attrgetter("ts"))
    return timeline


def _process_id(listed: int, hook_events: list[Event], report: dict[str, Any]) -> int:
    """The traced process's id: the one its own hook events carry, else its report's,
    else the manifest's (a damaged manifest must not detach the core log from the hooks)."""
    if hook_events:
        counts: dict[int, int] = defaultdict(int)
        for event in hook_events:
            counts[event.pid] += 1
        return max(counts, key=counts.__getitem__)
    reported = report.get("pid")
    return reported if isinstance(reported, int) else listed


def log_clock(cap: Manifest) -> LogClock:
    """How the core log lines of this capture map onto the common clock."""
    return LogClock(_year(cap.started_ns, cap.utc_offset_s), cap.utc_offset_s, cap.started_ns)


def _year(started_ns: int, utc_offset_s: int) -> int:
    import time

    return int(time.gmtime(started_ns // 1_000_000_000 + utc_offset_s).tm_year)


REPORT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "pid": int, "attached": dict, "failed": dict, "threads": dict, "finished": bool,
    "events_written": int, "events_dropped": int, "write_error": str, "core_log_bytes": int,
}


def _read_report(path: Path, timeline: Timeline, role: str) -> dict[str, Any]:
    """The hook report, checked field by field; damage is counted, not trusted."""
    try:
        report = json.loads(path.read_text(errors="replace"))
        if not isinstance(report, dict):
            raise TypeError("not an object")
        for key, kind in REPORT_FIELDS.items():
            if key in report and (not isinstance(report[key], kind)
                                  or isinstance(report[key], bool) is not (kind is bool)):
                raise TypeError(f"{key} is not {getattr(kind, '__name__', kind)}")
        for key in ("attached", "failed", "threads"):
            report[key] = {str(k): str(v) for k, v in report.get(key, {}).items()}
        return report
    except (OSError, ValueError, TypeError) as exc:
        timeline.diagnostics.append(f"{role}: {path.name} is damaged ({exc})")
        timeline.lose(f"{role}: hook report ({path.name} damaged)")
        return {}


_HOOK_LINE = msgspec.json.Decoder()


def _read_hooks(files: ProcessLayout, timeline: Timeline, role: str) -> list[Event]:
    path, report_path = files.hooks, files.hook_report
    report: dict[str, Any] = {}
    if report_path.is_file():
        report = _read_report(report_path, timeline, role)
        timeline.hooks[role] = report
        for hook, why in report.get("failed", {}).items():
            timeline.diagnostics.append(f"{role}: hook {hook} did not attach: {why}")
    else:
        timeline.lose(f"{role}: hook report ({report_path.name} missing)")
    events: list[Event] = []
    damaged = 0
    decode = _HOOK_LINE.decode
    with path.open(errors="replace") as source:
        for line in source:
            try:
                try:
                    data = decode(line)
                except msgspec.MsgspecError:  # damaged, or what json reads alone (NaN...)
                    data = json.loads(line)
                events.append(event_from_record(data))  # as event_from_dict reads it
            except (ValueError, KeyError, TypeError, AttributeError):
                damaged += 1
    timeline.lose(f"{role}: damaged hook events ({path.name})", damaged)
    written = report.get("events_written")
    if isinstance(written, int) and report.get("finished"):
        timeline.lose(f"{role}: hook events missing: {path.name} is cut",
                      written - len(events) - damaged)
    timeline.lose(f"{role}: hook events the process could not write",
                  int(report.get("events_dropped", 0)))
    if report and not report.get("finished", True):
        timeline.lose(f"{role}: the process did not finish (killed or crashed): events after "
                      "its last write")
    return events


def _lose_damaged_lines(damage: LineDamage, timeline: Timeline, role: str) -> None:
    """Count the core log's cut, undecodable and unparsed lines as losses."""
    timeline.lose(f"{role}: core log lines cut short (core.log)", damage.cut)
    timeline.lose(f"{role}: undecodable core log lines (core.log)", damage.undecodable)
    timeline.lose(f"{role}: unparsed core log lines (core.log)", damage.unparsed)


def _check_core_size(path: Path, expected: int, timeline: Timeline, role: str) -> None:
    """A core log smaller than it was when the capture ended has been cut."""
    size = path.stat().st_size
    if 0 <= size < expected:
        timeline.diagnostics.append(f"{role}: core.log holds {size} of its {expected} bytes")
        timeline.lose(f"{role}: core log bytes missing: core.log is cut", expected - size)


def _read_viztracer(path: Path, clock_path: Path, pid: int, role: str,
                    timeline: Timeline, hook_events: list[Event] | None = None
                    ) -> list[PythonSlice]:
    """viztracer's slices on the common clock; ``hook_events`` (the same process's) tell
    how many RPCs lost their Python layer when viztracer's buffer overflowed."""
    try:
        return _viztracer_events(path, clock_path, pid, role, timeline, hook_events or [])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ZeroDivisionError,
            OverflowError) as exc:
        timeline.diagnostics.append(f"{role}: viztracer output unusable "
                                    f"({type(exc).__name__}: {str(exc)[:120]})")
        timeline.lose(f"{role}: the Python layer ({path.name} or {clock_path.name} damaged)")
        return []


class VizEntry(msgspec.Struct, gc=False):
    """One of viztracer's trace events, as far as the merge reads it."""

    ph: str = ""
    tid: int | None = None  # None: missing (only a complete event must have them)
    name: str | None = None
    ts: float | None = None
    dur: float = 0
    args: dict[str, Any] | None = None


class VizFile(msgspec.Struct, gc=False):
    traceEvents: list[VizEntry]  # viztracer's name
    viztracer_metadata: Any = msgspec.field(default_factory=dict)


# A complete ("X") event, compact: (tid, ts us, -dur us, its place in the file, name,
# args or None), so that a plain sort puts them in the order the harness filter reads
# them (by thread, by start, the longer first, else in file order) without a key per
# event; a file of millions names a few thousand functions on a few threads, so each
# name and thread id is one shared object.
Complete = tuple[int, float, float, int, str, dict[str, Any] | None]
VIZTRACER_START = b'{"traceEvents":['
ENTRY_BOUNDARY = b'},{"'
READ_BLOCK_BYTES = 8 << 20
_ENTRIES = msgspec.json.Decoder(list[VizEntry])
_FILE = msgspec.json.Decoder(VizFile)


def read_viztracer_file(path: Path) -> tuple[list[Complete], dict[str, Any]]:
    """viztracer's complete events in file order, and its metadata, read block by block:
    the file (hundreds of MB for a long run) is never held whole, nor a dict per event.

    A block is cut after the last ``},{"`` in it and decoded as an array: if that was not
    between two events (an argument holding a list of objects; a name cannot hold it, its
    quotes are escaped), the block does not decode, and the file is decoded whole instead."""
    names: dict[str, str] = {}
    tids: dict[int, int] = {}
    complete: list[Complete] = []
    add, name_of, tid_of = complete.append, names.setdefault, tids.setdefault

    def keep(entries: list[VizEntry]) -> None:
        place = len(complete)
        for e in entries:
            if e.ph == "X":
                ts, tid, name = e.ts, e.tid, e.name
                if ts is None or tid is None or name is None:
                    raise KeyError("a complete event without its ts, tid or name")
                add((tid_of(tid, tid), ts, -e.dur, place, name_of(name, name), e.args))
                place += 1

    try:
        with path.open("rb") as source:
            if source.read(len(VIZTRACER_START)) != VIZTRACER_START:
                raise msgspec.DecodeError("not viztracer's layout")
            # "[" and what is left of the file after the last block decoded; a block is
            # decoded in place, its boundary's comma turned into the array's end
            pending = bytearray(b"[")
            while block := source.read(READ_BLOCK_BYTES):
                pending += block
                at = pending.rfind(ENTRY_BOUNDARY, 1)
                if at > 1:
                    cut = at + 1  # the comma between the two entries
                    pending[cut] = ord("]")
                    with memoryview(pending) as view, view[:cut + 1] as entries:
                        keep(_ENTRIES.decode(entries))
                    pending[cut] = ord("[")
                    del pending[:cut]
            tail = _FILE.decode(VIZTRACER_START[:-1] + pending)
        keep(tail.traceEvents)
        metadata = tail.viztracer_metadata
    except (msgspec.MsgspecError, UnicodeDecodeError):
        complete.clear()
        try:
            whole = _FILE.decode(path.read_bytes())
        except msgspec.MsgspecError as exc:  # damaged: said like json's errors
            raise ValueError(str(exc)) from None
        keep(whole.traceEvents)
        metadata = whole.viztracer_metadata
    if not isinstance(metadata, dict):
        raise TypeError("viztracer_metadata is not an object")
    return complete, metadata


def _viztracer_events(path: Path, clock_path: Path, pid: int, role: str,
                      timeline: Timeline, hook_events: list[Event]) -> list[PythonSlice]:
    samples = json.loads(clock_path.read_text())
    start: dict[str, float] = samples["start"]
    end: dict[str, float] = samples["end"]
    for sample in (start, end):
        for key in ("offset_ns", "width_ns", "realtime_ns"):
            if type(sample[key]) not in (int, float):
                raise TypeError(f"clock sample {key} is not a number")
    complete, metadata = read_viztracer_file(path)
    # Linear map from viztracer's microseconds to realtime nanoseconds through both samples.
    t0 = (start["realtime_ns"] - start["offset_ns"]) / 1000
    t1 = (end["realtime_ns"] - end["offset_ns"]) / 1000
    slope = (end["offset_ns"] - start["offset_ns"]) / (t1 - t0) if t1 > t0 else 0.0
    # Realtime nanoseconds (~1.8e18) are beyond a float's 53 bits: added to a float they
    # would round to 256 ns; the offset is added as a whole number, after the rounding.
    offset = round(start["offset_ns"])

    error = max(start["width_ns"], end["width_ns"]) / 2 + abs(end["offset_ns"] - start["offset_ns"])
    timeline.clock.setdefault(role, {})
    timeline.clock[role]["viztracer"] = {
        "method": "bracketed samples at start and end, linear map",
        "error_bound_ns": round(error),
        "drift_ns": round(end["offset_ns"] - start["offset_ns"]),
    }
    overflow = metadata.get("overflow")
    events: list[PythonSlice] = []
    no_args: dict[str, Any] = {}  # one for all: events are never changed
    kept = without_harness(complete)
    complete.clear()  # the harness's entries go now, the kept ones as they are turned
    kept.reverse()
    turn, add, new = kept.pop, events.append, object.__new__
    set_ts, set_pid, set_tid, set_dur, set_name, set_args = _slice_setters()
    for _ in range(len(kept)):
        tid, us, minus_dur, _, name, args = turn()
        event = new(PythonSlice)  # as PythonSlice(ts, pid, tid, dur, name, args) makes it
        set_ts(event, offset + round(us * 1000 + slope * (us - t0)))
        set_pid(event, pid)
        set_tid(event, tid)
        set_dur(event, round(-minus_dur * 1000))
        set_name(event, name)
        set_args(event, dict(args) if args else no_args)
        add(event)
    if overflow:
        # The ring buffer keeps a call from its exit on: whatever ended before the earliest
        # kept exit was dropped, and so is the Python layer of RPCs started before it.
        first = min((e.ts + e.dur for e in events), default=None)
        starts = [e for e in hook_events
                  if isinstance(e, RpcStarted)
                  or (isinstance(e, GlueSpan) and e.name == "_handle_rpc")]
        without = sum(1 for e in starts if first is None or e.ts < first)
        timeline.diagnostics.append(
            f"{role}: viztracer's buffer overflowed: the oldest Python events were dropped, "
            f"{without} of {len(starts)} RPCs have no Python layer (raise --tracer-entries)")
        timeline.lose(f"{role}: RPCs without their Python layer (viztracer's buffer "
                      "overflowed; raise --tracer-entries)", max(without, 1))
    return events


SLICE_FIELDS = ("ts", "pid", "tid", "dur", "name", "args")


def _slice_setters() -> list[Callable[[PythonSlice, Any], None]]:
    """What sets each of ``PythonSlice``'s fields (``SLICE_FIELDS``, its fields in order)
    on a new slice: its slot's own descriptor. A full capture makes millions of slices,
    and a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``
    by name, at nearly twice the cost."""
    fields = tuple(f.name for f in dataclasses.fields(PythonSlice))
    if fields != SLICE_FIELDS or hasattr(PythonSlice, "__post_init__"):
        raise TypeError(f"PythonSlice's fields are {fields}, not {SLICE_FIELDS}")
    return [inspect.getattr_static(PythonSlice, name).__set__ for name in SLICE_FIELDS]


# viztracer names a Python frame "qualname (file:line)": the harness's files are here,
# wherever the package is installed.
HARNESS_DIR = "/toygrpc/capture/"


def without_harness(complete: list[Complete]) -> list[Complete]:
    """viztracer's complete events less the harness: the program and grpc as they run
    untraced. A frame of ``toygrpc.capture`` goes, and so does everything under it,
    except under a wrapper (a hook's wrapper function or a Traced*/Tracing* method):
    there the Python frames it calls (what it wraps, and what runs from there) stay,
    and only its own C calls (clock reads, bookkeeping) go. Excluding the files in
    viztracer itself would hide the wrapped calls too: it ignores whole subtrees."""
    complete.sort()  # by thread, start, longer first, then file order (never further)
    kept: list[Complete] = []
    keep = kept.append
    # the open frames of this thread under the top one: where each ends, and its mode;
    # the top one's in locals (a frame that never ends, shown, stands for the thread)
    ends: list[float] = []
    modes: list[int] = []
    top_end, top_mode = inf, SHOW
    tid = None
    by_name: dict[str, tuple[int, int, int]] = {}  # name -> _modes(name): names recur
    following = chain(islice(complete, 1, None), (LAST,))
    for entry, after in zip(complete, following, strict=False):  # LAST alone when empty
        thread, start, minus_dur, _, name, _ = entry
        if thread != tid:
            tid, ends, modes, top_end, top_mode = thread, [], [], inf, SHOW
        while top_end <= start:
            top_end, top_mode = (ends.pop(), modes.pop()) if ends else (inf, SHOW)
        mode_under = by_name.get(name)
        if mode_under is None:
            mode_under = by_name[name] = _modes(_name_kind(name))
        mode = mode_under[top_mode]
        if mode == SHOW:
            keep(entry)
        end = start - minus_dur
        # A frame that ends before the next starts (most: C calls) closes before anything
        # reads what is open: it is never opened.
        if end > after[1]:
            ends.append(top_end)
            modes.append(top_mode)
            top_end, top_mode = end, mode
    return kept


LAST: Complete = (0, inf, 0.0, 0, "", None)  # after the last entry: it starts never


# A frame's mode: kept (SHOW), gone with all under it (HIDE), or a wrapper's (WRAPPER):
# gone itself, and so are its own C calls, but the Python frames under it stay.
SHOW, WRAPPER, HIDE = 0, 1, 2


def _modes(kind: str) -> tuple[int, int, int]:
    """The mode of a frame of this kind (``_name_kind``) under a frame of each mode,
    indexed by SHOW, WRAPPER, HIDE."""
    if kind == "wrapper":
        return (WRAPPER, WRAPPER, HIDE)
    if kind == "hidden":
        return (HIDE, HIDE, HIDE)
    return (SHOW, WRAPPER if kind == "c" else SHOW, HIDE)


def _name_kind(name: str) -> str:
    """``wrapper`` or ``hidden`` for a harness frame, ``python`` for another Python
    frame, ``c`` for a C call."""
    if HARNESS_DIR in name:
        function = name.split(" (")[0]
        wrapper = "<locals>" in function or function.startswith(("Traced", "Tracing"))
        return "wrapper" if wrapper else "hidden"
    return "python" if name.endswith(")") and " (" in name else "c"


def check_core_clock(events: list[Event]) -> dict[str, Any]:
    """Bound the offset between core log stamps and hook stamps with per-batch brackets."""
    created: list[FutureCreated] = []
    awaited: dict[int, list[int]] = defaultdict(list)  # future ids are reused: keep all
    starts_by_tid: dict[int, list[CoreBatchStarted]] = defaultdict(list)
    for e in events:  # once: a capture holds hundreds of thousands
        if isinstance(e, FutureCreated):
            if e.in_batch:
                created.append(e)
        elif isinstance(e, TaskResumed):
            if e.awaited_ts:
                awaited[e.future_id].append(e.awaited_ts)
        elif isinstance(e, CoreBatchStarted):
            starts_by_tid[e.tid].append(e)
    lows: list[int] = []  # per bracket, the offsets it allows: [low, high]
    highs: list[int] = []
    created_by_tid: dict[int, list[FutureCreated]] = defaultdict(list)
    for f in sorted(created, key=lambda e: e.ts):
        created_by_tid[f.tid].append(f)
    later = _hook_instants(events) if not awaited else {}
    for tid, futures in created_by_tid.items():
        for future, start in zip(futures, sorted(starts_by_tid.get(tid, []), key=lambda e: e.ts),
                                 strict=False):
            times = awaited.get(future.future_id, [])
            at = bisect.bisect_left(times, future.ts)  # in time order: ids recur, never scan
            if at < len(times):
                upper = times[at]
            else:  # no await recorded: the thread's next instant any hook read is after it
                instants = later.get(tid, [])
                at = bisect.bisect_right(instants, future.ts)
                if at == len(instants):
                    continue
                upper = instants[at]
            # true core time = logged + delta, delta in [0, 1us) from truncation
            lows.append(future.ts - start.ts - TRUNCATION_NS)
            highs.append(upper - start.ts)
    brackets = len(lows)
    if not brackets:
        return {"method": "same clock (CLOCK_REALTIME), unchecked: no batch brackets",
                "brackets": 0, "error_bound_ns": None}
    lo, hi = max(lows), min(highs)
    consistent = lo <= hi
    return {
        "method": "same clock (CLOCK_REALTIME); checked by bracketing each batch start "
                  "between its waiter's creation and " + (
                      "the await" if awaited else "the thread's next hook instant"),
        "brackets": brackets,
        "offset_interval_ns": [lo, hi],
        "consistent": consistent,
        "error_bound_ns": max(abs(lo), abs(hi), TRUNCATION_NS) if consistent else abs(lo - hi),
    }


def _hook_instants(events: list[Event]) -> dict[int, list[int]]:
    """Every instant a hook read the clock at, per thread, in time order. Between a batch
    waiter's creation and ``grpc_call_start_batch`` no hook runs, so the thread's first
    instant after the creation is after the batch start: an upper bound of the bracket
    where the hooks do not record the await itself (``TaskResumed.awaited_ts``)."""
    instants: dict[int, list[int]] = defaultdict(list)
    for e in events:
        if e.category in ("hook", "glue", "rpc"):
            instants[e.tid].append(e.ts)
            if isinstance(e, LoopWake):
                instants[e.tid].append(e.ts - e.waited)  # when the select() began
    for times in instants.values():
        times.sort()
    return instants


def unknown_tracers(events: list[Event]) -> list[str]:
    """One line per core tracer the core refused (``--tracer NAME`` it does not know, or
    one compiled only into debug builds): it logs nothing for it, which must not pass
    for "nothing happened"."""
    prefix = "Unknown tracer: "
    names = dict.fromkeys(e.text.removeprefix(prefix).strip() for e in events
                          if isinstance(e, CoreLine) and e.text.startswith(prefix))
    return [f"the core does not know the tracer {name!r} (a typo, or a tracer of debug "
            "builds only): it logged nothing for it" for name in names]


def not_grpc_aio(events: list[Event]) -> str:
    """One line when a process used grpc but not grpc.aio ("" otherwise): the harness
    follows grpc.aio's calls; a synchronous program's core activity is kept, unexplained."""
    hooked = any(e.category != "core" and e.category != "python" for e in events)
    aio = any(isinstance(e, GlueSpan | FutureCreated | RpcStarted | PollerSocket
                         | HandlerSerialization) and
              (not isinstance(e, FutureCreated) or e.in_batch) for e in events)
    # grpc.aio's poller socket is made when its first channel or server starts: a process
    # killed before writing any call still shows it (synchronous grpc never makes one)
    if aio or not hooked:  # without hook events, nothing can be told
        return ""
    batches = sum(isinstance(e, CoreBatchStarted) for e in events)
    if not batches:
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
    started: list[ThreadStarted] = []
    core: dict[int, bool] = {}  # thread -> whether its first core event returned a queue event
    for event in events:  # once: a capture holds hundreds of thousands
        if isinstance(event, ThreadStarted):
            started.append(event)
        elif isinstance(event, CoreReturnEvent):
            core.setdefault(event.tid, True)
        elif isinstance(event, CoreTagCompleted):
            core.setdefault(event.tid, False)
    aio = any(POLLER_THREAD_MARK in e.name for e in started)
    for event in started:
        role = "poller" if POLLER_THREAD_MARK in event.name else f"python {event.name}"
        timeline.threads[(pid, event.native_id)] = role
    for tid, returned in core.items():  # the threads named so far keep their names
        timeline.threads.setdefault((pid, tid), ("poller" if aio else "cq reader")
                                    if returned else "core")
    timeline.threads[(pid, pid)] = "main"


def load_or_build(cap: Manifest) -> Timeline:
    """The run's timeline, from ``events.jsonl`` when present, else built and saved."""
    if cap.layout.events.is_file():
        return Timeline.load(cap.run_dir)
    timeline = build_timeline(cap)
    timeline.save(cap.run_dir)
    return timeline
