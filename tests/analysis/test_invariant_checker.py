"""The invariant checker itself: each check must speak when its invariant is broken.

The analysis cannot produce these faults (that is what the invariants say), so the
steps and stages of a real RPC (``tests/fixtures/runs/shapes-both``) are replaced one
fault at a time, and the checker's lines are compared word for word.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from toygrpc.analysis import invariants
from toygrpc.analysis.chains import Analysis, Chain, Rpc, Step, analyze
from toygrpc.analysis.invariants import chain_violations, rpc_violations, violations
from toygrpc.model.timeline import Timeline

RUN = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "shapes-both"


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return analyze(Timeline.load(RUN))


def unary(analysis: Analysis) -> Rpc:
    return next(r for r in analysis.rpcs if r.side == "client" and r.method.endswith("/Hello"))


def test_a_sound_run_has_no_violations(analysis: Analysis) -> None:
    assert violations(analysis) == []


def broken(chain: Chain, index: int, **changes: object) -> list[Step]:
    steps = chain.steps()
    steps[index] = dataclasses.replace(steps[index], **changes)  # type: ignore[arg-type]  # test data
    return steps


@pytest.mark.parametrize(("index", "changes", "said"), [
    (2, {"at": 0, "delta": 0}, ["w: completed at 0 before core_call",
                                "w: completed's share does not span its step",
                                "w: returned's share does not span its step"]),
    (2, {"delta": -5}, ["w: completed has share -5",
                        "w: completed's share does not span its step"]),
    (3, {"delta": None}, ["w: returned has share None",
                          "w: returned's share does not span its step"]),
    (3, {"delta": 1}, ["w: returned's share does not span its step"]),
    (5, {"shared": True}, []),  # a drain may be shared
    (6, {"shared": True}, ["w: resolved marked shared"]),
])
def test_each_broken_step_is_named(analysis: Analysis, monkeypatch: pytest.MonkeyPatch,
                                   index: int, changes: dict[str, object],
                                   said: list[str]) -> None:
    chain = unary(analysis).chains[0]
    steps = broken(chain, index, **changes)
    monkeypatch.setattr(Chain, "steps", lambda self: steps)
    monkeypatch.setattr(Chain, "links", lambda self: [])
    assert chain_violations(chain, "w") == said


def test_an_arrow_back_in_time_beyond_the_core_stamp(analysis: Analysis,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    chain = unary(analysis).chains[0]
    first, second = chain.future, chain.core_call
    assert second is not None
    late = dataclasses.replace(first, ts=second.ts + invariants.CORE_STAMP_NS)
    monkeypatch.setattr(Chain, "links", lambda self: [(late, second)])
    assert chain_violations(chain, "w") == []  # 1 µs back: the core's truncation
    later = dataclasses.replace(first, ts=second.ts + invariants.CORE_STAMP_NS + 1)
    monkeypatch.setattr(Chain, "links", lambda self: [(later, second)])
    assert chain_violations(chain, "w") == [
        "w: an arrow goes back in time (loop.create_future -> grpc_call_start_batch)"]


def test_an_incomplete_chain_without_a_reason(analysis: Analysis,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    chain = dataclasses.replace(unary(analysis).chains[0], resumed=None)
    assert chain_violations(chain, "w") == []  # incomplete, with a reason: no resumed
    monkeypatch.setattr(Chain, "end_reason", property(lambda self: ""))
    assert chain_violations(chain, "w") == ["w: neither complete nor a named reason"]


def test_an_rpcs_stages_must_tile_its_latency(analysis: Analysis,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    rpc = unary(analysis)
    stages = rpc.stages()
    monkeypatch.setattr(Rpc, "stages", lambda self: {**stages, "core_to_poller": -5})
    assert rpc_violations(rpc, "r") == [
        f"r: stages add up to {rpc.latency - 105_005}, latency {rpc.latency}",
        "r: negative stages {'core_to_poller': -5}"]
    monkeypatch.setattr(Rpc, "stages", lambda self: {"python_before_core": rpc.latency})
    assert rpc_violations(rpc, "r") == ["r: stages ['python_before_core']"]


@pytest.mark.parametrize("fault", ["late start", "early end", "gap"])
def test_an_rpcs_timeline_must_tile_start_to_end(analysis: Analysis,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 fault: str) -> None:
    rpc = unary(analysis)
    pieces, stages = rpc.timeline(), rpc.stages()
    assert len(pieces) == 8
    monkeypatch.setattr(Rpc, "stages", lambda self: stages)
    if fault == "late start":
        pieces[0] = (pieces[0][0] + 1, pieces[0][1], pieces[0][2])
    elif fault == "early end":
        pieces[-1] = (pieces[-1][0], pieces[-1][1] - 1, pieces[-1][2])
    else:
        pieces[3] = (pieces[3][0] + 1, pieces[3][1], pieces[3][2])
    monkeypatch.setattr(Rpc, "timeline", lambda self: pieces)
    assert rpc_violations(rpc, "r") == ["r: its timeline does not tile [start, end]"]


def test_an_rpc_needs_a_status_and_a_reason(analysis: Analysis,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    rpc = dataclasses.replace(unary(analysis), status="")
    assert rpc_violations(rpc, "r") == ["r: no status"]
    empty = dataclasses.replace(unary(analysis), chains=[])
    assert rpc_violations(empty, "r") == []  # no chains, and says so
    monkeypatch.setattr(Rpc, "end_reason", property(lambda self: ""))
    assert rpc_violations(empty, "r") == ["r: incomplete (no chains) without a named reason"]


def test_the_run_wide_checks(analysis: Analysis, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chains outside every RPC are checked too, cross-process arrows, negative samples."""
    rpc = unary(analysis)
    chain = rpc.chains[0]
    outside = Analysis([chain], [])
    steps = broken(chain, 6, shared=True)
    monkeypatch.setattr(Chain, "steps", lambda self: steps)
    assert violations(outside) == ["chain 1 (outside RPCs): resolved marked shared"]
    monkeypatch.undo()
    first, second = chain.future, chain.core_call
    assert second is not None
    late = dataclasses.replace(first, ts=second.ts + 1001)
    monkeypatch.setattr(Analysis, "all_links", lambda self: [(late, second, "client -> server")])
    assert violations(Analysis([], [])) == [
        "a client -> server arrow goes back in time (loop.create_future -> "
        "grpc_call_start_batch)"]
    monkeypatch.undo()
    monkeypatch.setattr(invariants, "stage_samples",
                        lambda analysis: {"core_to_poller": [3, -2, -7], "wake_to_drain": []})
    assert violations(Analysis([], [])) == ["stage core_to_poller: a negative sample -7"]
    monkeypatch.undo()
    numbered = violations(Analysis(analysis.chains, [analysis.rpcs[0],
                                                     dataclasses.replace(rpc, status="")]))
    assert numbered == ["RPC 2 (client /HelloService/Hello): no status"]


def test_a_chain_of_an_rpc_is_checked_once_under_its_rpc(
        analysis: Analysis, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken chain that belongs to an RPC is named by its RPC, and not again as a chain
    outside every RPC."""
    rpc = unary(analysis)
    chain = rpc.chains[0]
    steps = broken(chain, 6, shared=True)
    monkeypatch.setattr(Chain, "steps", lambda self: steps)
    assert violations(Analysis([chain], [rpc])) == [
        "RPC 1 (client /HelloService/Hello) chain 1: resolved marked shared"]


def test_a_cross_process_arrow_may_go_back_by_the_core_stamp_only(
        analysis: Analysis, monkeypatch: pytest.MonkeyPatch) -> None:
    """An arrow whose head is exactly 1 µs (the core's truncation) before its tail holds;
    1 ns more does not."""
    chain = unary(analysis).chains[0]
    first, second = chain.future, chain.core_call
    assert second is not None
    for back, said in ((1000, []), (1001, [
            "a client -> server arrow goes back in time (loop.create_future -> "
            "grpc_call_start_batch)"])):
        late = dataclasses.replace(first, ts=second.ts + back)
        monkeypatch.setattr(Analysis, "all_links",
                            lambda self, late=late: [(late, second, "client -> server")])
        assert violations(Analysis([], [])) == said
