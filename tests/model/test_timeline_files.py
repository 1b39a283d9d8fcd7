"""``events.jsonl`` written and read back: the fast paths give what the general ones give."""

from __future__ import annotations

import dataclasses
import gc
import json
from pathlib import Path
from typing import Any

import pytest

from tests.analysis.recorded import BOTH_3
from toygrpc.model.events import (
    CoreApiCall,
    Event,
    FutureCreated,
    GlueSpan,
    PythonSlice,
    ThreadSample,
    event_from_dict,
    event_to_dict,
)
from toygrpc.model.timeline import (
    Timeline,
    _event_lines,
    collector_paused,
    event_from_record,
    event_line,
)

# Events whose lines msgspec could spell otherwise than json: each must come out as json
# writes it.
AWKWARD = [
    PythonSlice(1, 2, 3, 4, "plain"),
    PythonSlice(5, 2, 3, 4, "caf\u00e9 \u2028", {}),
    PythonSlice(6, 2, 3, 4, "del\x7f and \x01 \"quoted\" \\ /", {}),
    PythonSlice(7, 2, 3, 4, "args", {"x": 1e-7, "y": [0.1, 1e20], "z": float("nan")}),
    PythonSlice(8, 2, 3, 4, "big", {"n": 1 << 70}),
    ThreadSample(9, 2, 3, {"5": {"name": "poller", "timeout_ms": 0.25}}),
    FutureCreated(9, 2, 3, 1 << 70, "x.py:1", 0, 0),
    GlueSpan(10, 2, 3, 5, "execute_batch", 1, ("SEND_MESSAGE", "RECV_MESSAGE")),
    CoreApiCall(11, 2, 3, "grpc_call_start_batch", "tag=0x1 \u00e9", "call.cc:1"),
]


def test_lines_are_what_json_writes() -> None:
    expected = b"".join(event_line(event_to_dict(e)) for e in AWKWARD)
    assert _event_lines(AWKWARD) == expected
    for event in AWKWARD:  # alone, and so in a block of plain lines
        assert _event_lines([event]) == event_line(event_to_dict(event))
        assert event_line(event_to_dict(event)) == (
            json.dumps(event_to_dict(event), separators=(",", ":")).encode() + b"\n")


def test_a_kind_the_file_does_not_know_is_written_by_json() -> None:
    class Local(PythonSlice):
        __slots__ = ()

    event = Local(1, 2, 3, 4, "local")
    assert _event_lines([event, AWKWARD[0]]) == (
        event_line(event_to_dict(event)) + event_line(event_to_dict(AWKWARD[0])))


def test_a_committed_run_reads_and_writes_as_the_general_paths_do(tmp_path: Path) -> None:
    """Every event read as ``event_from_dict`` reads it, written as ``event_line`` writes it."""
    timeline = Timeline.load(BOTH_3)
    lines = (BOTH_3 / "events.jsonl").read_text().splitlines()[1:]
    assert timeline.events == [event_from_dict(json.loads(line)) for line in lines]
    timeline.save(tmp_path)
    written = (tmp_path / "events.jsonl").read_bytes().split(b"\n", 1)[1]
    assert written == b"".join(event_line(event_to_dict(e)) for e in timeline.events)
    assert len(written) > 50_000


@pytest.mark.parametrize("record", [
    {"kind": "python.slice", "ts": 1, "pid": 2, "tid": 3, "dur": 4, "name": "f", "args": {}},
    {"kind": "python.slice", "ts": 1, "pid": 2, "tid": 3, "dur": 4, "name": "f"},  # default
    {"kind": "python.slice", "pid": 2, "ts": 1, "tid": 3, "dur": 4, "name": "f", "args": {}},
    {"kind": "glue.span", "ts": 1, "pid": 2, "tid": 3, "dur": 4, "name": "execute_batch",
     "batch_id": 1, "ops": ["A", "B"], "error": "", "call": 0, "detail": ""},
])
def test_a_record_reads_as_event_from_dict_reads_it(record: dict[str, object]) -> None:
    event = event_from_record(dict(record))
    assert event == event_from_dict(dict(record))
    assert type(event) is type(event_from_dict(dict(record)))


@pytest.mark.parametrize("record", [
    {"kind": "python.slice", "ts": True, "pid": 2, "tid": 3, "dur": 4, "name": "f", "args": {}},
    {"kind": "python.slice", "ts": 1.0, "pid": 2, "tid": 3, "dur": 4, "name": "f", "args": {}},
    {"kind": "python.slice", "ts": 1, "pid": 2, "tid": 3, "dur": 4, "name": "f", "args": []},
    {"kind": "python.slice", "ts": 1, "pid": 2, "tid": 3, "dur": 4, "name": "f", "args": {},
     "extra": 1},
    {"kind": "glue.span", "ts": 1, "pid": 2, "tid": 3, "dur": 4, "name": "execute_batch",
     "batch_id": 1, "ops": ["A", 2], "error": "", "call": 0, "detail": ""},
    {"kind": "no.such.kind", "ts": 1},
    {"kind": ["a list"], "ts": 1},
    {"ts": 1},
    ["not", "an", "object"],
])
def test_a_damaged_record_raises_what_event_from_dict_raises(record: object) -> None:
    with pytest.raises((KeyError, TypeError, ValueError, AttributeError)) as general:
        event_from_dict(record)  # type: ignore[arg-type]  # damaged on purpose
    with pytest.raises(general.type):
        event_from_record(record)


def test_the_collector_is_paused_then_as_it_was() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # left off, as it was
    finally:
        gc.enable()


def test_an_event_of_each_kind_round_trips(tmp_path: Path) -> None:
    # NaN never equals itself; an int beyond 64 bits reads back as a float (orjson)
    events: list[Event] = [e for e in AWKWARD if e.ts not in (7, 8, 9)]
    Timeline(events).save(tmp_path)
    assert Timeline.load(tmp_path).events == events


def test_slices_and_other_events_interleaved_keep_their_order() -> None:
    """The other events are written all at once and put back between the slices: each
    line where its event is, a slice with arguments by json, a non-ASCII line by json."""
    events: list[Event] = []
    for n in range(30):
        events.append(PythonSlice(n, 2, 3, 4, f"f{n % 4}"))
        if n % 3 == 0:
            events.append(AWKWARD[5 + n % 4])
        if n % 7 == 0:
            events.append(AWKWARD[3] if n % 2 else AWKWARD[1])
    names: dict[str, bytes] = {}
    expected = b"".join(event_line(event_to_dict(e)) for e in events)
    assert _event_lines(events, names) == expected
    assert _event_lines(events, names) == expected  # the names' JSON kept across calls
    assert names == {f"f{n}": b'"f%d"' % n for n in range(4)} | {
        "caf\u00e9 \u2028": b'"caf\\u00e9 \\u2028"'}
    assert _event_lines([]) == b""


def test_a_maker_makes_what_the_class_makes() -> None:
    """Every kind made from its fields' values equals (and hashes as) the class's own
    instance; a class with a ``__post_init__`` is made by the class itself, which runs
    it."""
    from toygrpc.model.events import EVENT_TYPES, maker

    for cls in EVENT_TYPES.values():
        values: list[Any] = [getattr(AWKWARD[-1], f.name, 0) if f.name in ("ts", "pid", "tid")
                  else {"int": 7, "str": "s", "bool": True, "dict": {"k": 1},
                        "tuple": ("a", "b")}[str(f.type).split("[")[0]]
                  for f in dataclasses.fields(cls)]
        made, expected = maker(cls)(*values), cls(*values)
        assert type(made) is cls and made == expected
        if not any(isinstance(value, dict) for value in values):  # a dict: no hash
            assert hash(made) == hash(expected)
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.ts = 0  # type: ignore[misc]
        assert maker(cls) is maker(cls)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked(PythonSlice):
        def __post_init__(self) -> None:
            raise ValueError("checked")

    assert maker(Checked) is Checked
    with pytest.raises(ValueError, match="checked"):
        maker(Checked)(1, 2, 3, 4, "f", {})
