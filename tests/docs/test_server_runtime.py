"""docs/server-runtime.md, claim by claim, on fresh captures: the session's
``server_run`` (20 sequential unary RPCs from an untraced client, then SIGTERM),
``both_streams_run`` (2 RPCs of every shape, client and server traced) and this module's
``loaded_run`` (60 unary RPCs at concurrency 4, both traced). Which thread completed which
tag, inline or not, and in which order, at concurrency 1 and under load."""

from __future__ import annotations

from pathlib import Path

import pytest

import toygrpc
from toygrpc.analysis.chains import Chain, Rpc
from toygrpc.analysis.completions import CompletionSite, completion_sites
from toygrpc.analysis.run import Run
from toygrpc.model.events import (
    CoreApiCall,
    CoreBatchStarted,
    CoreRequestCall,
    CoreReturnEvent,
    CoreTagCompleted,
    FutureResolved,
    GlueSpan,
    TaskFinished,
    ThreadStarted,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "server-runtime.md"
REPLY = ("SendInitialMetadataOperation", "SendMessageOperation",
         "SendStatusFromServerOperation")
REPLY_OPS = ("SEND_INITIAL_METADATA", "SEND_MESSAGE", "SEND_STATUS_FROM_SERVER")
TRUNCATION_NS = 1_000  # the core's log stamps whole microseconds


@pytest.fixture(scope="module")
def loaded_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Under load: 60 unary RPCs from 4 concurrent callers, client and server traced."""
    out = tmp_path_factory.mktemp("load") / "both"
    return toygrpc.trace_both(rpcs=60, concurrency=4, python_layer=False, out=out).run


def server_pid(run: Run) -> int:
    return next(pid for pid, role in run.timeline.processes.items() if role == "server")


def unary_rpcs(run: Run) -> list[Rpc]:
    rpcs = [r for r in run.analysis.rpcs if r.side == "server"]
    assert rpcs and all(r.method == "/HelloService/Hello" and r.complete for r in rpcs)
    return rpcs


def chain_of(rpc: Rpc, first_op: str) -> Chain:
    (found,) = [c for c in rpc.chains if c.ops and c.core_call is not None
                and isinstance(c.core_call, CoreBatchStarted) and c.core_call.ops[0] == first_op]
    return found


def sites_by_chain(run: Run) -> dict[int, CompletionSite]:
    return {id(s.chain): s for s in completion_sites(run.timeline, run.analysis)}


def main_thread_calls(run: Run) -> str:
    """The server's main thread, after the start: ``Q`` a request call, ``C`` a
    RECV_CLOSE_ON_SERVER batch start, ``m`` a RECV_MESSAGE batch start, in time order."""
    pid = server_pid(run)
    marks = []
    for event in run.timeline.events:
        if event.pid != pid or event.tid != pid:
            continue
        if isinstance(event, CoreRequestCall):
            marks.append("Q")
        elif isinstance(event, CoreBatchStarted) and event.ops[0] == "RECV_CLOSE_ON_SERVER":
            marks.append("C")
        elif isinstance(event, CoreBatchStarted) and event.ops[0] == "RECV_MESSAGE":
            marks.append("m")
    return "".join(marks)


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
        assert f"tests/docs/test_server_runtime.py::{name}`" in text, name
    assert "](swimlane-server.png)" in text and (DOC.parent / "swimlane-server.png").is_file()


def test_claim_1_one_request_call_per_method_then_one_re_arm_per_call(
        server_run: Run, loaded_run: Run) -> None:
    for run in (server_run, loaded_run):
        pid = server_pid(run)
        first_rpc = min(r.start for r in unary_rpcs(run))
        posted = [e for e in run.timeline.of(CoreRequestCall) if e.pid == pid]
        at_start = [e for e in posted if e.ts < first_rpc]
        assert sum(not e.registered for e in at_start) == 1
        assert sum(e.registered for e in at_start) >= 4  # the Hello service's 4 methods
        marks = main_thread_calls(run)
        assert marks == "Q" * len(at_start) + "CQm" * len(unary_rpcs(run)), marks
        for rpc in unary_rpcs(run):
            request = rpc.chains[0]
            assert request.kind == "request_call"
            assert request.future.caller.endswith("events.py:_run")  # a Cython coroutine


def test_claim_2_request_call_completes_on_a_core_thread_at_concurrency_1(
        server_run: Run) -> None:
    sites = sites_by_chain(server_run)
    for rpc in unary_rpcs(server_run):
        site = sites[id(rpc.chains[0])]
        assert site.thread == "core", site
        assert rpc.chains[0].returned is not None  # and the poller returned it


def test_claim_2_request_call_completes_inline_in_the_re_arm_under_load(
        loaded_run: Run) -> None:
    sites = sites_by_chain(loaded_run)
    where = [sites[id(rpc.chains[0])] for rpc in unary_rpcs(loaded_run)]
    assert all(s.thread == "core" or s.inline_in_own_call for s in where)
    inline = [s for s in where if s.inline_in_own_call]
    assert inline  # a call already queued in the core: matched by the request call itself
    assert all(isinstance(s.inside, CoreRequestCall) and s.inside.registered for s in inline)


def test_claim_3_the_rpc_task_starts_before_the_re_arm(server_run: Run,
                                                      loaded_run: Run) -> None:
    for run in (server_run, loaded_run):
        pid = server_pid(run)
        requests = sorted((e for e in run.timeline.of(CoreRequestCall) if e.pid == pid),
                          key=lambda e: e.ts)
        spans = [e for e in run.timeline.of(GlueSpan) if e.pid == pid]
        for rpc in unary_rpcs(run):
            close = chain_of(rpc, "RECV_CLOSE_ON_SERVER")
            message = chain_of(rpc, "RECV_MESSAGE")
            assert rpc.chains[0].resumed is not None and close.core_call is not None
            assert message.core_call is not None
            re_arm = next(e for e in requests if e.ts > rpc.chains[0].resumed.ts)
            assert close.core_call.ts <= re_arm.ts <= message.core_call.ts
            mine = {s.name: s for s in spans if s.call == rpc.call
                    and rpc.start <= s.ts <= rpc.end}
            order = ["_schedule_rpc_coro", "_handle_cancellation_from_core", "_handle_rpc",
                     "_handle_unary_unary_rpc", "_receive_message",
                     "_finish_handler_with_unary_response"]
            assert [mine[n].ts for n in order] == sorted(mine[n].ts for n in order)
            assert mine["_schedule_rpc_coro"].ts < re_arm.ts < mine["_handle_rpc"].ts


def test_claim_4_receive_message_completes_inline_in_its_own_batch(
        server_run: Run, loaded_run: Run) -> None:
    for run in (server_run, loaded_run):
        sites = sites_by_chain(run)
        where = [sites[id(chain_of(rpc, "RECV_MESSAGE"))] for rpc in unary_rpcs(run)]
        assert all(s.thread == "core" or s.inline_in_own_call for s in where)
    at_1 = sites_by_chain(server_run)
    assert any(at_1[id(chain_of(rpc, "RECV_MESSAGE"))].inline_in_own_call
               for rpc in unary_rpcs(server_run))


def test_claim_5_the_reply_is_one_three_op_batch(server_run: Run, loaded_run: Run) -> None:
    for run in (server_run, loaded_run):
        for rpc in unary_rpcs(run):
            ops = [c.core_call.ops for c in rpc.chains[1:]
                   if isinstance(c.core_call, CoreBatchStarted)]
            assert ops == [("RECV_CLOSE_ON_SERVER",), ("RECV_MESSAGE",), REPLY_OPS]


def test_claim_11_receive_close_completes_with_the_reply(server_run: Run,
                                                        loaded_run: Run) -> None:
    inline = 0
    for run in (server_run, loaded_run):
        sites = sites_by_chain(run)
        for rpc in unary_rpcs(run):
            reply = chain_of(rpc, REPLY_OPS[0])
            site = sites[id(chain_of(rpc, "RECV_CLOSE_ON_SERVER"))]
            assert site.chain.completed is not None and reply.core_call is not None
            assert site.chain.completed.ts >= reply.core_call.ts  # never before the reply
            assert site.thread == "core" or (site.inline and site.inside_chain is reply), site
            inline += site.inline
    assert inline  # most often inside the reply's own grpc_call_start_batch


def test_claim_12_the_reply_completes_inline_or_on_a_core_thread(
        server_run: Run, loaded_run: Run) -> None:
    for run in (server_run, loaded_run):
        sites = sites_by_chain(run)
        where = [sites[id(chain_of(rpc, REPLY_OPS[0]))] for rpc in unary_rpcs(run)]
        assert all(s.thread == "core" or s.inline_in_own_call for s in where)
        assert any(s.inline_in_own_call for s in where)


def test_claim_13_inline_completions_still_go_through_the_poller(
        server_run: Run, loaded_run: Run) -> None:
    for run in (server_run, loaded_run):
        pid = server_pid(run)
        (poller,) = [e.native_id for e in run.timeline.of(ThreadStarted)
                     if e.pid == pid and e.name.endswith("(_poll_wrapper)")]
        inline = [s for s in completion_sites(run.timeline, run.analysis)
                  if s.inline and s.chain.pid == pid and s.chain.resolved is not None
                  and s.chain.resolved.ok]
        assert inline
        for site in inline:
            chain = site.chain
            done, returned, drain, resolved = (chain.completed, chain.returned, chain.drain,
                                               chain.resolved)
            assert done and returned and drain and resolved, chain.missing
            assert returned.tid == poller and drain.tid == resolved.tid == pid
            # the core stamps whole µs; a drain may already run when the event comes
            # (it pops until the queue is empty), so compare with the drain's end
            assert done.ts <= returned.ts <= resolved.ts + TRUNCATION_NS
            assert returned.ts <= drain.ts + drain.dur + TRUNCATION_NS


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
    # the core fails them at once, inline in grpc_server_shutdown_and_notify (main thread):
    # every failed tag on the shutdown's thread, and every pending request call's chain
    # completed inside the shutdown call, whether a drain then resolved its waiter or its
    # task was cancelled first
    assert {e.tid for e in failed_tags} == {shutdown.tid}
    cut = [s for s in completion_sites(server_run.timeline, server_run.analysis)
           if s.chain.kind == "request_call" and s.chain.completed is not None
           and not s.chain.completed.ok]
    assert len(cut) == pending
    assert sorted(s.chain.resolved is not None for s in cut) == sorted(
        [False] * (pending - len(failed)) + [True] * len(failed))
    assert all((s.chain.resolved is None) == (s.chain.cancelled is not None) for s in cut)
    assert all(s.inline and s.inside is shutdown for s in cut)


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
