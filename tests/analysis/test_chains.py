"""Causal chains and stages on real captures (fixtures from tests/capture/conftest.py)."""

from __future__ import annotations

import json

import numpy

from toygrpc.analysis.chains import STAGE_ORDER, cross_process_links
from toygrpc.analysis.run import Run
from toygrpc.analysis.stages import stage_samples, stage_statistics
from toygrpc.model.events import CoreBatchStarted, RpcFinished, RpcStarted
from toygrpc.render.perfetto import PerfettoRenderer
from toygrpc.render.summary import SummaryRenderer


def test_every_rpc_of_a_100_rpc_client_run_has_a_complete_chain(client_run: Run) -> None:
    _, _, analysis = client_run.manifest, client_run.timeline, client_run.analysis
    client = [r for r in analysis.rpcs if r.side == "client"]
    assert len(client) == 100
    incomplete = [(i, r.missing) for i, r in enumerate(client) if not r.complete]
    assert not incomplete


def test_trace_both_links_client_and_server(both_run: Run) -> None:
    _, _, analysis = both_run.manifest, both_run.timeline, both_run.analysis
    client = [r for r in analysis.rpcs if r.side == "client"]
    server = [r for r in analysis.rpcs if r.side == "server"]
    assert len(client) == len(server) == 30
    for rpc in client:
        assert rpc.complete, rpc.missing
        assert rpc.peer is not None and rpc.peer.complete, rpc.peer and rpc.peer.missing
        assert rpc.peer.link == rpc.link
        # the server got the call after the client sent it, and sent its reply before the
        # client's call ended (the server may finish its own bookkeeping later)
        reply = rpc.peer.chains[-1].core_call
        assert reply is not None
        assert rpc.start < rpc.peer.start < reply.ts < rpc.end


def test_a_unary_rpcs_stages_are_the_differences_of_its_raw_events(client_run: Run) -> None:
    """Each unary RPC has one chain: its stages are plain differences of raw events (the
    hooks' rpc.started/rpc.finished, the core's start/completion/RETURN_EVENT, the wake,
    the drain, set_result, the task's resumption), worked out here without the chain
    code's sweep. Only RPCs whose steps came in causal order on the clock qualify (the
    core stamps truncate to the µs, a shared wake is placed elsewhere); most must."""
    timeline, analysis = client_run.timeline, client_run.analysis
    open_calls: dict[int, int] = {}  # call ids are addresses, reused: pair in time order
    finished: dict[int, int] = {}  # rpc.started ts -> rpc.finished ts
    for event in timeline.events:
        if isinstance(event, RpcStarted):
            open_calls[event.call_id] = event.ts
        elif isinstance(event, RpcFinished):
            finished[open_calls.pop(event.call_id)] = event.ts
    assert len(finished) == len(analysis.rpcs) == 100
    checked = 0
    for rpc in analysis.rpcs:
        (chain,) = rpc.chains
        events = [chain.future, chain.core_call, chain.completed, chain.returned, chain.woken,
                  chain.drain, chain.resolved, chain.resumed]
        times = [e.ts for e in events if e is not None]
        if len(times) < 8 or times != sorted(times) or not times[0] >= rpc.start:
            continue
        _created, call, done, returned, woken, drained, resolved, resumed = times
        end = max(finished[rpc.start], resumed)  # the await returns after the resumption
        assert rpc.stages() == {
            "python_before_core": call - rpc.start,
            "core_and_network": done - call,
            "core_to_poller": returned - done,
            "poller_to_wake": woken - returned,
            "wake_to_drain": drained - woken,
            "drain_to_resolution": resolved - drained,
            "resolution_to_resume": resumed - resolved,
            "python_after_core": end - resumed,
        }
        assert rpc.latency == end - rpc.start
        checked += 1
    assert checked >= 90


def test_stage_statistics_cover_every_stage(client_run: Run) -> None:
    _, _, analysis = client_run.manifest, client_run.timeline, client_run.analysis
    stats = {s.name: s for s in stage_statistics(analysis)}
    samples = stage_samples(analysis)
    assert list(stats) == list(STAGE_ORDER)
    assert stats["awaiting_call"].count == 0  # no request-calls in a client-only capture
    for s in stats.values():
        if s.name == "awaiting_call":
            continue
        assert s.count == len(samples[s.name]) >= 100
        # numpy's nearest rank (method inverted_cdf), not the order of the percentiles,
        # which holds for any rank rule
        assert [s.p50, s.p90, s.p99] == [
            int(numpy.percentile(samples[s.name], q, method="inverted_cdf"))
            for q in (50, 90, 99)], s.name
        assert s.max == max(samples[s.name])


def test_trace_file_has_one_flow_per_link(both_run: Run, tmp_path: object) -> None:
    cap, _timeline, analysis = both_run.manifest, both_run.timeline, both_run.analysis
    renderer = PerfettoRenderer(trace_format="json")
    renderer.render(both_run)
    counts = renderer.counts
    data = json.loads((cap.run_dir / "trace.json").read_text())
    starts = [e for e in data["traceEvents"] if e["ph"] == "s"]
    ends = [e for e in data["traceEvents"] if e["ph"] == "f"]
    assert len(starts) == len(ends) == counts["flows"] == analysis.links
    names = {e["args"]["name"] for e in data["traceEvents"] if e.get("name") == "process_name"}
    assert any(n.startswith("client") for n in names) and any(n.startswith("server") for n in names)
    threads = {e["args"]["name"] for e in data["traceEvents"] if e.get("name") == "thread_name"}
    assert {"main", "poller"} <= threads
    assert any(t.startswith("event_engine") for t in threads)
    cross = [e for e in starts if e["name"].startswith("network")]
    assert len(cross) == 2 * 30
    assert {e["name"] for e in starts} - {e["name"] for e in cross} <= set(STAGE_ORDER)


def test_summary_is_complete(both_run: Run) -> None:
    _cap, _timeline, analysis = both_run.manifest, both_run.timeline, both_run.analysis
    (path,) = SummaryRenderer().render(both_run)
    summary = json.loads(path.read_text())
    assert summary["format"] == 1
    assert summary["versions"]["grpcio"]
    assert summary["links"] == analysis.links
    assert summary["complete_rpcs"] == summary["rpc_count"] == 60
    assert {"client", "server"} == set(summary["hook_counts"])
    assert all(r["chains"] for r in summary["rpcs"])
    assert [s["name"] for s in summary["stages"]] == list(STAGE_ORDER)


def test_the_reply_link_ends_on_the_client_batch_that_receives_the_status(
        both_streams_run: Run) -> None:
    """For streams the status batch is made early, not last: the arrow from the server's
    status-sending batch goes to that batch's completion, on every method shape (also
    checks that every client RPC found its own server RPC)."""
    analysis = both_streams_run.analysis
    client = [r for r in analysis.rpcs if r.side == "client"]
    assert {r.method.rsplit("/", 1)[-1] for r in client} == {
        "Hello", "HelloServerStream", "HelloClientStream", "HelloBidiStream"}
    for rpc in client:
        assert rpc.peer is not None and rpc.peer.method == rpc.method
        replies = [(a, b) for a, b, label in cross_process_links(rpc)
                   if label == "server -> client"]
        assert len(replies) == 1, rpc.method
        sent, received = replies[0]
        assert isinstance(sent, CoreBatchStarted) and "SEND_STATUS_FROM_SERVER" in sent.ops
        status_batch = [c for c in rpc.chains if c.core_call is not None
                        and "RECV_STATUS_ON_CLIENT" in getattr(c.core_call, "ops", ())]
        assert len(status_batch) == 1 and status_batch[0].completed is received
        assert sent.ts <= received.ts
