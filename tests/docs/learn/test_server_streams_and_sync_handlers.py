"""docs/learn/08-server-streams-and-sync-handlers.md: the server's status watcher on
every call shape (``both_streams_run``) and ``def`` handlers run by the server's thread
pool (``toygrpc trace run examples/sync_handlers.py``, Python layer on)."""

from __future__ import annotations

from pathlib import Path

from toygrpc.analysis.chains import Rpc
from toygrpc.analysis.run import Run
from toygrpc.model.events import FutureCreated, FutureResolved, PythonSlice

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "learn" / "08-server-streams-and-sync-handlers.md"
POOL = "python sync-handler"  # the thread role of examples/sync_handlers.py's pool
REPLIES = 3  # the example's default server stream length


def test_the_page_names_the_tests() -> None:
    text = DOC.read_text()
    for name in [n for n in globals() if n.startswith("test_claim_")]:
        assert f"tests/docs/learn/test_server_streams_and_sync_handlers.py::{name}" in text, name


def server_rpcs(run: Run, method: str = "") -> list[Rpc]:
    found = [r for r in run.analysis.rpcs if r.side == "server" and r.method.endswith(method)]
    assert found and all(r.status == "OK" and r.complete for r in found)
    return found


def slices(run: Run, name: str, rpc: Rpc | None = None) -> list[PythonSlice]:
    return [e for e in run.timeline.of(PythonSlice) if e.name.split(" (")[0] == name
            and (rpc is None or (e.pid == rpc.pid and rpc.start <= e.ts <= rpc.end))]


def on_pool(run: Run, event: PythonSlice) -> bool:
    return run.timeline.threads.get((event.pid, event.tid), "").startswith(POOL)


def test_claim_1_the_status_watcher_waits_for_the_whole_call(both_streams_run: Run) -> None:
    """Every server RPC, whatever its shape, starts RECV_CLOSE_ON_SERVER first and that
    waiter resolves only once the RPC's status batch has been started."""
    for rpc in server_rpcs(both_streams_run):
        close, *rest = rpc.chains[1:]
        assert close.ops == ("ReceiveCloseOnServerOperation",)
        assert all(close.future.ts < c.future.ts for c in rest)
        (status,) = [c for c in rest if "SendStatusFromServerOperation" in c.ops]
        assert close.resolved is not None and status.core_call is not None
        assert close.resolved.ts >= status.core_call.ts


def test_claim_4_a_def_handler_runs_on_the_pool(sync_handlers_run: Run) -> None:
    """The main thread calls loop.run_in_executor; the handler runs on a pool thread
    between the request's RECV_MESSAGE and the reply batch."""
    unary = server_rpcs(sync_handlers_run, "/Hello")
    assert len(unary) == 3
    for rpc in unary:
        (handler,) = slices(sync_handlers_run, "SyncGreeter.Hello", rpc)
        assert on_pool(sync_handlers_run, handler) and handler.tid != rpc.pid
        (submit,) = slices(sync_handlers_run, "BaseEventLoop.run_in_executor", rpc)
        assert submit.tid == rpc.pid and submit.ts < handler.ts
        receive, reply = rpc.chains[2], rpc.chains[3]
        assert receive.ops == ("ReceiveMessageOperation",) and receive.resumed is not None
        assert "SendStatusFromServerOperation" in reply.ops and reply.core_call is not None
        assert receive.resumed.ts < handler.ts < reply.core_call.ts


def test_claim_5_the_result_comes_back_through_asyncio(sync_handlers_run: Run) -> None:
    """Not through grpc's poller: the executor's future (made by wrap_future) is set by
    call_soon_threadsafe, which writes asyncio's own self-pipe, from the pool thread (or
    from main when the handler finished before main attached its callback), and it
    resolves outside any poller drain."""
    for rpc in server_rpcs(sync_handlers_run, "/Hello"):
        (handler,) = slices(sync_handlers_run, "SyncGreeter.Hello", rpc)
        after = [s for s in sync_handlers_run.timeline.of(PythonSlice)
                 if s.tid in (handler.tid, rpc.pid) and handler.ts <= s.ts <= rpc.end]
        names = [s.name.split(" (")[0] for s in after]
        assert "BaseEventLoop.call_soon_threadsafe" in names
        assert "BaseSelectorEventLoop._write_to_self" in names
        made = [f for f in sync_handlers_run.timeline.of(FutureCreated)
                if f.pid == rpc.pid and rpc.start <= f.ts <= rpc.end
                and f.caller.endswith("futures.py:wrap_future")]
        assert len(made) == 1
        resolved = [r for r in sync_handlers_run.timeline.of(FutureResolved)
                    if r.future_id == made[0].future_id and r.ts >= made[0].ts]
        assert resolved and resolved[0].in_drain == 0 and resolved[0].tid == rpc.pid


def test_claim_6_a_generator_handler_hands_each_reply_over(sync_handlers_run: Run) -> None:
    """A def generator is iterated on the pool thread; each reply (and the end) crosses
    to the loop with run_coroutine_threadsafe, then goes out as a SEND_MESSAGE batch of
    its own."""
    (rpc,) = server_rpcs(sync_handlers_run, "/HelloServerStream")
    steps = slices(sync_handlers_run, "SyncGreeter.HelloServerStream", rpc)
    assert steps and all(on_pool(sync_handlers_run, s) for s in steps)
    handed = [s for s in slices(sync_handlers_run, "run_coroutine_threadsafe", rpc)
              if on_pool(sync_handlers_run, s)]
    assert len(handed) == REPLIES + 1  # every reply, then the end of the generator
    sends = [c.ops for c in rpc.chains if any(op.startswith("Send") for op in c.ops)]
    assert sends == [("SendInitialMetadataOperation", "SendMessageOperation"),
                     *[("SendMessageOperation",)] * (REPLIES - 1),
                     ("SendStatusFromServerOperation",)]
