"""docs/client-runtime.md, claim by claim, on a fresh capture of the Hello client (the
session's ``client_run``: 100 unary RPCs, Python layer on). When grpcio changes what the
page describes, the claim's test fails and the page must be corrected."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import toygrpc
from toygrpc.analysis.completions import completion_sites
from toygrpc.analysis.run import Run
from toygrpc.model.events import (
    CoreApiCall,
    CoreBatchStarted,
    CoreReturnEvent,
    CoreTagCompleted,
    Event,
    FutureCreated,
    GlueSpan,
    LoopWake,
    PollerSocket,
    PythonSlice,
    ThreadStarted,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "client-runtime.md"
SEED_OPS = ("SEND_INITIAL_METADATA", "SEND_MESSAGE", "SEND_CLOSE_FROM_CLIENT",
            "RECV_INITIAL_METADATA", "RECV_MESSAGE", "RECV_STATUS_ON_CLIENT")
HELLO_METHODS = {"/HelloService/Hello", "/HelloService/HelloServerStream",
                 "/HelloService/HelloClientStream", "/HelloService/HelloBidiStream"}


def of(run: Run, kind: type[Event]) -> list[Event]:
    return [e for e in run.timeline.events if isinstance(e, kind)]


def api(run: Run, name: str) -> list[CoreApiCall]:
    return [e for e in run.timeline.events if isinstance(e, CoreApiCall) and e.name == name]


def poller_tid(run: Run) -> int:
    (poller,) = [e for e in of(run, ThreadStarted) if isinstance(e, ThreadStarted)]
    assert poller.name.endswith("(_poll_wrapper)")
    return poller.native_id


def test_the_page_lists_the_claims_checked_here() -> None:
    text = DOC.read_text()
    tests = " ".join(name for name in globals() if name.startswith("test_claim_"))
    for number in range(1, 9):
        assert f"| ({number}) " in text and f"test_claim_{number}_" in tests


def test_claim_1_poller_blocks_on_a_next_queue_before_the_channel(client_run: Run) -> None:
    (created,) = api(client_run, "grpc_completion_queue_create_internal")
    assert "completion_type=0" in created.args  # GRPC_CQ_NEXT
    (channel,) = api(client_run, "grpc_channel_create")
    first_next = min(e.ts for e in api(client_run, "grpc_completion_queue_next")
                     if e.tid == poller_tid(client_run))
    # the queue comes first; the poller thread is started before the channel, but nothing
    # waits for it to block: its first grpc_completion_queue_next may follow the channel
    assert created.ts < channel.ts and created.ts < first_next
    returns = [e.ts for e in of(client_run, CoreReturnEvent)]
    assert returns and first_next < min(returns)


def test_claim_2_channel_from_grpc_channel_create_with_credentials(client_run: Run) -> None:
    (channel,) = api(client_run, "grpc_channel_create")
    assert "creds=0x" in channel.args
    assert api(client_run, "grpc_channel_credentials_release")
    assert not api(client_run, "grpc_insecure_channel_create")


def test_claim_3_methods_registered_once_then_registered_calls(client_run: Run) -> None:
    registered = api(client_run, "grpc_channel_register_call")
    methods = [e.args.split("method=")[1].split(",")[0] for e in registered]
    assert sorted(methods) == sorted(HELLO_METHODS)
    calls = api(client_run, "grpc_channel_create_registered_call")
    assert len(calls) == len(client_run.analysis.rpcs)
    assert max(e.ts for e in registered) < min(e.ts for e in calls)
    assert not api(client_run, "grpc_channel_create_call")


def test_claim_4_one_batch_of_the_seeds_six_ops_per_call(client_run: Run) -> None:
    batches = of(client_run, CoreBatchStarted)
    assert len(batches) == len(client_run.analysis.rpcs)
    assert {b.ops for b in batches if isinstance(b, CoreBatchStarted)} == {SEED_OPS}
    assert all(len(rpc.chains) == 1 for rpc in client_run.analysis.rpcs)


def test_claim_5_a_core_thread_completes_the_poller_only_returns(client_run: Run) -> None:
    poller, main = poller_tid(client_run), client_run.analysis.rpcs[0].pid
    completions = [e for e in of(client_run, CoreTagCompleted)]
    returns = [e for e in of(client_run, CoreReturnEvent)
               if isinstance(e, CoreReturnEvent) and e.event_type == "OP_COMPLETE"]
    assert completions and all(e.tid != poller for e in completions)
    assert any(e.tid != main for e in completions)  # core threads (EventEngine) do it
    assert returns and all(e.tid == poller for e in returns)
    for rpc in client_run.analysis.rpcs:
        chain = rpc.chains[0]
        assert chain.completed is not None and chain.returned is not None
        assert chain.completed.tid != poller and chain.returned.tid == poller


def test_claim_5_at_concurrency_1_and_under_load(client_run: Run, both_run: Run) -> None:
    """Where each client tag was completed: a core thread, or the main thread inline in
    that batch's own grpc_call_start_batch; never the poller, nor main outside the call."""
    for run in (client_run, both_run):
        sites = [s for s in completion_sites(run.timeline, run.analysis)
                 if run.timeline.processes[s.chain.pid] == "client"]
        assert len(sites) == sum(r.side == "client" for r in run.analysis.rpcs)
        assert all(s.thread == "core" or s.inline_in_own_call for s in sites)
        assert any(s.thread == "core" for s in sites)


def test_claim_6_one_waiter_per_call_made_in_execute_batch_from_invoke(
        client_run: Run) -> None:
    waiters = [e for e in of(client_run, FutureCreated)
               if isinstance(e, FutureCreated) and e.in_batch]
    assert len(waiters) == len(client_run.analysis.rpcs)
    assert {w.caller for w in waiters} == {"grpc/aio/_call.py:_invoke"}
    for rpc in client_run.analysis.rpcs:
        chain = rpc.chains[0]
        assert chain.core_call is not None and chain.future.ts < chain.core_call.ts


def test_claim_7_wake_on_the_pollers_fd_then_drain_resolve_resume(client_run: Run) -> None:
    (pair,) = [e for e in of(client_run, PollerSocket) if isinstance(e, PollerSocket)]
    wakes = [e for e in of(client_run, LoopWake) if isinstance(e, LoopWake)]
    assert wakes and {w.fd for w in wakes} == {pair.read_fd}
    for rpc in client_run.analysis.rpcs:
        chain = rpc.chains[0]
        assert chain.complete, chain.missing
        order = [chain.returned, chain.woken, chain.drain, chain.resolved, chain.resumed]
        if chain.shared_wake:  # drained by an earlier event's wake: no wake of its own
            order.remove(chain.woken)
        stamps = [e.ts for e in order if e is not None]
        assert stamps == sorted(stamps)
        assert all(e.tid == rpc.pid for e in order[1:] if e is not None)


def test_claim_8_serialize_before_the_batch_parse_after_the_resume(client_run: Run) -> None:
    slices = [e for e in of(client_run, PythonSlice) if isinstance(e, PythonSlice)]
    serialize = [s for s in slices if s.name == "HelloRequest.SerializeToString"]
    parse = [s for s in slices if s.name == "google._upb._message.MessageMeta.FromString"]
    assert len(serialize) >= len(client_run.analysis.rpcs) <= len(parse)
    for rpc in client_run.analysis.rpcs:
        chain = rpc.chains[0]
        assert chain.core_call is not None and chain.resumed is not None
        assert any(rpc.start <= s.ts < chain.core_call.ts and s.tid == rpc.pid
                   for s in serialize)
        assert any(chain.resumed.ts <= s.ts <= rpc.end and s.tid == rpc.pid for s in parse)


def test_the_core_trace_writes_its_op_lines_inside_core_and_network(client_run: Run) -> None:
    """Why a 'hooks + core trace' core_and_network holds tracing cost: the stage starts at
    the grpc_call_start_batch line, and the core then writes one line per op on the same
    (main) thread before the call returns."""
    lines = (client_run.run_dir / "client" / "core.log").read_text().splitlines()
    main = str(client_run.analysis.rpcs[0].pid)
    starts = [i for i, line in enumerate(lines) if "grpc_call_start_batch(" in line]
    assert len(starts) == len(client_run.analysis.rpcs)
    for index in starts:
        assert lines[index].split()[2] == main
        same_thread = [ln for ln in lines[index + 1:] if ln.split()[2:3] == [main]][:6]
        assert [ln.split("] ", 1)[1].split(":")[0] for ln in same_thread] == [
            f"ops[{n}]" for n in range(6)]
    for rpc in client_run.analysis.rpcs:
        chain = rpc.chains[0]
        assert isinstance(chain.core_call, CoreBatchStarted)
        assert [s.stage for s in chain.steps() if s.name == "completed"] == ["core_and_network"]
        # the thread's next hooked instant (nothing is hooked inside the call) comes only
        # once the call (and its trace lines) returned
        after = [e.ts for e in client_run.timeline.events
                 if e.tid == chain.future.tid and e.category in ("hook", "glue", "rpc")
                 and e.ts > chain.future.ts]
        assert after and min(after) > chain.core_call.ts


# --- the seed's outdated steps (docs/client-runtime.md, "The seed's outdated steps") ---

CORE_LINE = re.compile(r"^[IWE]\d{4} \S+\s+(\d+) (\S+)\] (.*)$")

TWO_CHANNELS = '''
import asyncio, gc, sys
import grpc
from toygrpc.generated import hello_pb2, hello_pb2_grpc

async def main():
    for _ in range(2):
        async with grpc.aio.insecure_channel(sys.argv[1]) as channel:
            await hello_pb2_grpc.HelloServiceStub(channel).Hello(hello_pb2.HelloRequest(x="hey"))
        del channel  # the channel and its call go: nothing holds grpc.aio initialised
        gc.collect()
        await asyncio.sleep(0.2)

asyncio.run(main())
'''


@pytest.fixture(scope="module")
def http_client_run(tmp_path_factory: pytest.TempPathFactory) -> toygrpc.Trace:
    """5 sequential unary calls from the traced client, with the core's http tracer."""
    out = tmp_path_factory.mktemp("http") / "client"
    return toygrpc.trace_client(rpcs=5, python_layer=False, tracers=("http",), out=out)


def core_lines(trace: toygrpc.Trace) -> list[tuple[int, str, str]]:
    """(thread, source file:line, message) of every line of the client's core log."""
    found = []
    for line in (trace.run_dir / "client" / "core.log").read_text().splitlines():
        match = CORE_LINE.match(line)
        if match:
            found.append((int(match.group(1)), match.group(2), match.group(3)))
    return found


def test_seed_3_writes_begin_inline_reads_on_event_engine_threads(
        http_client_run: toygrpc.Trace) -> None:
    lines = core_lines(http_client_run)
    main = http_client_run.rpcs[0].pid
    poller = poller_tid(http_client_run.run)
    starts = [i for i, (tid, _, text) in enumerate(lines)
              if tid == main and text.startswith("grpc_call_start_batch(")]
    assert len(starts) == len(http_client_run.rpcs)
    inline_writes = 0
    for index in starts:  # the main thread's lines up to its next api call
        for tid, _, text in lines[index + 1:]:
            if tid != main:
                continue
            if "begin write in current thread" in text:
                inline_writes += 1
            if re.match(r"grpc_\w+\(", text):
                break
    assert inline_writes >= 1  # the first call may find the connection still being set up
    reads = [tid for tid, _, text in lines if text.startswith("INCOMING[")]
    assert reads and main not in reads and poller not in reads


def test_seed_4_initialisation_is_reference_counted(tmp_path: Path,
                                                    hello_server: str) -> None:
    script = tmp_path / "two_channels.py"
    script.write_text(TWO_CHANNELS)
    trace = toygrpc.trace_script(script, hello_server, python_layer=False,
                                 out=tmp_path / "run")
    pollers = [e for e in of(trace.run, ThreadStarted) if isinstance(e, ThreadStarted)
               and e.name.endswith("(_poll_wrapper)")]
    queues = api(trace.run, "grpc_completion_queue_create_internal")
    shutdowns = api(trace.run, "grpc_completion_queue_shutdown")
    channels = api(trace.run, "grpc_channel_create")
    assert len(pollers) == len(queues) == len(channels) == 2
    assert len({p.native_id for p in pollers}) == 2
    # the first queue is shut down (its poller ends) before the second is made
    assert shutdowns and min(e.ts for e in shutdowns) < queues[1].ts


def test_seed_5_prepare_and_event_run_inside_execute_batch_unhookable(
        client_run: Run) -> None:
    from grpc._cython import cygrpc

    tag_class = cygrpc._BatchOperationTag
    # cdef methods: not attributes of the class, so nothing can wrap them
    assert not hasattr(tag_class, "prepare") and not hasattr(tag_class, "event")
    spans = [e for e in of(client_run, GlueSpan)
             if isinstance(e, GlueSpan) and e.name == "execute_batch"]
    for rpc in client_run.analysis.rpcs:
        chain = rpc.chains[0]
        assert chain.core_call is not None and chain.resumed is not None
        (span,) = [s for s in spans if s.ts <= chain.future.ts and
                   chain.resumed.ts <= s.ts + s.dur]
        # prepare() runs between the span's start and the waiter's creation, event()
        # between the task's resumption and the span's end
        assert span.ts < chain.future.ts < chain.core_call.ts < chain.resumed.ts
