"""docs/learn/06-http2-on-the-wire.md: the HTTP/2 frames of two unary calls, as the core's
``http`` tracer logs them on both sides of a live ``trace both --tracer http`` run."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console

from toygrpc.analysis.chains import Rpc
from toygrpc.analysis.http2 import GRPC_MESSAGE_PREFIX, frame_rows, sent_message_sizes
from toygrpc.analysis.run import Run
from toygrpc.capture.corelog import CORE_REDACTED, HEADER_BLOCK, HEADER_ENTRY, PROTOCOL_HEADERS
from toygrpc.model.events import (
    CoreBatchStarted,
    Http2StreamOp,
    Http2StreamOpened,
    Http2WriteState,
)
from toygrpc.render.terminal import Http2FrameTable, RunReport

DOC = Path(__file__).resolve().parents[3] / "docs" / "learn" / "06-http2-on-the-wire.md"


def test_the_page_names_the_tests() -> None:
    text = DOC.read_text()
    for name in [n for n in globals() if n.startswith("test_claim_")]:
        assert f"tests/docs/learn/test_http2_on_the_wire.py::{name}" in text, name


def stream_frames(run: Run, receiver: str, stream_id: int) -> list[tuple[str, int]]:
    return [(r.frame, r.length) for r in frame_rows(run.timeline, stream_id)
            if r.receiver == receiver]


def test_claim_1_a_unary_call_is_five_frames(http_both_run: Run) -> None:
    """Per call, on its own stream: HEADERS, DATA:END_STREAM from the client; HEADERS,
    DATA, HEADERS:END_STREAM (the trailers) from the server. WINDOW_UPDATEs may join."""
    for stream in (1, 3):
        request = [f for f, _ in stream_frames(http_both_run, "server", stream)
                   if f != "WINDOW_UPDATE"]
        reply = [f for f, _ in stream_frames(http_both_run, "client", stream)
                 if f != "WINDOW_UPDATE"]
        assert request == ["HEADERS:END_HEADERS", "DATA:END_STREAM"]
        assert reply == ["HEADERS:END_HEADERS", "DATA", "HEADERS:END_STREAM:END_HEADERS"]


def test_claim_2_client_streams_are_odd_and_rising(http_both_run: Run) -> None:
    opened = [e.stream_id for e in http_both_run.timeline.of(Http2StreamOpened)]
    assert opened == [1, 3]
    connection = {r.frame for r in frame_rows(http_both_run.timeline, 0)}
    assert {"SETTINGS", "SETTINGS:ACK"} <= connection
    for receiver in ("client", "server"):
        first = next(r for r in frame_rows(http_both_run.timeline) if r.receiver == receiver)
        assert first.frame == "SETTINGS" and first.stream_id == 0  # the peer's, first


def test_claim_3_data_is_the_message_plus_five_bytes(http_both_run: Run) -> None:
    """A DATA frame carries the gRPC message with its 5-byte prefix (flag, length)."""
    sizes = sent_message_sizes(http_both_run.timeline)
    assert len(sizes["client"]) == len(sizes["server"]) == 2
    for n, stream in enumerate((1, 3)):
        (request,) = [n_ for f, n_ in stream_frames(http_both_run, "server", stream)
                      if f.startswith("DATA")]
        (reply,) = [n_ for f, n_ in stream_frames(http_both_run, "client", stream)
                    if f.startswith("DATA")]
        assert request == sizes["client"][n] + GRPC_MESSAGE_PREFIX
        assert reply == sizes["server"][n] + GRPC_MESSAGE_PREFIX


def test_claim_4_hpack_makes_the_second_headers_smaller(http_both_run: Run) -> None:
    """The second call's headers refer to HPACK's dynamic table the first one filled."""
    for receiver in ("server", "client"):
        first = [n for f, n in stream_frames(http_both_run, receiver, 1) if f.startswith("HEADERS")]
        second = [n for f, n in stream_frames(http_both_run, receiver, 3)
                  if f.startswith("HEADERS")]
        assert len(first) == len(second) and all(b < a for a, b in zip(first, second, strict=True))


def test_claim_5_the_calling_thread_writes(http_both_run: Run) -> None:
    """On a connection that is up, the second call's ops enter the transport on the main
    thread, inside grpc_call_start_batch (perform_stream_op). If no other thread holds
    the transport then, the main thread itself starts the stream and writes its frames
    ("begin write in current thread"); otherwise the thread that holds it does."""
    client: Rpc = [r for r in http_both_run.analysis.rpcs if r.side == "client"][1]
    start = client.chains[0].core_call
    assert isinstance(start, CoreBatchStarted) and start.tid == client.pid
    completed = client.chains[0].completed
    assert completed is not None
    window = [e for e in http_both_run.timeline.events
              if e.pid == client.pid and start.ts <= e.ts <= completed.ts]
    (entered,) = [e for e in window if isinstance(e, Http2StreamOp)
                  and "SEND_INITIAL_METADATA" in e.ops]
    assert entered.tid == client.pid and entered.message_bytes >= 0
    writes = [e for e in window if isinstance(e, Http2WriteState)]
    (new_stream,) = [e for e in writes if e.reason == "START_NEW_STREAM"]
    if new_stream.tid == client.pid and new_stream.old == "IDLE":
        after = [e for e in writes if e.ts >= new_stream.ts
                 and e.reason == "begin write in current thread"]
        assert after and after[0].tid == client.pid


def test_claim_6_no_header_values_by_default(http_both_run: Run) -> None:
    """The http tracer prints headers (and no message bytes); the files keep their names,
    not the values the application or the channel set (:authority, user-agent, custom
    metadata)."""
    for role in ("client", "server"):
        log = (http_both_run.run_dir / role / "core.log").read_text()
        blocks = [b for ln in log.splitlines() for b in HEADER_BLOCK.findall(ln)]
        assert blocks
        for _, block, _ in blocks:
            for entry in HEADER_ENTRY.finditer(block):
                value = block[entry.end():].split(", ", 1)[0]
                form = PROTOCOL_HEADERS.get(entry.group(1))
                assert ((form is not None and form.match(value)) or value.startswith("[redacted")
                        or CORE_REDACTED.match(value.rstrip("}"))), (role, entry.group(1))
        assert "localhost:" not in "".join(b for _, b, _ in blocks)
        assert "grpc-python-asyncio" not in log
        assert not re.search(r"\bhey\b", log)  # the request's text (payload): never logged
    assert "user-agent: [redacted:" in (http_both_run.run_dir / "client" / "core.log").read_text()


def test_claim_7_the_report_shows_the_frames(http_both_run: Run) -> None:
    out = io.StringIO()
    RunReport(http_both_run).print(Console(file=out, width=120))
    text = out.getvalue()
    assert "HTTP/2 frames received" in text and "DATA:END_STREAM" in text
    rows = frame_rows(http_both_run.timeline)
    short = io.StringIO()
    Console(file=short, width=120).print(Http2FrameTable(rows, max_rows=3))
    assert f"and {len(rows) - 3} more frames" in short.getvalue()
