"""docs/server-runtime.md, claims 6 to 10 (1 to 5 are in tests/capture/test_capture.py),
on fresh captures: the session's ``both_streams_run`` (2 RPCs of every shape, client and
server traced) and ``server_run`` (20 unary RPCs, then SIGTERM)."""

from __future__ import annotations

from pathlib import Path

from toygrpc.analysis.chains import Rpc
from toygrpc.analysis.run import Run
from toygrpc.model.events import (
    CoreApiCall,
    CoreRequestCall,
    CoreReturnEvent,
    CoreTagCompleted,
    FutureResolved,
    TaskFinished,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "server-runtime.md"
REPLY = ("SendInitialMetadataOperation", "SendMessageOperation",
         "SendStatusFromServerOperation")


def batches(rpc: Rpc) -> list[tuple[str, ...]]:
    """The server RPC's batches after its request call, in order, ops without the suffix."""
    assert rpc.chains[0].kind == "request_call"
    return [tuple(op.removesuffix("Operation") for op in c.ops) for c in rpc.chains[1:]]


def server_rpcs(run: Run, method: str) -> list[Rpc]:
    found = [r for r in run.analysis.rpcs if r.side == "server" and r.method.endswith(method)]
    assert found and all(r.status == "OK" and r.complete for r in found)
    return found


def test_the_page_names_the_tests() -> None:
    text = DOC.read_text()
    for name in [n for n in globals() if n.startswith("test_claim_")]:
        assert name in text, name
    assert "](swimlane-server.png)" in text and (DOC.parent / "swimlane-server.png").is_file()


def test_claim_6_server_stream_sends(both_streams_run: Run) -> None:
    for rpc in server_rpcs(both_streams_run, "/HelloServerStream"):
        sends = [b for b in batches(rpc) if any(op.startswith("Send") for op in b)]
        assert sends[0] == ("SendInitialMetadata", "SendMessage")
        assert sends[-1] == ("SendStatusFromServer",)
        assert len(sends) >= 3 and all(b == ("SendMessage",) for b in sends[1:-1])
        assert rpc.peer is not None
        received = sum("ReceiveMessageOperation" in c.ops for c in rpc.peer.chains)
        responses = len(sends) - 1  # every send but the status carries one
        assert received == responses + 1  # every response, then the end of the stream


def test_claim_7_client_stream_receives(both_streams_run: Run) -> None:
    for rpc in server_rpcs(both_streams_run, "/HelloClientStream"):
        assert rpc.peer is not None
        sent = sum("SendMessageOperation" in c.ops for c in rpc.peer.chains)
        order = batches(rpc)
        assert order[0] == ("ReceiveCloseOnServer",)
        assert order[1:-1] == [("ReceiveMessage",)] * (sent + 1)
        assert order[-1] == tuple(op.removesuffix("Operation") for op in REPLY)


def test_claim_8_bidi_alternates(both_streams_run: Run) -> None:
    for rpc in server_rpcs(both_streams_run, "/HelloBidiStream"):
        order = batches(rpc)
        assert order[0] == ("ReceiveCloseOnServer",) and order[-1] == ("SendStatusFromServer",)
        middle = order[1:-1]
        kinds = ["recv" if b == ("ReceiveMessage",) else "send" for b in middle]
        assert middle[1] == ("SendInitialMetadata", "SendMessage")
        assert all(b in {("ReceiveMessage",), ("SendMessage",)} for b in middle[2:])
        assert kinds == ["recv", "send"] * (kinds.count("send")) + ["recv"]


def test_claim_9_shutdown_fails_pending_request_calls(server_run: Run) -> None:
    events = server_run.timeline.events
    (shutdown,) = [e for e in events if isinstance(e, CoreApiCall)
                   and e.name == "grpc_server_shutdown_and_notify"]
    assert shutdown.ts > max(r.end for r in server_run.analysis.rpcs)
    posted = [e for e in events if isinstance(e, CoreRequestCall)]
    pending = len(posted) - len(server_run.analysis.rpcs)
    assert len([e for e in posted if not e.registered]) == 1  # never used by the client
    after = [e for e in events if e.ts > shutdown.ts]
    failed_tags = [e for e in after if isinstance(e, CoreTagCompleted) and not e.ok]
    failed_returns = [e for e in after if isinstance(e, CoreReturnEvent) and not e.ok
                      and e.event_type == "OP_COMPLETE"]
    finished = [e for e in after if isinstance(e, TaskFinished)
                and e.name in ("_request_registered_call", "_request_call")]
    assert pending > 1 and len(failed_tags) >= pending and len(failed_returns) >= pending
    assert len(finished) == pending
    failed = [e for e in after if isinstance(e, FutureResolved) and not e.ok]
    assert len(failed) <= pending  # the others were cancelled with their tasks
    assert {e.error for e in failed} <= {"_RequestCallError"}


def test_claim_10_queue_shutdown_ends_the_poller(server_run: Run) -> None:
    events = server_run.timeline.events
    queue_shutdown = [e for e in events if isinstance(e, CoreApiCall)
                      and e.name == "grpc_completion_queue_shutdown"]
    ends = [e for e in events if isinstance(e, CoreReturnEvent)
            and e.event_type == "QUEUE_SHUTDOWN"]
    assert len(ends) == 1 and queue_shutdown and min(e.ts for e in queue_shutdown) <= ends[0].ts
    poller = {c.returned.tid for c in server_run.analysis.chains if c.returned is not None}
    assert {ends[0].tid} == poller
    assert all(r.end < ends[0].ts for r in server_run.analysis.rpcs)
