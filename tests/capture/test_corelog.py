"""The core log parser against lines of each format, with the expected instants written
out by hand (``date -u -d 2026-11-25T00:24:18Z +%s`` = 1795566258)."""

from __future__ import annotations

from pathlib import Path

import pytest

from toygrpc.capture.corelog import LineDamage, LogClock, parse_lines, redact_file, redact_line
from toygrpc.model.events import (
    CoreApiCall,
    CoreBatchStarted,
    CoreLine,
    CoreRequestCall,
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
    """Kills "the UTC offset's sign flipped" (corelog.LogClock.to_ns): east and west of
    UTC the same local time is a different instant, each worked out by hand."""
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
    """Kills "the cq_end_op ok flag inverted" (corelog._parse_message)."""
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


def test_the_new_year_in_a_zone_west_of_utc() -> None:
    """Kills the UTC offset's sign flipped on the next-year branch: the capture started
    at local 2026-12-31T23:59:59 in UTC-5 (2027-01-01T04:59:59Z); a line at local
    2027-01-01T00:00:01 is 05:00:01Z."""
    line = "I0101 00:00:01.000001    2198 call.cc:494] grpc_init()"
    (event,) = parse(line, offset_s=-18000, start_ns=(1798761599 + 18000) * 10**9)
    assert event.ts == (1798761601 + 18000) * 10**9 + 1_000


@pytest.mark.parametrize(("start_ns", "line_time", "utc_seconds"), [
    # start 2026-12-31T23:59:59Z exactly; half a year (183 days) before it is
    # 2026-07-01T23:59:59Z (1782950399): that instant is still this year's
    (1798761599 * 10**9, "0701 23:59:59", 1782950399),
    # one second earlier is more than half a year before: next year's (2027-07-01)
    (1798761599 * 10**9, "0701 23:59:58", 1782950398 + 365 * 86400),
    # start 10 ms later: 23:59:59 is now 10 ms more than half a year before
    (1798761599 * 10**9 + 10_000_000, "0701 23:59:59", 1782950399 + 365 * 86400),
    (1798761599 * 10**9 + 10_000_000, "0702 00:00:00", 1782950400),
])
def test_half_a_year_before_the_start_is_where_the_year_turns(
        start_ns: int, line_time: str, utc_seconds: int) -> None:
    (event,) = parse(f"I{line_time}.000000    2198 call.cc:494] grpc_init()",
                     start_ns=start_ns)
    assert event.ts == utc_seconds * 10**9


def test_log_clock_adds_the_microseconds() -> None:
    """``to_ns`` turns local fields into ns; the parser passes the fraction separately,
    ``us`` is the clock's own contract (2026-11-25T00:24:18Z + 123456 µs, in UTC+2)."""
    clock = LogClock(2026, 7200, START_2026_11_25)
    assert clock.to_ns(11, 25, 2, 24, 18, 123_456) == 1795566258 * 10**9 + 123_456_000


def test_metadata_values_are_redacted_keeping_key_and_length() -> None:
    line = ("I1125 00:24:18.719720    2198 filter_stack_call.cc:747] ops[0]: "
            "SEND_INITIAL_METADATA key=authorization value=42 65 61 72 65 72 'Bearer'")
    redacted = redact_line(line)
    assert redacted == ("I1125 00:24:18.719720    2198 filter_stack_call.cc:747] ops[0]: "
                        "SEND_INITIAL_METADATA key=authorization "
                        "value=[redacted: 6 bytes; --keep-values keeps it]")
    assert redact_line(redacted) == redacted  # once only
    assert redact_line(BATCH) == BATCH  # nothing to redact
    (op,) = [e for e in parse(BATCH.replace("nops=2", "nops=1"), line)
             if isinstance(e, CoreBatchStarted)]
    assert op.ops == ("SEND_INITIAL_METADATA",)
    kept = list(parse_lines([line], PID, LogClock(2026, 0, START_2026_11_25),
                            keep_values=True))
    assert kept and isinstance(kept[0], CoreLine) and "'Bearer'" in kept[0].text


def test_redact_file_rewrites_only_a_log_that_holds_values(tmp_path: Path) -> None:
    secret = ("I1125 00:24:18.719720    2198 f.cc:1] key=authorization value=41 42 'AB'\n")
    # the program's own lines pass unchanged: trailing blanks, a last letter X, a byte
    # that is no UTF-8 (written back as U+FFFD, as the parser reads it)
    plain = f"{BATCH}\n{OPS[0]}\nprogram output  \nCHECK_X\n"
    log = tmp_path / "core.log"
    log.write_bytes((plain + secret + plain).encode() + b"caf\xe9\n")
    redact_file(log)
    assert log.read_text() == (plain + "I1125 00:24:18.719720    2198 f.cc:1] key=authorization "
                               "value=[redacted: 2 bytes; --keep-values keeps it]\n" + plain
                               + "caf\ufffd\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["core.log"]  # no temporary left
    untouched = tmp_path / "plain.log"
    untouched.write_text(plain)
    before = untouched.stat().st_mtime_ns, untouched.stat().st_ino
    redact_file(untouched)
    assert (untouched.stat().st_mtime_ns, untouched.stat().st_ino) == before
    redact_file(tmp_path / "missing.log")  # no file: nothing to do, no error
    assert not (tmp_path / "missing.log").exists()


def test_every_kind_of_line_becomes_the_event_it_is() -> None:
    """A sequence of lines as a server's core log holds them, each expected event
    written out: thread, source file, name and arguments kept; batches folded with the
    op lines that follow them on their thread, however the batch ends."""
    at = 1795566258 * 10**9  # 2026-11-25T00:24:18Z

    def line(micros: int, tid: int, source: str, message: str) -> str:
        return f"I1125 00:24:18.{micros:06d} {tid:>7} {source}] {message}\n"

    lines = [
        "Traceback (most recent call last):  \n",  # the program's own: kept as it is
        line(1, 5, "init.cc:124", "grpc_init(void)"),
        line(2, 5, "server.cc:1", "grpc_server_request_call(server=0x1, call=0x2, tag=0x7f1)"),
        line(3, 5, "server.cc:2",
             "grpc_server_request_registered_call(server=0x1, rm=0x9, tag=0x7f2)"),
        line(4, 6, "completion_queue.cc:1", "RETURN_EVENT[0x55]: QUEUE_SHUTDOWN"),
        line(5, 5, "call.cc:494", "grpc_call_start_batch(call=0xc1, ops=0x1, nops=3, "
                                  "tag=0xb1, reserved=0)"),
        line(6, 5, "filter_stack_call.cc:747", "ops[0]: SEND_MESSAGE ptr=0x1"),
        line(7, 7, "x.cc:1", "on another thread X"),  # does not end thread 5's batch
        line(8, 5, "call.cc:1", "grpc_call_unref(c=0xc1)"),  # ends it: 1 op of 3 seen
        line(9, 5, "call.cc:494", "grpc_call_start_batch(tag=0xb2"),  # cut: no call
        line(10, 5, "call.cc:494", "grpc_call_start_batch(call=0xc2, tag=0xb3"),  # no nops
        line(11, 5, "filter_stack_call.cc:747", "ops[0]: RECV_MESSAGE"),
        line(12, 5, "call.cc:494", "grpc_call_start_batch(call=0xc3, ops=0x1, nops=2, "
                                   "tag=0xb4, reserved=0)"),
        line(13, 5, "filter_stack_call.cc:747", "ops[0]: RECV_MESSAGE"),  # the log ends
    ]
    events = parse(*lines)
    assert events == [
        CoreLine(START_2026_11_25, PID, 0, "Traceback (most recent call last):  "),
        CoreApiCall(at + 1_000, PID, 5, "grpc_init", "void", "init.cc:124"),
        CoreRequestCall(at + 2_000, PID, 5, "0x7f1", False),
        CoreRequestCall(at + 3_000, PID, 5, "0x7f2", True),
        CoreReturnEvent(at + 4_000, PID, 6, "", False, "QUEUE_SHUTDOWN"),
        CoreLine(at + 7_000, PID, 7, "on another thread X"),
        CoreBatchStarted(at + 5_000, PID, 5, "0xc1", "0xb1", ("SEND_MESSAGE",)),
        CoreApiCall(at + 8_000, PID, 5, "grpc_call_unref", "c=0xc1", "call.cc:1"),
        CoreApiCall(at + 9_000, PID, 5, "grpc_call_start_batch", "tag=0xb2", "call.cc:494"),
        CoreBatchStarted(at + 10_000, PID, 5, "0xc2", "0xb3", ()),
        CoreLine(at + 11_000, PID, 5, "ops[0]: RECV_MESSAGE"),
        CoreBatchStarted(at + 12_000, PID, 5, "0xc3", "0xb4", ("RECV_MESSAGE",)),
    ]


def test_epoch_lines_keep_their_source_and_a_metadata_line_is_redacted_by_default() -> None:
    epoch = "I0000 00:00:1795572788.000001   14985 init.cc:124] grpc_init(void)"
    secret = ("I1125 00:24:18.000002    2198 f.cc:1] grpc_x(a=1) key=authorization "
              "value=41 42 'AB'")
    first, second = parse(epoch, secret)
    assert first == CoreApiCall(1795572788_000_001_000, PID, 14985, "grpc_init", "void",
                                "init.cc:124")
    assert isinstance(second, CoreApiCall) and "'AB'" not in second.args
    assert second.args.endswith("value=[redacted: 2 bytes; --keep-values keeps it]")


REDACTED_N = "[redacted: {} bytes; --keep-values keeps it]"


@pytest.mark.parametrize(("block", "redacted"), [
    ("", ""),  # no headers
    ("  ", "  "),  # blanks: nothing to hide
    ("opaque", REDACTED_N.format(6)),  # no "key: " at all: all of it is a value
    ("x y z, :path: /S/M, k: v",  # a piece before the first key: redacted, kept apart
     f"{REDACTED_N.format(5)}, :path: /S/M, k: {REDACTED_N.format(1)}"),
    ("  , :path: /S/M", "  , :path: /S/M"),
])
def test_header_blocks_without_a_key_first(block: str, redacted: str) -> None:
    """What the http tracer's header block holds before its first ``key: ``, or when it
    holds none, written out with its separators: the redacted line reads as the core's."""
    line = f"perform_stream_op[s=0x1; op=0x2]:  SEND_INITIAL_METADATA{{{block}}} SEND_MESSAGE"
    assert redact_line(line) == ("perform_stream_op[s=0x1; op=0x2]:  SEND_INITIAL_METADATA"
                                 f"{{{redacted}}} SEND_MESSAGE")


def test_redact_file_rewrites_a_log_whose_only_values_are_headers(tmp_path: Path) -> None:
    """The http tracer's header blocks hold values with no ``value=`` on their line."""
    log = tmp_path / "core.log"
    log.write_text(f"{BATCH}\n{HTTP_LINES[3]}\n")
    redact_file(log)
    batch, headers, end = log.read_text().split("\n")
    assert (batch, end) == (BATCH, "")
    assert ":authority: [redacted: 15 bytes; --keep-values keeps it]" in headers
    assert "localhost" in HTTP_LINES[3] and "localhost" not in headers


def test_http_tracer_events_in_full() -> None:
    """Every field of each http tracer event, written out: 2026-11-25T15:47:36Z is
    1795564800 + 15 * 3600 + 47 * 60 + 36 = 1795621656 s; a stream id in hex with a
    letter (0x1b = 27); a stream op that sends no message has no message length (-1)."""
    at = 1795621656 * 10**9
    events = parse(HTTP_LINES[0].replace("id:0x00000001", "id:0x0000001b"), *HTTP_LINES[1:],
                   "I1125 15:47:36.691800    8405 chttp2_transport.cc:1925] perform_stream_op"
                   "[s=0x55c9de905530; op=0x55c9de85fc58]:  RECV_MESSAGE CANCEL")
    assert events == [
        Http2FrameReceived(at + 689_131_000, PID, 8411, "0x7fca14009c10", "HEADERS",
                           ("END_STREAM", "END_HEADERS"), 30, 27),
        Http2WriteState(at + 691_731_000, PID, 8405, "0x7fca14009c10", "CLIENT", "IDLE",
                        "WRITING", "START_NEW_STREAM"),
        Http2StreamOpened(at + 691_728_000, PID, 8405, "0x7fca14009c10", "0x55c9de905530", 3),
        Http2StreamOp(at + 691_690_000, PID, 8405, "0x55c9de905530",
                      ("SEND_INITIAL_METADATA", "SEND_MESSAGE", "SEND_TRAILING_METADATA",
                       "RECV_INITIAL_METADATA", "RECV_MESSAGE", "RECV_TRAILING_METADATA"), 5),
        Http2StreamOp(at + 691_800_000, PID, 8405, "0x55c9de905530",
                      ("RECV_MESSAGE", "CANCEL"), -1),
    ]


def test_a_line_of_month_00_is_no_date() -> None:
    """absl's epoch form starts ``I0000 00:00:``; any other line dated month 00 (day 15
    here) is no date either: it is kept as text at the last instant read, not mapped to a
    day of month 0 (the previous December)."""
    events = parse("I1125 00:24:18.000001    2198 x.cc:1] grpc_init()",
                   "I0015 00:24:18.000002    2198 x.cc:1] grpc_init()")
    assert events == [
        CoreApiCall(1795566258 * 10**9 + 1_000, PID, 2198, "grpc_init", "", "x.cc:1"),
        CoreLine(1795566258 * 10**9 + 1_000, PID, 0,
                 "I0015 00:24:18.000002    2198 x.cc:1] grpc_init()")]


def test_damaged_lines_are_counted_as_read_before_redaction() -> None:
    """A line cut short (no newline), one with a byte that was not UTF-8, and one that
    starts as the core's but does not parse each count once; a metadata line whose
    value redaction rewrites still parses, and the program's own lines are no damage."""
    damage = LineDamage()
    lines = [
        f"{BATCH}\n",
        "I1125 00:24:18.719711    2198 call.cc:1] key=authorization value=42 'Bearer x'\n",
        "I1125 00:24:18.719712    2198 x.cc:1] \ufffd\n",
        "I1125 00:24:18 no fraction, no thread\n",
        "the program's own line\n",
        "I1125 00:24:18.719713    2198 x.cc:1] grpc_init()",
    ]
    events = list(parse_lines(lines, PID, LogClock(2026, 0, START_2026_11_25), damage=damage))
    assert (damage.cut, damage.undecodable, damage.unparsed) == (1, 1, 1)
    assert [(type(e).__name__, e.tid) for e in events] == [
        ("CoreBatchStarted", 2198), ("CoreLine", 2198), ("CoreLine", 2198), ("CoreLine", 0),
        ("CoreLine", 0), ("CoreApiCall", 2198)]
    assert events[1] == CoreLine(1795566258_719711000, PID, 2198, "key=authorization value="
                                 "[redacted: 1 bytes; --keep-values keeps it]")
