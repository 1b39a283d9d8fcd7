"""docs/learn/05-cancellation.md: a call cancelled by the client, a call past its deadline,
step by step on both sides, on live ``trace both --scenario ... --tracer http`` runs."""

from __future__ import annotations

from pathlib import Path

from toygrpc.analysis.chains import Rpc
from toygrpc.analysis.run import Run
from toygrpc.model.events import (
    CoreApiCall,
    Event,
    FutureCancelled,
    Http2FrameReceived,
    Http2StreamOp,
    Http2WriteState,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "learn" / "05-cancellation.md"
DEADLINE_NS = 200_000_000  # the deadline-exceeded scenario's 0.2 s


def rpcs(run: Run, side: str) -> list[Rpc]:
    found = [r for r in run.analysis.rpcs if r.side == side]
    assert len(found) == 2
    return found


def within(run: Run, rpc: Rpc, kind: type[Event]) -> list[Event]:
    """The events of one kind in the RPC's process during the RPC."""
    return [e for e in run.timeline.events if isinstance(e, kind) and e.pid == rpc.pid
            and rpc.start <= e.ts <= rpc.end]


def role(run: Run, event: Event) -> str:
    return run.timeline.threads.get((event.pid, event.tid), "?")


def test_the_page_names_the_tests() -> None:
    text = DOC.read_text()
    for name in [n for n in globals() if n.startswith("test_claim_")]:
        assert f"tests/docs/learn/test_cancellation.py::{name}" in text, name


def test_claim_1_client_cancel_runs_inline_on_main(cancel_http_run: Run) -> None:
    """call.cancel(): the core call, the transport's CANCEL, the batch's completion and
    the RST_STREAM write all happen on the main thread, then the waiter is cancelled."""
    for rpc in rpcs(cancel_http_run, "client"):
        (cancel,) = [e for e in within(cancel_http_run, rpc, CoreApiCall)
                     if isinstance(e, CoreApiCall) and e.name == "grpc_call_cancel_with_status"]
        assert cancel.tid == rpc.pid and "status=1" in cancel.args  # CANCELLED, from main
        (chain,) = rpc.chains
        assert chain.completed is not None and chain.cancelled is not None
        assert chain.completed.tid == rpc.pid  # completed inline, inside the cancel
        ops = [e for e in within(cancel_http_run, rpc, Http2StreamOp)
               if isinstance(e, Http2StreamOp) and e.ops == ("CANCEL",)]
        assert ops and ops[0].tid == rpc.pid
        rst = [e for e in within(cancel_http_run, rpc, Http2WriteState)
               if isinstance(e, Http2WriteState) and e.reason == "RST_STREAM"]
        assert rst and rst[0].tid == rpc.pid
        assert cancel.ts <= ops[0].ts <= chain.completed.ts
        assert cancel.ts <= rst[0].ts
        assert chain.completed.ts <= chain.cancelled.ts  # grpc.aio then cancels the task
        assert chain.resolved is None and chain.outcome == "cancelled"


def test_claim_2_server_learns_from_rst_stream_through_recv_close(
        cancel_http_run: Run) -> None:
    """The server hears of it as an RST_STREAM frame; the thread that parsed it completes
    the RECV_CLOSE_ON_SERVER tag; on main the handler's task is then cancelled."""
    for rpc in rpcs(cancel_http_run, "server"):
        close = rpc.chains[1]
        assert close.ops == ("ReceiveCloseOnServerOperation",)
        assert close.completed is not None and close.resolved is not None
        frames = [e for e in cancel_http_run.timeline.events
                  if isinstance(e, Http2FrameReceived) and e.pid == rpc.pid
                  and e.frame == "RST_STREAM" and rpc.start <= e.ts <= close.completed.ts]
        assert len(frames) == 1
        assert frames[0].tid == close.completed.tid != rpc.pid
        assert role(cancel_http_run, close.completed) == "event_engine"
        later = [e for e in cancel_http_run.timeline.events if isinstance(e, FutureCancelled)
                 and e.pid == rpc.pid and close.resolved.ts <= e.ts <= rpc.end]
        assert later, "the handler's await (its sleep) is cancelled after RECV_CLOSE"
        assert rpc.status == "CANCELLED"


def test_claim_3_a_cancelled_server_call_sends_nothing(cancel_http_run: Run) -> None:
    """No reply batch: after the request call, only RECV_CLOSE and RECV_MESSAGE."""
    for rpc in rpcs(cancel_http_run, "server"):
        assert [c.ops for c in rpc.chains[1:]] == [("ReceiveCloseOnServerOperation",),
                                                   ("ReceiveMessageOperation",)]


def test_claim_4_the_deadline_fires_in_the_core(deadline_http_run: Run) -> None:
    """No Python cancels it: the batch completes on an event_engine thread at the
    deadline, right after one of two things on that thread: the client's own timer
    (the transport's CANCEL, then an RST_STREAM written) or the server's timer (its
    trailers, HEADERS:END_STREAM, then its RST_STREAM, received). The waiter then
    resolves through the poller as usual: the status is in the batch's result."""
    for rpc in rpcs(deadline_http_run, "client"):
        assert not [e for e in within(deadline_http_run, rpc, CoreApiCall)
                    if isinstance(e, CoreApiCall) and e.name.startswith("grpc_call_cancel")]
        (chain,) = rpc.chains
        assert chain.completed is not None and chain.resolved is not None
        done = chain.completed
        assert done.tid != rpc.pid and role(deadline_http_run, done) == "event_engine"
        assert done.ts - chain.future.ts >= DEADLINE_NS * 0.9
        before = [e for e in within(deadline_http_run, rpc, Event)
                  if e.tid == done.tid and e.ts <= done.ts
                  and isinstance(e, Http2StreamOp | Http2FrameReceived)][-2:]
        own_timer = isinstance(before[-1], Http2StreamOp) and before[-1].ops == ("CANCEL",)
        server_timer = [(f.frame, f.flags) for f in before
                        if isinstance(f, Http2FrameReceived)] == [
            ("HEADERS", ("END_STREAM", "END_HEADERS")), ("RST_STREAM", ())]
        assert own_timer or server_timer, before
        if own_timer:
            assert any(isinstance(e, Http2WriteState) and e.reason == "RST_STREAM"
                       and e.pid == rpc.pid and e.ts >= done.ts
                       for e in deadline_http_run.timeline.events)
        assert chain.outcome == "ok" and rpc.status == "DEADLINE_EXCEEDED"


def test_claim_5_the_server_keeps_the_deadline_too(deadline_http_run: Run) -> None:
    """The deadline travels as the grpc-timeout header and the server keeps its own
    timer: before RECV_CLOSE completes, the server's transport either cancels the stream
    itself (CANCEL ops, its own timer) or receives the client's RST_STREAM. Either way
    RECV_CLOSE completes on one of its event_engine threads, the handler's task is
    cancelled and no status batch is sent (the core sends the trailers)."""
    client_log = deadline_http_run.run_dir / "client" / "core.log"
    headers = [ln for ln in client_log.read_text().splitlines()
               if "perform_stream_op[" in ln and "SEND_INITIAL_METADATA{" in ln]
    assert len(headers) == 2 and all("grpc-timeout: " in ln for ln in headers)
    for rpc in rpcs(deadline_http_run, "server"):
        close = rpc.chains[1]
        assert close.ops == ("ReceiveCloseOnServerOperation",)
        assert close.completed is not None and close.resolved is not None
        assert role(deadline_http_run, close.completed) == "event_engine"
        assert any(isinstance(e, FutureCancelled) and e.pid == rpc.pid
                   and close.resolved.ts <= e.ts <= rpc.end
                   for e in deadline_http_run.timeline.events)
        assert [e for e in deadline_http_run.timeline.events if e.pid == rpc.pid
                and rpc.start <= e.ts <= close.completed.ts
                and ((isinstance(e, Http2StreamOp) and e.ops == ("CANCEL",))
                     or (isinstance(e, Http2FrameReceived) and e.frame == "RST_STREAM"))]
        assert not any("SendStatusFromServerOperation" in c.ops for c in rpc.chains)
