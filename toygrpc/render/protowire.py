"""The few protobuf messages of a Perfetto trace, encoded straight to bytes.

Building a ``TracePacket`` message object per event and serialising it cost about 10 µs
an event, most of the time a large trace takes to write. The trace needs a handful of
fields only (``TrackDescriptor``, ``TrackEvent``, its debug annotations, interned
names): they are encoded here by hand, field by field in field-number order as the
protobuf runtime writes them, so the bytes are the same. The field numbers and types are
those of Perfetto's ``perfetto_trace.proto``; a test checks them against the
``perfetto`` package's descriptors.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

# Wire types.
VARINT, FIXED64, LENGTH = 0, 1, 2

# Trace
TRACE_PACKET = 1
# TracePacket
PACKET_TIMESTAMP = 8
PACKET_SEQUENCE_ID = 10
PACKET_TRACK_EVENT = 11
PACKET_INTERNED_DATA = 12
PACKET_SEQUENCE_FLAGS = 13
PACKET_TRACK_DESCRIPTOR = 60
# TrackEvent
EVENT_CATEGORY_IIDS = 3
EVENT_DEBUG_ANNOTATIONS = 4
EVENT_TYPE = 9
EVENT_NAME_IID = 10
EVENT_TRACK_UUID = 11
EVENT_FLOW_IDS = 47
EVENT_TERMINATING_FLOW_IDS = 48
# DebugAnnotation
ANNOTATION_NAME_IID = 1
ANNOTATION_BOOL = 2
ANNOTATION_INT = 4
ANNOTATION_DOUBLE = 5
ANNOTATION_STRING = 6
ANNOTATION_POINTER = 7
ANNOTATION_STRING_IID = 17
# InternedData; each entry is {iid = 1, name (or str) = 2}
INTERNED_CATEGORIES = 1
INTERNED_NAMES = 2
INTERNED_ANNOTATION_NAMES = 3
INTERNED_STRING_VALUES = 29
# TrackDescriptor, ProcessDescriptor, ThreadDescriptor
TRACK_UUID = 1
TRACK_NAME = 2
TRACK_PROCESS = 3
TRACK_THREAD = 4
TRACK_PARENT_UUID = 5
TRACK_CHILD_ORDERING = 11
TRACK_SIBLING_ORDER_RANK = 12
PROCESS_PID = 1
PROCESS_NAME = 6
THREAD_PID = 1
THREAD_TID = 2
THREAD_NAME = 5

_DOUBLE = struct.Struct("<d")
_FIXED64 = struct.Struct("<Q")
def _encode(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = [_encode(n) for n in range(1 << 14)]  # one and two bytes: ids, lengths, ranks
SMALL_VARINTS: list[bytes] = _SMALL  # indexed by value: what a hot loop inlines
# The low 14 bits of a larger value: two bytes, both with the continuation bit.
_LOW14 = [bytes([(n & 0x7F) | 0x80, (n >> 7) | 0x80]) for n in range(1 << 14)]


def varint(value: int) -> bytes:
    """A varint; a negative number as its 64-bit two's complement (ten bytes), as
    protobuf writes int32/int64/enum fields."""
    if value < 16384:
        if value >= 0:
            return _SMALL[value]
        return _encode(value)
    # Up to 42 bits (a timestamp in ns: 73 minutes fit in 42 bits) without a loop.
    if value < 1 << 28:
        return _LOW14[value & 0x3FFF] + _SMALL[value >> 14]
    if value < 1 << 42:
        return _LOW14[value & 0x3FFF] + _LOW14[(value >> 14) & 0x3FFF] + _SMALL[value >> 28]
    out = b""
    while value >= 16384:
        out += _LOW14[value & 0x3FFF]
        value >>= 14
    return out + _SMALL[value]


def tag(field: int, wire_type: int) -> bytes:
    return _TAGS.get((field, wire_type)) or varint(field << 3 | wire_type)


_TAGS = {(field, wire): varint(field << 3 | wire) for field in range(1, 64)
         for wire in (VARINT, FIXED64, LENGTH)}


def uint_field(field: int, value: int) -> bytes:
    """A varint field (uint32/uint64/int32/int64/enum/bool)."""
    return _TAGS[field, VARINT] + varint(value)


def bytes_field(field: int, value: bytes) -> bytes:
    """A length-delimited field: a string, bytes or an embedded message."""
    return _TAGS[field, LENGTH] + varint(len(value)) + value


def string_field(field: int, value: str) -> bytes:
    return bytes_field(field, value.encode())


def double_field(field: int, value: float) -> bytes:
    return tag(field, FIXED64) + _DOUBLE.pack(value)


def fixed64_fields(field: int, values: Iterable[int]) -> bytes:
    """A repeated, unpacked fixed64 field."""
    key = tag(field, FIXED64)
    return b"".join(key + _FIXED64.pack(v) for v in values)


def interned_entry(iid: int, value: bytes) -> bytes:
    """An EventName/EventCategory/DebugAnnotationName/InternedString: iid, then its text."""
    return uint_field(1, iid) + bytes_field(2, value)


def packet(body: bytes) -> bytes:
    """One ``Trace.packet`` record around an encoded ``TracePacket``."""
    return bytes_field(TRACE_PACKET, body)
