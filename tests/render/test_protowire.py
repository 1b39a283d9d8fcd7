"""The hand-encoded Perfetto messages: the field numbers are Perfetto's, the bytes those the
protobuf runtime writes for the same message."""

from __future__ import annotations

import random

from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import (
    DebugAnnotation,
    InternedData,
    ProcessDescriptor,
    ThreadDescriptor,
    TracePacket,
    TrackDescriptor,
    TrackEvent,
)

from toygrpc.render import protowire as pw

FIELDS = {
    (TracePacket, "timestamp"): pw.PACKET_TIMESTAMP,
    (TracePacket, "trusted_packet_sequence_id"): pw.PACKET_SEQUENCE_ID,
    (TracePacket, "track_event"): pw.PACKET_TRACK_EVENT,
    (TracePacket, "interned_data"): pw.PACKET_INTERNED_DATA,
    (TracePacket, "sequence_flags"): pw.PACKET_SEQUENCE_FLAGS,
    (TracePacket, "track_descriptor"): pw.PACKET_TRACK_DESCRIPTOR,
    (TrackEvent, "category_iids"): pw.EVENT_CATEGORY_IIDS,
    (TrackEvent, "debug_annotations"): pw.EVENT_DEBUG_ANNOTATIONS,
    (TrackEvent, "type"): pw.EVENT_TYPE,
    (TrackEvent, "name_iid"): pw.EVENT_NAME_IID,
    (TrackEvent, "track_uuid"): pw.EVENT_TRACK_UUID,
    (TrackEvent, "flow_ids"): pw.EVENT_FLOW_IDS,
    (TrackEvent, "terminating_flow_ids"): pw.EVENT_TERMINATING_FLOW_IDS,
    (DebugAnnotation, "name_iid"): pw.ANNOTATION_NAME_IID,
    (DebugAnnotation, "bool_value"): pw.ANNOTATION_BOOL,
    (DebugAnnotation, "int_value"): pw.ANNOTATION_INT,
    (DebugAnnotation, "double_value"): pw.ANNOTATION_DOUBLE,
    (DebugAnnotation, "string_value"): pw.ANNOTATION_STRING,
    (DebugAnnotation, "pointer_value"): pw.ANNOTATION_POINTER,
    (DebugAnnotation, "string_value_iid"): pw.ANNOTATION_STRING_IID,
    (InternedData, "event_categories"): pw.INTERNED_CATEGORIES,
    (InternedData, "event_names"): pw.INTERNED_NAMES,
    (InternedData, "debug_annotation_names"): pw.INTERNED_ANNOTATION_NAMES,
    (InternedData, "debug_annotation_string_values"): pw.INTERNED_STRING_VALUES,
    (TrackDescriptor, "uuid"): pw.TRACK_UUID,
    (TrackDescriptor, "name"): pw.TRACK_NAME,
    (TrackDescriptor, "process"): pw.TRACK_PROCESS,
    (TrackDescriptor, "thread"): pw.TRACK_THREAD,
    (TrackDescriptor, "parent_uuid"): pw.TRACK_PARENT_UUID,
    (TrackDescriptor, "child_ordering"): pw.TRACK_CHILD_ORDERING,
    (TrackDescriptor, "sibling_order_rank"): pw.TRACK_SIBLING_ORDER_RANK,
    (ProcessDescriptor, "pid"): pw.PROCESS_PID,
    (ProcessDescriptor, "process_name"): pw.PROCESS_NAME,
    (ThreadDescriptor, "pid"): pw.THREAD_PID,
    (ThreadDescriptor, "tid"): pw.THREAD_TID,
    (ThreadDescriptor, "thread_name"): pw.THREAD_NAME,
}


def test_field_numbers_are_perfettos() -> None:
    for (message, name), number in FIELDS.items():
        assert message.DESCRIPTOR.fields_by_name[name].number == number, (message, name)


def test_varints_are_the_runtimes() -> None:
    values = [0, 1, 127, 128, 16383, 16384, 2**21, 2**35 + 7, 2**63 - 1, *(
        random.Random(7).randrange(2**63) for _ in range(200))]
    for value in values:
        assert pw.uint_field(8, value) == TracePacket(timestamp=value).SerializeToString()
    for rank in (-100, -1, 0, 5):
        expected = TrackDescriptor(sibling_order_rank=rank).SerializeToString()
        assert pw.uint_field(pw.TRACK_SIBLING_ORDER_RANK, rank) == expected


def test_an_event_encodes_as_the_runtime_encodes_it() -> None:
    event = TrackEvent(type=TrackEvent.TYPE_INSTANT, name_iid=3, track_uuid=9,
                       category_iids=[2], flow_ids=[5, 6], terminating_flow_ids=[1])
    annotation = event.debug_annotations.add()
    annotation.name_iid, annotation.double_value = 4, 2.5
    annotation = event.debug_annotations.add()
    annotation.name_iid, annotation.string_value = 5, "0x1 and more"
    encoded = (pw.uint_field(pw.EVENT_CATEGORY_IIDS, 2)
               + pw.bytes_field(pw.EVENT_DEBUG_ANNOTATIONS,
                                pw.uint_field(pw.ANNOTATION_NAME_IID, 4)
                                + pw.double_field(pw.ANNOTATION_DOUBLE, 2.5))
               + pw.bytes_field(pw.EVENT_DEBUG_ANNOTATIONS,
                                pw.uint_field(pw.ANNOTATION_NAME_IID, 5)
                                + pw.string_field(pw.ANNOTATION_STRING, "0x1 and more"))
               + pw.uint_field(pw.EVENT_TYPE, 3) + pw.uint_field(pw.EVENT_NAME_IID, 3)
               + pw.uint_field(pw.EVENT_TRACK_UUID, 9)
               + pw.fixed64_fields(pw.EVENT_FLOW_IDS, [5, 6])
               + pw.fixed64_fields(pw.EVENT_TERMINATING_FLOW_IDS, [1]))
    assert encoded == event.SerializeToString()
    names = InternedData()
    entry = names.event_names.add()
    entry.iid, entry.name = 1, "grpc_call_start_batch"
    assert (pw.bytes_field(pw.INTERNED_NAMES, pw.interned_entry(1, b"grpc_call_start_batch"))
            == names.SerializeToString())


def test_varints_at_every_length_boundary_are_the_runtimes() -> None:
    """Each varint length ends at 2**(7k) - 1 and the fast path's 14-bit steps at 2**(14k):
    both sides of every boundary, up to uint64's largest, and int64's ends."""
    values = sorted({v for k in range(1, 10) for bound in (2 ** (7 * k), 2 ** (14 * k))
                     for v in (bound - 1, bound, bound + 1) if v < 2**64} | {2**64 - 1})
    for value in values:
        assert pw.varint(value) == TracePacket(timestamp=value).SerializeToString()[1:], value
    for value in (-(2**63), -(2**63) + 1, -(2**56), -128, -1, 2**63 - 1):
        expected = DebugAnnotation(int_value=value).SerializeToString()
        assert pw.uint_field(pw.ANNOTATION_INT, value) == expected, value


def test_hand_worked_bytes() -> None:
    """Worked out by hand: field 1 varint 300 is 08 ac 02 (300 = 0b10_0101100); -1 is ten
    bytes, nine ff then 01; a tag past the table's fields (100 << 3 | 1 = 801) is a1 06."""
    assert pw.uint_field(1, 300) == bytes([0x08, 0xAC, 0x02])
    assert pw.varint(-1) == b"\xff" * 9 + b"\x01"
    assert pw.tag(100, pw.FIXED64) == bytes([0xA1, 0x06])
    assert pw.double_field(100, 1.0) == bytes([0xA1, 0x06, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
    assert pw.fixed64_fields(2, [1, 2 ** 64 - 1]) == (bytes([0x11, 1, 0, 0, 0, 0, 0, 0, 0])
                                                      + bytes([0x11]) + b"\xff" * 8)
    assert pw.fixed64_fields(2, []) == b""
    assert pw.string_field(2, "é") == bytes([0x12, 2, 0xC3, 0xA9])  # UTF-8
    assert pw.packet(b"\x08\x01") == bytes([0x0A, 2, 0x08, 0x01])
    assert pw.interned_entry(3, b"ab") == bytes([0x08, 3, 0x12, 2]) + b"ab"


def test_a_tag_past_the_table_is_the_runtimes() -> None:
    """``trusted_pid`` is TracePacket's field 79: its tag is not in the table of fields
    1-63, and is computed."""
    expected = TracePacket(trusted_pid=5).SerializeToString()
    assert pw.tag(79, pw.VARINT) + pw.varint(5) == expected
    long_text = "x" * 200  # a length of two bytes
    assert pw.string_field(pw.TRACK_NAME, long_text) == TrackDescriptor(
        name=long_text).SerializeToString()


def test_the_encoder_behind_the_tables_is_the_runtimes() -> None:
    """The one- and two-byte encodings are computed once, by the general encoder: checked
    here without the tables, around each length's boundary and for negatives."""
    for value in (0, 1, 127, 128, 129, 255, 16383, 16384, 2**21 - 1, 2**21, 2**63 - 1):
        assert pw._encode(value) == TracePacket(timestamp=value).SerializeToString()[1:], value
    for value in (-1, -128, -(2**63)):
        expected = DebugAnnotation(int_value=value).SerializeToString()[1:]
        assert pw._encode(value) == expected, value


def stamped_by_hand(times: list[int], codes: list[int], heads: list[list[bytes]],
                    tails: list[bytes], start: int, stop: int) -> list[bytes]:
    return [heads[len(pw.varint(t))][c] + pw.varint(t) + tails[c]
            for t, c in zip(times[start:stop], codes[start:stop], strict=True)]


def test_stamped_records_are_the_records_one_at_a_time() -> None:
    """Sorted times around every varint length up to 64 bits (negatives too), in stretches
    shorter and longer than the lanes' threshold, with tails of lengths that give heads
    of one and two bytes: what ``stamped`` joins is each record as written alone."""
    rng = random.Random(21)
    for trial in range(300):
        tails = [bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 7, 12, 126, 300])))
                 for _ in range(rng.randrange(1, 6))]
        heads: list[list[bytes]] = [[]] + [
            [pw.tag(1, pw.LENGTH) + pw.varint(1 + n + len(t)) + b"\x40" for t in tails]
            for n in range(1, 11)]
        bits = rng.choice([7, 14, 21, 28, 35, 42, 49, 56, 63, 64])
        count = rng.choice([0, 1, 5, pw.LANES_FROM - 1, pw.LANES_FROM, 500])
        times = sorted(rng.randrange(-3 if rng.random() < 0.1 else 0, 1 << bits)
                       for _ in range(count))
        codes = [rng.randrange(len(tails)) for _ in times]
        start = rng.randrange(count + 1)
        stop = rng.randrange(start, count + 1)
        assert pw.stamped(times, codes, heads, tails, start, stop) == stamped_by_hand(
            times, codes, heads, tails, start, stop), trial


def test_stamped_packets_are_the_runtimes() -> None:
    """Packets of slice ends on one track, at times of 1 to 8 varint bytes (each length a
    stretch long enough for lanes): each is the runtime's ``TracePacket`` in a ``Trace``."""
    event = TrackEvent(type=TrackEvent.TYPE_SLICE_END, track_uuid=3).SerializeToString()
    tail = (pw.uint_field(pw.PACKET_SEQUENCE_ID, 1) + pw.bytes_field(pw.PACKET_TRACK_EVENT,
                                                                       event))
    heads: list[list[bytes]] = [[]] + [
        [pw.tag(pw.TRACE_PACKET, pw.LENGTH) + pw.varint(1 + n + len(tail))
         + pw.tag(pw.PACKET_TIMESTAMP, pw.VARINT)] for n in range(1, 11)]
    times = sorted({(1 << 7 * n) - 1 - k for n in range(1, 9) for k in range(100)})
    packets = pw.stamped(times, [0] * len(times), heads, [tail], 0, len(times))
    for ts, packet in zip(times, packets, strict=True):
        message = TracePacket(timestamp=ts, trusted_packet_sequence_id=1)
        message.track_event.type = TrackEvent.TYPE_SLICE_END
        message.track_event.track_uuid = 3
        assert packet == pw.packet(message.SerializeToString()), ts
