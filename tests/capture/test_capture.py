"""What a capture must show, checked on real grpc.aio processes."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from toygrpc.analysis.hooks import hook_counts
from toygrpc.analysis.run import Run
from toygrpc.model.events import (
    HOOK_NAMES,
    CoreBatchStarted,
    CoreLine,
    CoreRequestCall,
    CoreReturnEvent,
    CoreTagCompleted,
    DrainSpan,
    FutureResolved,
    GlueSpan,
    LoopWake,
    PythonSlice,
    ThreadStarted,
)

CLIENT_UNARY_OPS = ("SEND_INITIAL_METADATA", "SEND_MESSAGE", "SEND_CLOSE_FROM_CLIENT",
                    "RECV_INITIAL_METADATA", "RECV_MESSAGE", "RECV_STATUS_ON_CLIENT")


def test_every_unary_rpc_has_the_seeds_handoff_in_order(client_run: Run) -> None:
    _cap, timeline, analysis = client_run.manifest, client_run.timeline, client_run.analysis
    client_pid = next(pid for pid, role in timeline.processes.items() if role == "client")
    rpcs = [r for r in analysis.rpcs if r.side == "client"]
    assert len(rpcs) == 100
    poller_tid = next(e.native_id for e in timeline.of(ThreadStarted)
                      if "_poll_wrapper" in e.name)
    for rpc in rpcs:
        assert rpc.status == "OK"
        assert len(rpc.chains) == 1, rpc.missing
        chain = rpc.chains[0]
        assert chain.complete, chain.missing
        assert chain.future.caller.endswith("grpc/aio/_call.py:_invoke")
        start = chain.core_call
        assert isinstance(start, CoreBatchStarted)
        assert start.ops == CLIENT_UNARY_OPS
        assert start.tid == client_pid  # the main thread hands the batch to the core
        assert chain.completed is not None and chain.completed.tid != poller_tid
        assert chain.returned is not None and chain.returned.tid == poller_tid
        assert chain.woken is not None and chain.woken.tid == client_pid
        assert chain.drain is not None and chain.drain.tid == client_pid
        assert chain.resolved is not None and chain.resolved.ok
        assert chain.resolved.tid == client_pid
        steps = [chain.future, start, chain.completed, chain.returned, chain.woken,
                 chain.drain, chain.resolved, chain.resumed]
        times = [s.ts for s in steps if s is not None]
        assert times == sorted(times), f"out of order: {times}"


def test_core_thread_ids_match_the_python_side(client_run: Run) -> None:
    _, timeline, _ = client_run.manifest, client_run.timeline, client_run.analysis
    started = [e for e in timeline.of(ThreadStarted) if "_poll_wrapper" in e.name]
    assert len(started) == 1
    poller = started[0].native_id
    returned_on = {e.tid for e in timeline.of(CoreReturnEvent)}
    assert returned_on == {poller}
    main_tids = {e.tid for e in timeline.of(DrainSpan)}
    batch_tids = {e.tid for e in timeline.of(CoreBatchStarted)}
    assert main_tids == batch_tids == {started[0].pid}
    assert timeline.threads[(started[0].pid, poller)] == "poller"


def test_each_hook_fires_in_client_and_server_runs(client_run: Run, server_run: Run) -> None:
    client = hook_counts(client_run.timeline)["client"]
    server = hook_counts(server_run.timeline)["server"]
    for hook in HOOK_NAMES:
        if hook == "rpc.client":
            assert client[hook] > 0
        elif hook == "glue.server":
            assert server[hook] > 0
            assert client[hook] == 0  # a client's glue is not counted as the server's
        elif hook == "glue.client":
            assert server[hook] == 0  # unary calls send and receive in one batch
        elif hook == "glue.serialization":
            assert server[hook] == 2 * 20  # each handler's deserializer and serializer
            assert client[hook] == 0
        else:
            assert client[hook] > 0, hook
            assert server[hook] > 0, hook


def test_counts_are_consistent(client_run: Run, server_run: Run) -> None:
    for run in (client_run, server_run):
        timeline, analysis = run.timeline, run.analysis
        wakes = [e.ts for e in timeline.of(LoopWake)]
        drains = [e.ts for e in timeline.of(DrainSpan)]
        assert wakes and len(drains) >= len(wakes) - 1
        # every wake is followed by a drain before the next wake; only the very last
        # may find the reader gone (the server removes it when it shuts down)
        for wake, next_wake in itertools.pairwise(wakes):
            assert any(wake <= d < next_wake for d in drains)
        in_drain = [e for e in timeline.of(FutureResolved) if e.in_drain]
        returned = [e for e in timeline.of(CoreReturnEvent)
                    if e.event_type == "OP_COMPLETE"]
        # each successful completion the poller hands over resolves one waiter in a drain;
        # failed ones (request-calls cut by server shutdown) find their waiter cancelled
        assert sum(e.ok for e in in_drain) == sum(e.ok for e in returned)
        assert len(in_drain) <= len(returned)
        completed = sum(1 for _ in timeline.of(CoreTagCompleted))
        assert completed == len(returned)
        # one chain per completion: the waiters a drain resolved, and the request calls
        # whose task the server's stop cancelled before a drain got to their failure
        assert len(analysis.chains) == len(returned)
        assert sum(c.cancelled is not None for c in analysis.chains) == (
            len(returned) - len(in_drain))


def test_server_side_request_call_handler_and_reply(server_run: Run) -> None:
    _, _, analysis = server_run.manifest, server_run.timeline, server_run.analysis
    rpcs = [r for r in analysis.rpcs if r.side == "server"]
    assert len(rpcs) == 20
    for rpc in rpcs:
        assert rpc.method == "/HelloService/Hello"
        assert rpc.complete, rpc.missing
        kinds = [c.kind for c in rpc.chains]
        assert kinds[0] == "request_call"
        ops = [c.core_call.ops for c in rpc.chains[1:]]  # type: ignore[union-attr]
        assert ("RECV_CLOSE_ON_SERVER",) in ops
        assert ("RECV_MESSAGE",) in ops
        reply = ops[-1]
        assert reply == ("SEND_INITIAL_METADATA", "SEND_MESSAGE", "SEND_STATUS_FROM_SERVER")
        assert rpc.chains[-1].completed is not None  # the reply batch completes


def test_python_layer_and_raw_lines_are_kept(client_run: Run) -> None:
    cap, timeline, _ = client_run.manifest, client_run.timeline, client_run.analysis
    names = {e.name for e in timeline.of(PythonSlice)}
    assert any("UnaryUnaryMultiCallable.__call__" in n for n in names)
    assert any("SerializeToString" in n for n in names)
    core_lines = sum(1 for _ in timeline.of(CoreLine))
    raw = (cap.process_dir("client") / "core.log").read_text().count("\n")
    kinds = Counter(e.kind for e in timeline.events if e.kind.startswith("core."))
    # every line of the core log became an event (op lines fold into their batch)
    ops = sum(len(e.ops) for e in timeline.of(CoreBatchStarted))
    assert sum(kinds.values()) + ops == raw
    assert core_lines >= 1


def test_clock_alignment_is_measured_and_stored(client_run: Run) -> None:
    _cap, timeline, analysis = client_run.manifest, client_run.timeline, client_run.analysis
    core = timeline.clock["client"]["core"]
    assert core["brackets"] == 100 and core["consistent"]
    # One clock: the core's stamp is the true instant truncated to the µs, so an offset
    # in [0, 1 µs] must fit every bracket, and the bound is the interval's farthest end.
    lo, hi = core["offset_interval_ns"]
    assert lo <= 1_000 and hi >= 0
    assert core["error_bound_ns"] == max(abs(lo), abs(hi), 1_000)
    # Each bracket (waiter created .. the next instant a hook read on that thread: no hook
    # runs inside grpc_call_start_batch) holds its batch start, so with 0 inside the
    # interval the bound is at most the narrowest bracket (+1 µs of truncation): tens of
    # µs on this machine, not milliseconds.
    read_at: dict[int, list[int]] = {}
    for e in timeline.events:
        if e.category in ("hook", "glue", "rpc"):
            read_at.setdefault(e.tid, []).append(e.ts)
            if isinstance(e, LoopWake):
                read_at[e.tid].append(e.ts - e.waited)
    brackets = []
    for c in analysis.chains:
        if c.kind == "batch" and c.core_call is not None:
            after = [ts for ts in read_at.get(c.future.tid, []) if ts > c.future.ts]
            if after:
                brackets.append(min(after) - c.future.ts)
    assert len(brackets) >= 100
    narrowest = min(brackets)
    assert 0 < core["error_bound_ns"] <= narrowest + 1_000
    viz = timeline.clock["client"]["viztracer"]
    assert viz["error_bound_ns"] >= 0


def test_server_runtime_order(server_run: Run) -> None:
    _, timeline, analysis = server_run.manifest, server_run.timeline, server_run.analysis
    server_pid = next(pid for pid, role in timeline.processes.items() if role == "server")
    spans = [e for e in timeline.of(GlueSpan) if e.pid == server_pid]
    for rpc in (r for r in analysis.rpcs if r.side == "server"):
        request = rpc.chains[0]
        assert request.kind == "request_call"
        assert request.future.caller.endswith("events.py:_run")  # made by a Cython coroutine
        mine = {s.name: s for s in spans if s.call == rpc.call and rpc.start <= s.ts <= rpc.end}
        order = ["_handle_rpc", "_handle_unary_unary_rpc", "_receive_message",
                 "_finish_handler_with_unary_response"]
        assert all(name in mine for name in order), sorted(mine)
        assert [mine[n].ts for n in order] == sorted(mine[n].ts for n in order)
        assert mine["_schedule_rpc_coro"].ts < mine["_handle_rpc"].ts
        assert mine["_handle_cancellation_from_core"].ts < mine["_handle_rpc"].ts
    # one request-call per registered method at start, then one re-armed per call
    requests = [e for e in timeline.of(CoreRequestCall) if e.pid == server_pid]
    server_rpcs = sum(1 for r in analysis.rpcs if r.side == "server")
    registered = sum(1 for e in requests if e.registered)
    assert registered >= server_rpcs + 4  # 4 Hello methods at least, plus re-arms
    inline = [e for e in timeline.of(CoreTagCompleted)
              if e.pid == server_pid and e.tid == server_pid]
    assert inline, "no completion happened inline on the server's main thread"


def test_serialization_brackets_the_core(client_run: Run) -> None:
    _, timeline, analysis = client_run.manifest, client_run.timeline, client_run.analysis
    slices = [e for e in timeline.of(PythonSlice)]
    serialize = [e for e in slices if e.name == "HelloRequest.SerializeToString"]
    parse = [e for e in slices if e.name.endswith("MessageMeta.FromString")]
    assert len(serialize) >= 100 and len(parse) >= 100
    # compared with hook times only, so just viztracer's mapping error applies, plus its
    # own stamping: an event's stamp lands a few µs from a getts() read of the same instant
    bound = timeline.clock["client"]["viztracer"]["error_bound_ns"] + 10_000
    for rpc in (r for r in analysis.rpcs if r.side == "client"):
        chain = rpc.chains[0]
        assert chain.core_call is not None and chain.resumed is not None
        # serialized after the RPC starts and before the waiter for its batch is made
        before = [s for s in serialize if rpc.start - bound <= s.ts <= chain.future.ts + bound]
        after = [p for p in parse if chain.resumed.ts - bound <= p.ts <= rpc.end + bound]
        assert len(before) == 1 and before[0].tid == chain.core_call.tid
        assert len(after) == 1 and after[0].tid == chain.core_call.tid


def test_failed_resolutions_happen_inside_the_drain_that_ran_them(server_run: Run) -> None:
    """The request-calls the server's shutdown cuts are failed with set_exception inside
    a queue drain: each carries that drain's id, and lies within its span."""
    timeline = server_run.timeline
    failed = [e for e in timeline.of(FutureResolved) if not e.ok]
    assert failed
    drains = {d.drain_id: d for d in timeline.of(DrainSpan)}
    for event in failed:
        assert event.in_drain in drains, event
        drain = drains[event.in_drain]
        assert drain.ts <= event.ts <= drain.ts + drain.dur


def test_a_full_viztracer_buffer_is_counted_and_said(tmp_path: Path) -> None:
    """viztracer drops its oldest entries when its buffer is full: the run says how many
    RPCs lost their Python layer (and the same capture with the buffer sized for it
    loses none)."""
    def trace(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "toygrpc", "trace", "client", "--rpcs",
                               "100", "--out", str(out), *extra], capture_output=True,
                              text=True, timeout=300, check=False)

    small = trace(tmp_path / "small", "--tracer-entries", "20000")
    assert small.returncode == 0, small.stderr
    summary = json.loads((tmp_path / "small" / "summary.json").read_text())
    [(what, lost)] = summary["losses"].items()
    assert "without their Python layer" in what and 1 <= lost <= 100
    assert summary["partial"] is True and "partial run" in small.stderr
    assert f"{lost} of 100 RPCs have no Python layer" in small.stderr
    sized = trace(tmp_path / "sized")
    assert sized.returncode == 0, sized.stderr
    assert json.loads((tmp_path / "sized" / "summary.json").read_text())["losses"] == {}


def test_no_rpc_starts_before_ready_returns(tmp_path: Path) -> None:
    """``capture(ready=...)`` holds the client back (it starts beside the server and
    waits for the address) until ``ready`` returns: what ``ready`` waits for (the
    drawing process's imports) never runs beside the RPCs measured."""
    import time

    from toygrpc.capture.launch import CaptureOptions, capture
    from toygrpc.pipeline import analyse

    returned: list[int] = []

    def ready() -> None:
        time.sleep(0.5)
        returned.append(time.time_ns())

    manifest = capture(CaptureOptions(mode="client", out=tmp_path / "run", rpcs=3,
                                      python_layer=False), ready=ready)
    run = analyse(manifest)
    assert len(returned) == 1 and len(run.analysis.rpcs) == 3
    assert min(rpc.start for rpc in run.analysis.rpcs) > returned[0]
    client = next(p for p in manifest.processes if p.role == "client")
    sent = client.command[client.command.index("--target") + 1]
    assert sent.startswith("localhost:") and sent.split(":")[1].isdigit()  # what it called


def test_started_runs_once_the_processes_are_started_and_before_ready(tmp_path: Path) -> None:
    """``capture(started=...)`` runs once the server and the client are started (listed in
    capture.json, their processes alive) and before ``ready``: what it does (the analysis's
    imports) overlaps their start-up. The versions, looked up meanwhile, are saved."""
    from toygrpc.capture.launch import CaptureOptions, capture, current_versions
    from toygrpc.model.manifest import Manifest

    calls: list[str] = []
    children: list[str] = []
    flags_seen = (b"--quick-exit", b"--buffer-core-log")

    def started() -> None:
        calls.append("started")
        listed = Manifest.load(tmp_path / "run").processes
        assert [p.role for p in listed] == ["server", "client"]
        for stat in Path("/proc").glob("[0-9]*/stat"):  # this process's children, running
            try:
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                command = (stat.parent / "cmdline").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            if ppid == os.getpid():
                name = next((c.decode() for c in command if c.startswith(b"toygrpc.")), "")
                children.append(" ".join([name, *(flag.decode() for flag in command
                                                   if flag in flags_seen)]))

    manifest = capture(CaptureOptions(mode="client", out=tmp_path / "run", rpcs=2,
                                      python_layer=False), started=started,
                       ready=lambda: calls.append("ready"))
    assert calls == ["started", "ready"]
    # the Hello client's bootstrap skips the last collections (its teardown logs nothing),
    # and buffers its core trace (it writes nothing to stderr itself)
    assert sorted(children) == ["toygrpc.capture.bootstrap --quick-exit --buffer-core-log",
                                "toygrpc.server"]
    assert manifest.versions == current_versions()
    assert Manifest.load(tmp_path / "run").versions == manifest.versions
