"""Parse the core's own trace (``GRPC_TRACE=api GRPC_VERBOSITY=debug``) into events.

A line looks like (absl logging)::

    I1125 00:24:18.719705    2198 call.cc:494] grpc_call_start_batch(call=0x5.., nops=6, tag=0x7..)

severity, month and day, local wall-clock time to the microsecond, OS thread id,
source file:line, message. ``grpc_call_start_batch`` is followed, on the same thread,
by one ``ops[i]: NAME ...`` line per op. Lines that are not the core's (the program's
own stderr) or that this parser does not know are kept as ``CoreLine`` events.

With ``--tracer http`` the transport's lines are parsed too: the frames it receives
(``INCOMING[t]: HEADERS:END_HEADERS len:78 id:0x00000001``), its write states, stream ids
and ``perform_stream_op`` (which ops reach a stream, the length of the message sent).

Values are secrets until told otherwise: the api tracer prints every metadata entry a
batch sends (``key=authorization value=42 65 .. 'Bearer ...'``), the http tracer the
headers of every ``perform_stream_op`` (``SEND_INITIAL_METADATA{:authority: host:port,
...}``; the core itself hides the values of keys it does not know). ``redact_line``
blanks each value, keeping its key and length (the http tracer's protocol headers, such
as ``:path`` or ``grpc-status``, are kept); the parser applies it to every line it reads,
and the launcher rewrites ``core.log`` with it unless ``--keep-values`` was given.
"""

from __future__ import annotations

import calendar
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

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
    maker,
)

# absl logging (grpcio >= 1.62) prints microseconds; the older gpr_log printed
# nanoseconds and padded the message with spaces.
LINE = re.compile(
    r"^([DIWEF])(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6,9})\s+(\d+) ([^\]\s]+)\]\s+(.*)$"
)
# LINE with only what the parser reads captured: the fraction of the second, the thread,
# the source and the message (the month to the second are at fixed places: line[1:14]).
LINE_FIELDS = re.compile(
    r"^[DIWEF]\d\d\d\d \d\d:\d\d:\d\d\.(\d{6,9})\s+(\d+) ([^\]\s]+)\]\s+(.*)$"
)
# absl before its initialisation (seen on grpcio 1.71) prints epoch seconds instead:
# I0000 00:00:1795572788.271930   14985 call.cc:466] grpc_call_start_batch(...)
EPOCH_LINE = re.compile(r"^([DIWEF])0000 00:00:(\d+)\.(\d{6,9})\s+(\d+) ([^\]\s]+)\]\s+(.*)$")
# The core cuts long messages, so the closing parenthesis may be missing.
API_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*?)\)?$")
API_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TAG = re.compile(r"\btag=(0x[0-9a-f]+|\(nil\)|0)")
CALL = re.compile(r"\bcall=(0x[0-9a-f]+)")
NOPS = re.compile(r"\bnops=(\d+)")
ERROR_OK = re.compile(r"\berror=OK\b")
RETURN_EVENT = re.compile(
    r"^RETURN_EVENT\[(0x[0-9a-f]+)\]: (\w+)(?:: tag:(0x[0-9a-f]+|\(nil\)) (\w+))?"
)
OP_LINE = re.compile(r"^ops\[(\d+)\]: ([A-Z_]+)")
# A metadata entry as the core prints it: the value in hex, then quoted.
METADATA_VALUE = re.compile(r"(\bkey=\S*\s+value=)(?!\[redacted)(.*)$")  # once only
REDACTED = "[redacted: {} bytes; --keep-values keeps it]"
# The http tracer's headers: SEND_INITIAL_METADATA{:path: /S/M, user-agent: ..., k: v}.
HEADER_BLOCK = re.compile(r"(SEND_(?:INITIAL|TRAILING)_METADATA\{)([^}]*)(\})")
HEADER_ENTRY = re.compile(r"(?:^|, )(:?[A-Za-z0-9_.-]+): ")
# Headers whose values are the protocol's, not the application's: kept when the value
# has the protocol's own form (so a piece of an application value that merely looks like
# "k: v" is never kept, unless it is as dull as these).
PROTOCOL_HEADERS: dict[str, re.Pattern[str]] = {
    ":path": re.compile(r"^/[A-Za-z0-9_.]+/[A-Za-z0-9_]+$"),
    ":method": re.compile(r"^(POST|GET|PUT)$"),
    ":scheme": re.compile(r"^https?$"),
    ":status": re.compile(r"^\d{3}$"),
    "content-type": re.compile(r"^application/grpc(\+\w+)?$"),
    "te": re.compile(r"^trailers$"),
    "grpc-timeout": re.compile(r"^@?\d+(ms|[HMSmun])$"),
    "grpc-status": re.compile(r"^[A-Z_]+$|^\d+$"),
    "grpc-encoding": re.compile(r"^[a-z-]+$"),
    "grpc-accept-encoding": re.compile(r"^[a-z-]+(, [a-z-]+)*$"),
    "GrpcRegisteredMethod": re.compile(r"^0x[0-9a-f]+$"),
    "WaitForReady": re.compile(r"^(true|false)$"),
}
CORE_REDACTED = re.compile(r"^\d+ bytes redacted for security reasons\.$")
UNREDACTED = re.compile(rb"\bkey=\S*\s+value=(?!\[redacted)|_METADATA\{")
HTTP_FRAME = re.compile(
    r"^INCOMING\[(0x[0-9a-f]+)\]: ([A-Z_]+)((?::[A-Z_]+)*) len:(\d+) id:0x([0-9a-f]+)")
HTTP_WRITE = re.compile(
    r"^W:(0x[0-9a-f]+) (CLIENT|SERVER) \[[^\]]*\] state (\S+) -> (\S+) \[(.*)\]$")
HTTP_STREAM = re.compile(r"^HTTP:\w+: Transport (0x[0-9a-f]+) allocating new "
                         r"grpc_chttp2_stream (0x[0-9a-f]+) to id (\d+)")
HTTP_STREAM_OP = re.compile(r"^perform_stream_op\[s=(0x[0-9a-f]+); op=[^\]]*\]:\s*(.*)$")
STREAM_OP_NAMES = re.compile(r"\b(SEND_INITIAL_METADATA|SEND_MESSAGE|SEND_TRAILING_METADATA|"
                             r"RECV_INITIAL_METADATA|RECV_MESSAGE|RECV_TRAILING_METADATA|"
                             r"CANCEL)\b")
SEND_MESSAGE_LEN = re.compile(r"SEND_MESSAGE:flags=0x[0-9a-f]+:len=(\d+)")
# What a core line starts with: a line that starts so but does not parse is counted.
CORE_LIKE = re.compile(r"^[DIWEF]\d{4} \d\d:\d\d:")


def redact_line(line: str) -> str:
    """The line with every metadata value replaced by its length."""
    if "value=" in line:
        line = METADATA_VALUE.sub(lambda m: m.group(1) + REDACTED.format(
            len(m.group(2).split(" '", 1)[0].split())), line)
    if "_METADATA{" in line:
        line = HEADER_BLOCK.sub(lambda m: m.group(1) + _redact_headers(m.group(2))
                                + m.group(3), line)
    return line


def _redact_headers(block: str) -> str:
    """``k: v, k: v`` with every value that is not the protocol's replaced by its length.

    A value holding ``, x: `` splits into pieces, each redacted unless it has the form of
    the protocol value its key names (a method path, a status code...)."""
    keys = list(HEADER_ENTRY.finditer(block))
    if not keys:
        return block if not block.strip() else REDACTED.format(len(block))
    entries = []
    for i, key in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(block)
        name, value = key.group(1), block[key.end():end]
        form = PROTOCOL_HEADERS.get(name)
        kept = form is not None and form.match(value) is not None
        if not (kept or value.startswith("[redacted") or CORE_REDACTED.match(value)):
            value = REDACTED.format(len(value.encode()))
        entries.append(f"{name}: {value}")
    head = block[:keys[0].start()]  # before the first ", key: ": a piece without a key
    if head:
        entries.insert(0, REDACTED.format(len(head)) if head.strip() else head)
    return ", ".join(entries)


def redact_file(path: Path) -> None:
    """Rewrite a core log with its values redacted (no-op when it holds none)."""
    try:
        with path.open("rb") as source:
            if not any(UNREDACTED.search(raw) for raw in source
                       if b"value=" in raw or b"_METADATA{" in raw):
                return
        temporary = path.with_name(path.name + ".redacting")
        try:
            with path.open(errors="replace") as source, temporary.open("w") as out:
                for line in source:
                    out.write(redact_line(line.rstrip("\n")) + "\n")
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    except OSError:
        return  # unreadable, or no room to rewrite it: the parser redacts what it reads
SECONDS_PER_HALF_YEAR = 183 * 86400
# The core's events, made as their classes make them, cheaper (``maker``): a line each.
_CoreLine, _CoreBatchStarted, _CoreReturnEvent = (
    maker(CoreLine), maker(CoreBatchStarted), maker(CoreReturnEvent))
_CoreTagCompleted, _CoreRequestCall, _CoreApiCall = (
    maker(CoreTagCompleted), maker(CoreRequestCall), maker(CoreApiCall))


@dataclass(frozen=True)
class LogClock:
    """What turns a log line's local month/day/time into CLOCK_REALTIME nanoseconds.

    The line has no year and no zone: both come from the capture (its start time and
    the machine's UTC offset then), so a saved run re-parses the same anywhere.
    """

    year: int
    utc_offset_s: int
    start_ns: int

    def to_ns(self, month: int, day: int, hh: int, mm: int, ss: int, us: int) -> int:
        seconds = calendar.timegm((self.year, month, day, hh, mm, ss)) - self.utc_offset_s
        if seconds * 1_000_000_000 < self.start_ns - SECONDS_PER_HALF_YEAR * 1_000_000_000:
            seconds = calendar.timegm((self.year + 1, month, day, hh, mm, ss)) - self.utc_offset_s
        return seconds * 1_000_000_000 + us * 1000


@dataclass
class LineDamage:
    """The lines of a core log that were cut short, undecodable (a byte that is not
    UTF-8, read as U+FFFD), or that start as the core's but do not parse."""

    cut: int = 0
    undecodable: int = 0
    unparsed: int = 0


def parse_lines(lines: Iterable[str], pid: int, clock: LogClock,
                keep_values: bool = False, damage: LineDamage | None = None) -> Iterator[Event]:
    """Turn core log lines into events; unknown or foreign lines become ``CoreLine``.
    Metadata values are redacted unless ``keep_values``. ``damage``, if given, counts the
    damaged lines, as read (before redaction)."""
    pending: dict[int, tuple[CoreBatchStarted, int, list[str]]] = {}  # tid -> batch being read
    last_ts = clock.start_ns
    second_cache: dict[str, int] = {}  # "MMDD HH:MM:SS" -> its second on the common clock
    for raw in lines:
        read = raw.rstrip("\n")
        line = read
        if not keep_values and ("value=" in read or "_METADATA{" in read):
            line = redact_line(read)  # (redact_line's own test, without a call per line)
        match = LINE_FIELDS.match(line)  # LINE, capturing less
        if damage is not None:
            if not raw.endswith("\n"):
                damage.cut += 1
            if "\ufffd" in raw:
                damage.undecodable += 1
            elif ((match is None or line is not read) and CORE_LIKE.match(raw)
                  and not (LINE.match(read) or EPOCH_LINE.match(read))):
                damage.unparsed += 1
        if match is not None and line[1:3] != "00":  # LINE's month: 00 is EPOCH_LINE's
            fraction, tid_text, source, message = match.groups()
            second = line[1:14]  # month, day, hours, minutes and seconds: LINE's groups 2-6
            base = second_cache.get(second)
            if base is None:
                base = second_cache[second] = clock.to_ns(
                    int(second[0:2]), int(second[2:4]), int(second[5:7]), int(second[8:10]),
                    int(second[11:13]), 0)
            fraction_ns = int(fraction) * 1000 if len(fraction) == 6 else int(
                fraction.ljust(9, "0"))
            tid = int(tid_text)
        else:
            epoch = EPOCH_LINE.match(line)
            if epoch is None:
                if line:
                    yield _CoreLine(last_ts, pid, 0, line)
                continue
            base = int(epoch.group(2)) * 1_000_000_000
            fraction_ns = int(epoch.group(3).ljust(9, "0"))
            tid = int(epoch.group(4))
            source, message = epoch.group(5), epoch.group(6)
        ts = last_ts = base + fraction_ns

        if tid in pending:
            batch, nops, ops = pending[tid]
            op = OP_LINE.match(message)
            if op is not None:
                ops.append(op.group(2))
                if len(ops) == nops:
                    del pending[tid]
                    yield _with_ops(batch, ops)
                continue
            del pending[tid]
            yield _with_ops(batch, ops)

        event = _parse_message(message, source, ts, pid, tid)
        if isinstance(event, CoreBatchStarted):
            nops_match = NOPS.search(message)
            nops = int(nops_match.group(1)) if nops_match else 0
            if nops:
                pending[tid] = (event, nops, [])
                continue
        yield event
    for batch, _, ops in pending.values():
        yield _with_ops(batch, ops)


def _with_ops(batch: CoreBatchStarted, ops: list[str]) -> CoreBatchStarted:
    return _CoreBatchStarted(batch.ts, batch.pid, batch.tid, batch.call, batch.tag, tuple(ops))


def _parse_http(message: str, ts: int, pid: int, tid: int) -> Event | None:
    """A line of the http tracer as an event, or None if it is not one this parser reads."""
    if message.startswith("INCOMING["):
        frame = HTTP_FRAME.match(message)
        if frame is not None:
            flags = tuple(f for f in frame.group(3).split(":") if f)
            return Http2FrameReceived(ts, pid, tid, frame.group(1), frame.group(2), flags,
                                      int(frame.group(4)), int(frame.group(5), 16))
    elif message.startswith("W:"):
        write = HTTP_WRITE.match(message)
        if write is not None:
            return Http2WriteState(ts, pid, tid, *write.groups())
    elif message.startswith("HTTP:"):
        stream = HTTP_STREAM.match(message)
        if stream is not None:
            return Http2StreamOpened(ts, pid, tid, stream.group(1), stream.group(2),
                                     int(stream.group(3)))
    elif message.startswith("perform_stream_op["):
        op = HTTP_STREAM_OP.match(message)
        if op is not None:
            ops = HEADER_BLOCK.sub(lambda m: m.group(1)[:-1], op.group(2))  # names, not headers
            length = SEND_MESSAGE_LEN.search(op.group(2))
            return Http2StreamOp(ts, pid, tid, op.group(1),
                                 tuple(STREAM_OP_NAMES.findall(ops)),
                                 int(length.group(1)) if length else -1)
    return None


_API_NAMES: dict[str, bool] = {}  # name -> whether API_NAME matches it whole: names recur


def _api_call(message: str) -> tuple[str, str] | None:
    """``API_CALL.match(message).groups()``, or None where it does not match, without its
    lazy ``(.*?)``, which tries the end of the pattern at each of a long line's characters:
    the name is what comes before the first ``(``, the arguments what comes after it,
    less one closing ``)`` at the end."""
    paren = message.find("(")
    if paren <= 0 or "\n" in message:  # no name; or a newline, which "." does not match
        return None if paren <= 0 else _api_call_by_pattern(message)
    name = message[:paren]
    valid = _API_NAMES.get(name)
    if valid is None:
        valid = _API_NAMES[name] = API_NAME.fullmatch(name) is not None
    if not valid:
        return None
    args = message[paren + 1:]
    return name, args[:-1] if args.endswith(")") else args


def _api_call_by_pattern(message: str) -> tuple[str, str] | None:
    call = API_CALL.match(message)
    return None if call is None else (call.group(1), call.group(2))


HTTP_STARTS = ("INCOMING[", "W:", "HTTP:", "perform_stream_op[")  # what _parse_http reads


def _parse_message(message: str, source: str, ts: int, pid: int, tid: int) -> Event:
    if message.startswith(HTTP_STARTS):
        http = _parse_http(message, ts, pid, tid)
        if http is not None:
            return http
    if message.startswith("RETURN_EVENT"):
        match = RETURN_EVENT.match(message)
        if match is not None:
            event_type, tag, status = match.group(2), match.group(3) or "", match.group(4) or ""
            return _CoreReturnEvent(ts, pid, tid, tag, status == "OK", event_type)
    call = _api_call(message)
    if call is None:
        return _CoreLine(ts, pid, tid, message)
    name, args = call
    if name == "grpc_call_start_batch":
        call_match, tag_match = CALL.search(args), TAG.search(args)
        if call_match and tag_match:
            return _CoreBatchStarted(ts, pid, tid, call_match.group(1), tag_match.group(1), ())
    elif name == "cq_end_op_for_next":
        tag_match = TAG.search(args)
        if tag_match:
            return _CoreTagCompleted(ts, pid, tid, tag_match.group(1),
                                    ERROR_OK.search(args) is not None)
    elif name in ("grpc_server_request_call", "grpc_server_request_registered_call"):
        tag_match = TAG.search(args)
        if tag_match:
            return _CoreRequestCall(ts, pid, tid, tag_match.group(1),
                                   name == "grpc_server_request_registered_call")
    return _CoreApiCall(ts, pid, tid, name, args, source)
