"""The writer's short cuts give what the plain ways give: the merge of the tracks' streams
is ``heapq.merge``'s, a sort by start alone is the sort by (start, longer first), a
stack ``nested`` has cut stays sorted (so its track is not sorted again), and the event
encoder's cached fields are the fields a first encoding writes. Hand-made and seeded
random inputs: these are layout rules, not captures."""

from __future__ import annotations

import heapq
import random

from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import InternedData, TrackEvent

from toygrpc.render import protowire as pw
from toygrpc.render.perfetto import (
    Slice,
    TraceModel,
    _EventEncoder,
    _nesting_key,
    nested,
    ordered_events,
    sort_by_start,
    track_events,
)


def random_slices(rng: random.Random, track: int, count: int, span: int) -> list[Slice]:
    """Slices and instants at few distinct times (so many start at once), some of them
    ending after the slice they start in."""
    result = []
    for n in range(count):
        ts = rng.randrange(span)
        end = None if rng.random() < 0.3 else ts + rng.randrange(span // 2 + 1)
        result.append(Slice(track, ts, end, f"s{n}", "test"))
    return result


def test_the_merge_is_heapq_merge_even_for_streams_out_of_order() -> None:
    rng = random.Random(13)
    for _ in range(200):
        tracks = rng.randrange(1, 6)
        slices = [s for track in range(1, tracks + 1)
                  for s in random_slices(rng, track, rng.randrange(0, 12), 20)]
        rng.shuffle(slices)
        model = TraceModel(slices=slices)
        per_track: dict[int, list[Slice]] = {}
        for s in slices:
            per_track.setdefault(s.track, []).append(s)
        expected = list(heapq.merge(*(track_events(items) for items in per_track.values()),
                                    key=lambda event: event[0]))
        got = list(ordered_events(model))
        assert [(ts, kind, id(s)) for ts, kind, s in got] == [
            (ts, kind, id(s)) for ts, kind, s in expected]


def test_a_sort_by_start_alone_is_the_sort_by_start_then_length() -> None:
    rng = random.Random(7)
    for distinct in (True, False):
        for _ in range(100):
            starts = (rng.sample(range(1000), 30) if distinct
                      else [rng.randrange(10) for _ in range(30)])
            items = [Slice(1, ts, None if rng.random() < 0.3 else ts + rng.randrange(5),
                           "", "test") for ts in starts]
            expected = sorted(items, key=_nesting_key)
            sort_by_start(items, _nesting_key)
            assert [id(s) for s in items] == [id(s) for s in expected]


def test_a_stack_stays_sorted_once_cut_so_its_track_needs_no_second_sort() -> None:
    rng = random.Random(11)
    for _ in range(300):
        items = nested(random_slices(rng, 1, rng.randrange(0, 15), 12))
        assert items == sorted(items, key=_nesting_key)
        assert list(track_events(items, in_order=True)) == list(track_events(items))


def test_cached_fields_are_those_of_the_first_encoding() -> None:
    """Two alike events: the second, from the caches, is the same bytes; each name and
    string value is interned once, in the order the fields are written."""
    encoder = _EventEncoder()
    args = {"text": "plain", "address": "0x7faf", "call": "c=0x55c7", "n": 7, "neg": -3,
            "x": 2.5, "ok": True, "none": None, "nested": {"a": 1, "b": [1, 2]}}
    item = Slice(4, 10, 20, "work", "test", flows_out=[3], flows_in=[1, 2])
    def encode() -> bytes:
        return encoder.encode("B", item.name, item.category, item.track, args,
                              item.flows_out, item.flows_in)

    first = encode()
    interned = InternedData.FromString(encoder.interner.take())
    assert encode() == first
    assert encoder.interner.take() == b""
    event = TrackEvent.FromString(first)
    assert event.SerializeToString() == first
    assert (event.type, event.track_uuid, event.name_iid) == (1, 4, 1)
    assert list(event.flow_ids) == [3] and list(event.terminating_flow_ids) == [1, 2]
    names = {e.iid: e.name for e in interned.debug_annotation_names}
    values = {a.name_iid and names[a.name_iid]: a for a in event.debug_annotations}
    assert list(values) == ["text", "address", "call", "n", "neg", "x", "ok", "none",
                            "nested.a", "nested.b"]
    assert [(e.iid, e.str) for e in interned.debug_annotation_string_values] == [
        (values["text"].string_value_iid, b"plain"),
        (values["nested.b"].string_value_iid, b"1, 2")]
    assert values["address"].pointer_value == 0x7FAF
    assert values["call"].string_value == "c=0x55c7"
    assert (values["n"].int_value, values["neg"].int_value) == (7, -3)
    assert values["x"].double_value == 2.5 and values["ok"].bool_value is True
    assert values["none"].string_value == "null"
    assert values["nested.a"].int_value == 1
    assert [e.name for e in interned.event_names] == ["work"]
    assert [e.name for e in interned.event_categories] == ["test"]
    assert encoder.end_of(item.track) == pw.uint_field(pw.EVENT_TYPE, 2) + pw.uint_field(
        pw.EVENT_TRACK_UUID, 4)
