"""The stage breakdown holds for every call shape, on live captures: every chain's steps in
time order, no negative stage, each RPC's stages adding up to its latency exactly, every
RPC with every stage or a named reason (``toygrpc.analysis.invariants``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from toygrpc.analysis.chains import Rpc
from toygrpc.analysis.invariants import violations
from toygrpc.analysis.run import Run
from toygrpc.capture.launch import CaptureOptions
from toygrpc.pipeline import capture_run

STREAM_MESSAGES = 30


def _capture(tmp: Path, **options: object) -> Run:
    return capture_run(CaptureOptions(out=tmp, python_layer=False, **options))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Every method shape, 2 RPCs each, streams of 30 messages, one at a time."""
    return _capture(tmp_path_factory.mktemp("shapes"), mode="client", method="all", rpcs=2,
                    messages=STREAM_MESSAGES)


@pytest.fixture(scope="module")
def crowded_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """3000 unary RPCs, 100 in flight at once: wakes and drains shared all the time."""
    return _capture(tmp_path_factory.mktemp("crowded"), mode="client", rpcs=3000,
                    concurrency=100)


@pytest.fixture(scope="module")
def crowded_shapes_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Every shape at concurrency 100, client and server traced."""
    return _capture(tmp_path_factory.mktemp("crowded-shapes"), mode="both", method="all",
                    rpcs=100, concurrency=100)


def by_method(run: Run, side: str = "client") -> dict[str, list[Rpc]]:
    result: dict[str, list[Rpc]] = {}
    for rpc in run.analysis.rpcs:
        if rpc.side == side:
            result.setdefault(rpc.method.rsplit("/", 1)[-1], []).append(rpc)
    return result


def ops_count(rpc: Rpc, op: str) -> int:
    return sum(op in chain.ops for chain in rpc.chains)


def test_every_shape_holds_the_invariants(shapes_run: Run) -> None:
    assert violations(shapes_run.analysis) == []
    methods = by_method(shapes_run)
    assert {m: len(r) for m, r in methods.items()} == {
        "Hello": 2, "HelloServerStream": 2, "HelloClientStream": 2, "HelloBidiStream": 2}
    for rpc in shapes_run.analysis.rpcs:
        assert rpc.status == "OK" and rpc.complete, rpc.missing
        assert all(chain.call == rpc.call for chain in rpc.chains)  # linked to their RPC


def test_streams_have_one_chain_per_message(shapes_run: Run) -> None:
    methods = by_method(shapes_run)
    for rpc in methods["HelloServerStream"]:
        # one read per reply, and the read that finds the end of the stream
        assert ops_count(rpc, "ReceiveMessageOperation") == STREAM_MESSAGES + 1
    for rpc in methods["HelloClientStream"]:
        assert ops_count(rpc, "SendMessageOperation") == STREAM_MESSAGES
    for rpc in methods["HelloBidiStream"]:
        assert ops_count(rpc, "SendMessageOperation") == STREAM_MESSAGES
        assert ops_count(rpc, "ReceiveMessageOperation") == STREAM_MESSAGES + 1


def test_overlapping_batches_keep_their_own_stages(shapes_run: Run) -> None:
    """A stream's chains overlap in time: each keeps its own stages, so their sum exceeds
    the RPC's latency (the old remainder went negative). The RPC's own stages add up to
    its latency by construction (``Rpc.timeline`` cuts ``[start, end]``): not checked
    here, it could not fail."""
    bidi = by_method(shapes_run)["HelloBidiStream"][0]
    own = sum(sum(chain.stages().values()) for chain in bidi.chains)
    assert own > bidi.latency
    assert min(bidi.stages().values()) >= 0


def test_concurrency_100_holds_the_invariants(crowded_run: Run) -> None:
    analysis = crowded_run.analysis
    assert violations(analysis) == []
    assert len(analysis.rpcs) == 3000
    assert all(rpc.complete for rpc in analysis.rpcs)
    shared = [s for c in analysis.chains for s in c.steps() if s.shared]
    assert shared, "100 calls in flight and no wake served two completions?"
    # each placed when it reached its chain, never before the RETURN_EVENT it served
    for chain in analysis.chains:
        for step in chain.steps():
            if step.shared:
                assert chain.returned is not None and step.at >= chain.returned.ts
                assert step.event.ts < chain.returned.ts
    # every stage of every RPC is there: none missing for some of them
    counts = {s.name: s.count for s in crowded_run.stage_stats}
    assert all(counts[name] >= 3000 for name in counts if name != "awaiting_call")


def test_every_shape_at_concurrency_100_on_both_sides(crowded_shapes_run: Run) -> None:
    analysis = crowded_shapes_run.analysis
    assert violations(analysis) == []
    client = [r for r in analysis.rpcs if r.side == "client"]
    assert len(client) == 400
    for rpc in client:
        assert rpc.peer is not None and rpc.peer.method == rpc.method
        assert rpc.status == rpc.peer.status == "OK"
