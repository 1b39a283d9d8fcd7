"""The HTTP/2 frames of a run (captured with ``--tracer http``), per process and stream.

The core logs each frame its transport parses, not the ones it writes, so a frame is
listed under the process that received it: a client's request frames appear in the
server's rows and its reply frames in the client's. Trace both sides to see both ways.
"""

from __future__ import annotations

from dataclasses import dataclass

from toygrpc.model.events import Http2FrameReceived, Http2StreamOp
from toygrpc.model.timeline import Timeline

GRPC_MESSAGE_PREFIX = 5  # a gRPC message on the wire: 1 flag byte, 4 length bytes, then it


@dataclass(frozen=True)
class FrameRow:
    """One frame received, with who received it and when (µs after the run's first frame,
    on the common clock)."""

    receiver: str  # the process role: client, server, program
    at_us: float
    frame: str  # TYPE:FLAG:FLAG as the core prints it
    length: int
    stream_id: int
    thread: int


def frame_rows(timeline: Timeline, stream_id: int | None = None) -> list[FrameRow]:
    """Every frame received, in time order; only those of ``stream_id`` if given (0 is
    the connection's own: SETTINGS, PING, WINDOW_UPDATE)."""
    frames = [e for e in timeline.events if isinstance(e, Http2FrameReceived)
              and (stream_id is None or e.stream_id == stream_id)]
    frames.sort(key=lambda e: e.ts)
    first = frames[0].ts if frames else 0
    return [FrameRow(timeline.processes.get(e.pid, str(e.pid)), (e.ts - first) / 1000,
                     ":".join((e.frame, *e.flags)), e.length, e.stream_id, e.tid)
            for e in frames]


def sent_message_sizes(timeline: Timeline) -> dict[str, list[int]]:
    """Per process role, the length of every message its transport was asked to send
    (``perform_stream_op`` ``SEND_MESSAGE:len=N``), in order."""
    sizes: dict[str, list[int]] = {}
    for event in sorted((e for e in timeline.events if isinstance(e, Http2StreamOp)),
                        key=lambda e: e.ts):
        if event.message_bytes >= 0:
            role = timeline.processes.get(event.pid, str(event.pid))
            sizes.setdefault(role, []).append(event.message_bytes)
    return sizes
