"""The core log parser against lines of each format, with the expected instants written
out by hand (``date -u -d 2026-11-25T00:24:18Z +%s`` = 1795566258)."""

from __future__ import annotations

import pytest

from toygrpc.capture.corelog import LogClock, parse_lines, redact_line
from toygrpc.model.events import (
    CoreApiCall,
    CoreBatchStarted,
    CoreLine,
    CoreReturnEvent,
    CoreTagCompleted,
    Event,
    Http2FrameReceived,
    Http2StreamOp,
    Http2StreamOpened,
    Http2WriteState,
)

PID = 7
START_2026_11_25 = 1795564800 * 10**9  # 2026-11-25T00:00:00Z, the capture's start
START_SYLVESTER = 1798761599 * 10**9  # 2026-12-31T23:59:59Z
BATCH = ("I1125 00:24:18.719705    2198 call.cc:494] grpc_call_start_batch(call=0x55f9beb26360,"
         " ops=0x55f9be8747b0, nops=2, tag=0x7fdde9524758, reserved=0)")
OPS = ("I1125 00:24:18.719710    2198 filter_stack_call.cc:747] ops[0]: SEND_INITIAL_METADATA",
       "I1125 00:24:18.719712    2198 filter_stack_call.cc:747] ops[1]: SEND_MESSAGE ptr=0x1")


def parse(*lines: str, offset_s: int = 0, start_ns: int = START_2026_11_25,
          year: int = 2026) -> list[Event]:
    return list(parse_lines(lines, PID, LogClock(year, offset_s, start_ns)))


@pytest.mark.parametrize(("offset_s", "utc_seconds"), [
    (0, 1795566258),  # UTC: 2026-11-25T00:24:18Z
    (3600, 1795562658),  # UTC+1: the same local time is 2026-11-24T23:24:18Z
    (-18000, 1795584258),  # UTC-5: 2026-11-25T05:24:18Z
])
def test_local_time_becomes_utc_nanoseconds(offset_s: int, utc_seconds: int) -> None:
    (batch,) = parse(BATCH, *OPS, offset_s=offset_s)
    assert isinstance(batch, CoreBatchStarted)
    assert batch.ts == utc_seconds * 10**9 + 719_705_000
    assert (batch.pid, batch.tid) == (PID, 2198)
    assert batch.tag == "0x7fdde9524758" and batch.call == "0x55f9beb26360"
    assert batch.ops == ("SEND_INITIAL_METADATA", "SEND_MESSAGE")


def test_new_year_after_the_capture_started_is_the_next_year() -> None:
    line = "I0101 00:00:01.000001    2198 call.cc:494] grpc_init()"
    (event,) = parse(line, start_ns=START_SYLVESTER)
    assert event.ts == 1798761601 * 10**9 + 1_000  # 2027-01-01T00:00:01Z
    late = "I1231 23:59:59.500000    2198 call.cc:494] grpc_init()"
    (event,) = parse(late, start_ns=START_SYLVESTER)
    assert event.ts == 1798761599 * 10**9 + 500_000_000  # still 2026


def test_epoch_seconds_format_of_absl_before_its_initialisation() -> None:
    line = ("I0000 00:00:1795572788.271930   14985 call.cc:466] grpc_call_start_batch("
            "call=0x1, ops=0x2, nops=1, tag=0x3, reserved=0)")
    (batch,) = parse(line, "I0000 00:00:1795572788.271940   14985 f.cc:1] ops[0]: RECV_MESSAGE",
                     offset_s=3600)  # epoch seconds carry no zone: the offset is not applied
    assert isinstance(batch, CoreBatchStarted)
    assert batch.ts == 1795572788_271_930_000 and batch.tid == 14985
    assert batch.ops == ("RECV_MESSAGE",)


def test_nanosecond_format_of_gpr_log() -> None:
    line = ("I1125 00:24:18.719705123 2198 completion_queue.cc:762]          "
            "cq_end_op_for_next(cq=0x1, tag=0x7f1, error=OK, done=true)")
    (done,) = parse(line)
    assert isinstance(done, CoreTagCompleted)
    assert done.ts == 1795566258 * 10**9 + 719_705_123


@pytest.mark.parametrize(("error", "ok"), [("OK", True), ("UNKNOWN:Server Shutdown", False),
                                           ("CANCELLED", False)])
def test_a_completion_is_ok_only_when_the_core_says_ok(error: str, ok: bool) -> None:
    line = ("I1125 13:20:50.805513   12854 completion_queue.cc:762] cq_end_op_for_next("
            f"cq=0x559cbf2744f0, tag=0x7f898d2498d8, error={error}, done=true)")
    (done,) = parse(line)
    assert isinstance(done, CoreTagCompleted)
    assert done.ok is ok and done.tag == "0x7f898d2498d8"


def test_return_event_poller_side() -> None:
    line = ("I1125 13:20:50.758590   12864 completion_queue.cc:1108] RETURN_EVENT"
            "[0x563d54ad8da0]: OP_COMPLETE: tag:0x7f1cdb7d3f58 OK")
    (event,) = parse(line)
    assert isinstance(event, CoreReturnEvent)
    assert (event.tag, event.ok, event.event_type, event.tid) == (
        "0x7f1cdb7d3f58", True, "OP_COMPLETE", 12864)


def test_foreign_and_unknown_lines_are_kept_not_dropped() -> None:
    events = parse("Traceback (most recent call last):",
                   "I1125 00:24:18.000001    2198 x.cc:1] grpc_init()",
                   "I1125 00:24:18.000002    2198 x.cc:1] something the parser does not know")
    assert [type(e) for e in events] == [CoreLine, CoreApiCall, CoreLine]
    assert isinstance(events[0], CoreLine) and events[0].text.startswith("Traceback")


# Lines of grpcio 1.85.3's http tracer (GRPC_TRACE=http), as captured.
HTTP_LINES = (
    "I1125 15:47:36.689131    8411 parsing.cc:345] INCOMING[0x7fca14009c10]: "
    "HEADERS:END_STREAM:END_HEADERS len:30 id:0x00000001",
    "I1125 15:47:36.691731    8405 chttp2_transport.cc:1118] W:0x7fca14009c10 CLIENT "
    "[ipv6:%5B::1%5D:37267] state IDLE -> WRITING [START_NEW_STREAM]",
    "I1125 15:47:36.691728    8405 chttp2_transport.cc:1472] HTTP:CLI: Transport "
    "0x7fca14009c10 allocating new grpc_chttp2_stream 0x55c9de905530 to id 3",
    "I1125 15:47:36.691690    8405 chttp2_transport.cc:1925] perform_stream_op[s=0x55c9de905530;"
    " op=0x55c9de85fc58]:  SEND_INITIAL_METADATA{:path: /HelloService/Hello, :authority: "
    "localhost:37267, user-agent: grpc-python-asyncio/1.85.3 grpc-c/58.0.0 (linux; chttp2), "
    "grpc-accept-encoding: identity, deflate, gzip, x-token: 6 bytes redacted for security "
    "reasons.} SEND_MESSAGE:flags=0x00000000:len=5 SEND_TRAILING_METADATA{} "
    "RECV_INITIAL_METADATA RECV_MESSAGE RECV_TRAILING_METADATA",
)


def test_http_tracer_lines_become_events() -> None:
    frame, write, stream, op = parse(*HTTP_LINES)
    assert isinstance(frame, Http2FrameReceived)
    assert (frame.frame, frame.flags, frame.length, frame.stream_id, frame.tid) == (
        "HEADERS", ("END_STREAM", "END_HEADERS"), 30, 1, 8411)
    assert isinstance(write, Http2WriteState)
    assert (write.side, write.old, write.new, write.reason) == (
        "CLIENT", "IDLE", "WRITING", "START_NEW_STREAM")
    assert isinstance(stream, Http2StreamOpened)
    assert (stream.stream, stream.stream_id) == ("0x55c9de905530", 3)
    assert isinstance(op, Http2StreamOp)
    assert op.ops == ("SEND_INITIAL_METADATA", "SEND_MESSAGE", "SEND_TRAILING_METADATA",
                      "RECV_INITIAL_METADATA", "RECV_MESSAGE", "RECV_TRAILING_METADATA")
    assert op.message_bytes == 5


def test_http_header_values_are_redacted_but_the_protocols_kept() -> None:
    line = redact_line(HTTP_LINES[3])
    assert "localhost" not in line and "grpc-python-asyncio" not in line
    assert ":authority: [redacted: 15 bytes" in line and "user-agent: [redacted:" in line
    assert ":path: /HelloService/Hello" in line
    assert "grpc-accept-encoding: identity, deflate, gzip" in line
    assert "x-token: 6 bytes redacted for security reasons." in line  # the core's own
    assert redact_line(line) == line
    # a value that looks like more entries is redacted piece by piece, never kept
    sneaky = "SEND_INITIAL_METADATA{user-agent: a, :path: secret, b}"
    assert redact_line(sneaky).count("[redacted") == 2 and "secret" not in redact_line(sneaky)
