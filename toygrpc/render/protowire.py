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
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence

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


def stamped(times: Sequence[int], codes: Sequence[int], heads: Sequence[Sequence[bytes]],
            tails: Sequence[bytes], start: int, stop: int) -> list[bytes]:
    """``heads[n][code] + varint(time) + tails[code]`` for each time and code of
    ``times[start:stop]`` and ``codes[start:stop]``, ``n`` the varint's length in bytes.

    What most of a large trace is: packets alike but for a timestamp, their first field
    (and their length, before it, which the varint's length sets). ``times[start:stop]``
    must be sorted: each varint length is then one stretch (found by bisection), encoded
    all at once (``_in_lanes``) or, when short, by one comprehension."""
    out: list[bytes] = []
    while start < stop:
        first = times[start]
        if first < 0:  # ten bytes
            length, end = 10, bisect_left(times, 0, start, stop)
        else:
            length = max(1, (first.bit_length() + 6) // 7)
            end = stop if length >= 10 else bisect_left(times, 1 << 7 * length, start, stop)
        if end - start >= LANES_FROM and length <= 8:
            out += _in_lanes(times[start:end], codes[start:end], heads[length], tails, length)
        else:
            head = heads[length]
            out += [head[c] + varint(t) + tails[c]
                    for t, c in zip(times[start:end], codes[start:end], strict=True)]
        start = end
    return out


LANES_FROM = 64  # the fewest records ``stamped`` encodes in lanes


def _in_lanes(times: Sequence[int], codes: Sequence[int], heads: Sequence[bytes],
              tails: Sequence[bytes], length: int) -> list[bytes]:
    """``heads[code] + varint(time) + tails[code]`` for each time and code, every varint
    of ``length`` bytes (at most 8), without a Python operation per record.

    Each record is laid out in a lane of its own, all lanes ``width`` bytes: its head
    ending at ``offset``, ``length`` zero bytes for the varint, its tail, zeros. The
    varints' bytes are then computed for all records at once by big-integer arithmetic
    on the times packed as 64-bit words (byte ``k`` of each varint is bits 7k to 7k+6 of
    its time, with the continuation bit on all bytes but the last) and written into
    their place in every lane by one strided slice assignment per byte; ``struct`` cuts
    each record out of its lane."""
    offset = max(map(len, heads))
    width = offset + length + max(map(len, tails))
    lanes, formats = [], []
    for head, tail in zip(heads, tails, strict=True):
        before, after = offset - len(head), width - offset - length - len(tail)
        lanes.append(bytes(before) + head + bytes(length) + tail + bytes(after))
        formats.append(f"{before}x{len(head) + length + len(tail)}s{after}x")
    count = len(times)
    buffer = bytearray(b"".join(map(lanes.__getitem__, codes)))
    words = int.from_bytes(array("q", times).tobytes(), "little")  # 0 <= time < 2**56
    low7 = int.from_bytes(b"\x7f\0\0\0\0\0\0\0" * count, "little")
    more = int.from_bytes(b"\x80\0\0\0\0\0\0\0" * count, "little")
    for k in range(length):
        group = words >> 7 * k & low7
        if k < length - 1:
            group |= more
        buffer[offset + k::width] = group.to_bytes(8 * count, "little")[::8]
    return list(struct.unpack("".join(map(formats.__getitem__, codes)), buffer))
