"""toygrpc.analysis.http2 on a committed real capture with the core's ``http`` tracer
(tests/fixtures/runs/http-both-2: 2 unary RPCs, client and server traced; see
tests/analysis/recorded.py). Every expected row was read off ``events.jsonl`` by hand:
its line is cited, and ``test_every_cited_line_holds_its_frame`` checks it still says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analysis.recorded import HTTP_BOTH, raw, raw_events
from toygrpc.analysis.http2 import FrameRow, frame_rows, sent_message_sizes
from toygrpc.analysis.run import Run
from toygrpc.model.events import Http2FrameReceived, Http2StreamOp
from toygrpc.model.timeline import Timeline

SERVER, CLIENT = 11350, 11403
# The run's first frame: the client's SETTINGS as the server received it (line 116).
FIRST_FRAME_NS = 1795631906382651000

# Every frame received, in time order: (line, receiver, µs after the first frame, frame,
# length, stream id, receiving thread). The µs are the line's ts minus FIRST_FRAME_NS,
# worked out by hand (e.g. line 125: ...382687000 - ...382651000 = 36 µs).
FRAMES = (
    (116, "server", 0.0, "SETTINGS", 36, 0, 11400),
    (125, "server", 36.0, "WINDOW_UPDATE", 4, 0, 11400),
    (136, "client", 144.0, "SETTINGS", 24, 0, 11468),
    (143, "client", 169.0, "WINDOW_UPDATE", 4, 0, 11468),
    (144, "client", 171.0, "SETTINGS:ACK", 0, 0, 11468),
    (168, "server", 433.0, "SETTINGS:ACK", 0, 0, 11400),
    (169, "server", 440.0, "HEADERS:END_HEADERS", 275, 1, 11400),
    (173, "server", 491.0, "WINDOW_UPDATE", 4, 1, 11400),
    (174, "server", 494.0, "DATA:END_STREAM", 10, 1, 11400),
    (176, "server", 507.0, "WINDOW_UPDATE", 4, 0, 11400),
    (191, "client", 666.0, "PING", 8, 0, 11468),
    (254, "client", 2269.0, "HEADERS:END_HEADERS", 78, 1, 11468),
    (256, "client", 2286.0, "DATA", 18, 1, 11468),
    (258, "client", 2294.0, "HEADERS:END_STREAM:END_HEADERS", 30, 1, 11468),
    (260, "client", 2301.0, "WINDOW_UPDATE", 4, 0, 11468),
    (274, "server", 4014.0, "PING:ACK", 8, 0, 11400),
    (275, "server", 4020.0, "PING", 8, 0, 11400),
    (289, "client", 4122.0, "PING:ACK", 8, 0, 11468),
    (338, "server", 6886.0, "HEADERS:END_HEADERS", 70, 3, 11401),
    (342, "server", 6928.0, "WINDOW_UPDATE", 4, 3, 11401),
    (343, "server", 6931.0, "DATA:END_STREAM", 10, 3, 11401),
    (344, "server", 6934.0, "WINDOW_UPDATE", 4, 0, 11401),
    (429, "client", 7773.0, "HEADERS:END_HEADERS", 3, 3, 11465),
    (431, "client", 7785.0, "DATA", 18, 3, 11465),
    (432, "client", 7790.0, "HEADERS:END_STREAM:END_HEADERS", 16, 3, 11465),
    (434, "client", 7797.0, "WINDOW_UPDATE", 4, 0, 11465),
)
# The messages each side's transport was asked to send (perform_stream_op with
# SEND_MESSAGE; the others say message_bytes -1): the client's two requests (lines 152,
# 325), the server's two replies (lines 241, 396).
SENT = {"client": [(152, 5), (325, 5)], "server": [(241, 13), (396, 13)]}


@pytest.fixture(scope="module")
def run() -> Run:
    return Run.load(HTTP_BOTH)


def _rows(frames: tuple[tuple[int, str, float, str, int, int, int], ...],
          first_us: float = 0.0) -> list[FrameRow]:
    return [FrameRow(receiver, at - first_us, frame, length, stream, thread)
            for _, receiver, at, frame, length, stream, thread in frames]


def test_every_cited_line_holds_its_frame() -> None:
    pids = {"server": SERVER, "client": CLIENT}
    assert raw(HTTP_BOTH, 1)["processes"] == {str(SERVER): "server", str(CLIENT): "client"}
    assert raw(HTTP_BOTH, 116)["ts"] == FIRST_FRAME_NS
    for line, receiver, at_us, frame, length, stream, thread in FRAMES:
        event = raw(HTTP_BOTH, line)
        name, *flags = frame.split(":")
        assert (event["kind"], event["pid"], event["tid"], event["frame"], event["flags"],
                event["length"], event["stream_id"]) == (
            "core.http2_frame", pids[receiver], thread, name, flags, length, stream), line
        assert event["ts"] == FIRST_FRAME_NS + int(at_us * 1000), line
    frames = [e for e in raw_events(HTTP_BOTH) if e["kind"] == "core.http2_frame"]
    assert len(frames) == len(FRAMES)
    for role, sent in SENT.items():
        for line, size in sent:
            event = raw(HTTP_BOTH, line)
            assert (event["kind"], event["pid"], event["message_bytes"]) == (
                "core.http2_stream_op", pids[role], size)
            assert "SEND_MESSAGE" in event["ops"]
    ops = [e for e in raw_events(HTTP_BOTH) if e["kind"] == "core.http2_stream_op"]
    assert sum(e["message_bytes"] >= 0 for e in ops) == 4
    assert all("SEND_MESSAGE" not in e["ops"] for e in ops if e["message_bytes"] < 0)


def test_every_frame_in_time_order_with_its_receiver(run: Run) -> None:
    assert frame_rows(run.timeline) == _rows(FRAMES)


def test_the_frames_of_one_stream_count_from_its_first_frame(run: Run) -> None:
    stream_1 = tuple(f for f in FRAMES if f[5] == 1)
    stream_3 = tuple(f for f in FRAMES if f[5] == 3)
    assert [f[0] for f in stream_1] == [169, 173, 174, 254, 256, 258]
    assert [f[0] for f in stream_3] == [338, 342, 343, 429, 431, 432]
    # Stream 1 begins at line 169 (440 µs after the run's first frame), stream 3 at 338.
    assert frame_rows(run.timeline, 1) == _rows(stream_1, 440.0)
    assert frame_rows(run.timeline, 3) == _rows(stream_3, 6886.0)
    assert [r.at_us for r in frame_rows(run.timeline, 3)] == [0.0, 42.0, 45.0, 887.0, 899.0,
                                                              904.0]


def test_stream_zero_is_the_connections_own_frames(run: Run) -> None:
    """0 is a stream id like the others, not "no filter": SETTINGS, PING, WINDOW_UPDATE."""
    connection = tuple(f for f in FRAMES if f[5] == 0)
    assert len(connection) == 14
    assert frame_rows(run.timeline, 0) == _rows(connection)
    assert frame_rows(run.timeline, 5) == []  # no third RPC, no stream 5


def test_sent_message_sizes_per_role_in_order(run: Run) -> None:
    assert sent_message_sizes(run.timeline) == {
        role: [size for _, size in sent] for role, sent in SENT.items()}


def test_a_run_without_the_http_tracer_has_no_frames() -> None:
    timeline = Timeline.load(Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "both-3")
    assert frame_rows(timeline) == []
    assert sent_message_sizes(timeline) == {}


def test_time_order_and_unknown_processes_on_hand_made_events() -> None:
    """Events out of time order, of a pid the run does not name (hand-made): the rows come
    in time order, the receiver is the pid; an empty message (0 bytes) is a message."""
    late = Http2FrameReceived(ts=5_000, pid=7, tid=8, transport="t", frame="DATA",
                              flags=("END_STREAM",), length=5, stream_id=1)
    early = Http2FrameReceived(ts=2_000, pid=9, tid=9, transport="t", frame="HEADERS",
                               flags=(), length=40, stream_id=1)
    send_later = Http2StreamOp(ts=4_000, pid=9, tid=9, stream="s", ops=("SEND_MESSAGE",),
                               message_bytes=7)
    send_empty = Http2StreamOp(ts=3_000, pid=9, tid=9, stream="s", ops=("SEND_MESSAGE",),
                               message_bytes=0)
    no_message = Http2StreamOp(ts=1_000, pid=9, tid=9, stream="s", ops=("RECV_MESSAGE",),
                               message_bytes=-1)
    unnamed = Http2StreamOp(ts=6_000, pid=7, tid=8, stream="s", ops=("SEND_MESSAGE",),
                            message_bytes=12)
    timeline = Timeline([late, send_later, unnamed, early, send_empty, no_message],
                        processes={9: "server"})
    assert frame_rows(timeline) == [FrameRow("server", 0.0, "HEADERS", 40, 1, 9),
                                    FrameRow("7", 3.0, "DATA:END_STREAM", 5, 1, 8)]
    assert sent_message_sizes(timeline) == {"server": [0, 7], "7": [12]}
