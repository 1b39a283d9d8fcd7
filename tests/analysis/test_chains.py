"""Causal chains and stages on real captures (fixtures from tests/capture/conftest.py)."""

from __future__ import annotations

import json

from toygrpc.analysis.chains import STAGE_ORDER
from toygrpc.analysis.run import Run
from toygrpc.analysis.stages import stage_statistics
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


def test_stage_durations_add_up_to_each_rpc_latency(client_run: Run) -> None:
    _, timeline, analysis = client_run.manifest, client_run.timeline, client_run.analysis
    bound = timeline.clock["client"]["core"]["error_bound_ns"]
    for rpc in analysis.rpcs:
        stages = rpc.stages()
        assert set(stages) == set(STAGE_ORDER) - {"awaiting_call"}
        assert abs(sum(stages.values()) - rpc.latency) <= bound
        # each stage is a duration: negative only within the clock error
        assert min(stages.values()) >= -bound


def test_stage_statistics_cover_every_stage(client_run: Run) -> None:
    _, _, analysis = client_run.manifest, client_run.timeline, client_run.analysis
    stats = {s.name: s for s in stage_statistics(analysis)}
    assert list(stats) == list(STAGE_ORDER)
    assert stats["awaiting_call"].count == 0  # no request-calls in a client-only capture
    for s in stats.values():
        if s.name == "awaiting_call":
            continue
        assert s.count >= 100
        assert s.p50 <= s.p90 <= s.p99 <= s.max


def test_trace_file_has_one_flow_per_link(both_run: Run, tmp_path: object) -> None:
    cap, _timeline, analysis = both_run.manifest, both_run.timeline, both_run.analysis
    renderer = PerfettoRenderer()
    renderer.render(both_run)
    counts = renderer.counts
    data = json.loads((cap.run_dir / "trace.json").read_text())
    starts = [e for e in data["traceEvents"] if e["ph"] == "s"]
    ends = [e for e in data["traceEvents"] if e["ph"] == "f"]
    assert len(starts) == len(ends) == counts["flows"] == analysis.links
    names = {e["args"]["name"] for e in data["traceEvents"] if e["name"] == "process_name"}
    assert any(n.startswith("client") for n in names) and any(n.startswith("server") for n in names)
    threads = {e["args"]["name"] for e in data["traceEvents"] if e["name"] == "thread_name"}
    assert {"main", "poller"} <= threads
    assert any(t.startswith("event_engine") for t in threads)
    cross = [e for e in starts if e["name"] != "handoff"]
    assert len(cross) == 2 * 30


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
