"""The invariants on recorded real captures (tests/fixtures/runs), re-analysed in place.

``shapes-both``: ``toygrpc trace both --method all --rpcs 1 --no-python``;
``cancel-both``: ``toygrpc trace both --scenario client-cancel --method bidi --rpcs 1
--no-python``; ``both-3``: see tests/render/conftest.py. Only ``capture.json`` and
``events.jsonl`` are kept of the first two (the merged timeline the analysis reads).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from toygrpc.analysis.chains import Analysis, analyze
from toygrpc.analysis.invariants import violations
from toygrpc.model.timeline import Timeline

RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "runs"


def analysed(name: str) -> Analysis:
    return analyze(Timeline.load(RUNS / name))


@pytest.mark.parametrize("name", ["both-3", "shapes-both", "cancel-both"])
def test_recorded_runs_hold_the_invariants(name: str) -> None:
    analysis = analysed(name)
    assert analysis.rpcs
    assert violations(analysis) == []


def test_recorded_shapes_are_linked_and_ok() -> None:
    analysis = analysed("shapes-both")
    methods = sorted((r.side, r.method.rsplit("/", 1)[-1]) for r in analysis.rpcs)
    assert len(methods) == 8 and len({m for _, m in methods}) == 4
    for rpc in analysis.rpcs:
        assert rpc.status == "OK" and rpc.complete and rpc.peer is not None


def test_recorded_cancellation_ends_where_it_ends() -> None:
    analysis = analysed("cancel-both")
    client = next(r for r in analysis.rpcs if r.side == "client")
    assert client.status == "CANCELLED" and client.peer is not None
    assert client.peer.status == "CANCELLED"
    cancelled = [c for c in client.chains if c.outcome == "cancelled"]
    assert cancelled and all(c.missing == "" and c.steps()[-1].name in ("cancelled", "resumed")
                             for c in cancelled)
    assert client.complete and "cancelled" in client.end_reason


def test_failed_resolutions_lead_to_the_drain_and_wake_that_served_them() -> None:
    """Kills "set_exception losing its drain id" on the analysis side: the server's
    shutdown failed its 9 posted request-calls with set_exception (``ok: false``,
    ``_RequestCallError``), all inside drain 13 (read off ``both-3/events.jsonl``:
    the drain at ...897182992826, the wake before it at ...897182977928). Each failed
    chain reaches that drain and wake through the resolution's drain id."""
    analysis = analysed("both-3")
    failed = [c for c in analysis.chains if c.outcome == "failed"]
    assert len(failed) == 9
    for chain in failed:
        assert chain.kind == "request_call"
        assert chain.resolved is not None and chain.resolved.error == "_RequestCallError"
        assert chain.drain is not None and chain.drain.drain_id == 13
        assert chain.drain.ts == 1795573897182992826
        assert chain.woken is not None and chain.woken.ts == 1795573897182977928
        assert chain.end_reason == "failed: the completion was not ok (_RequestCallError)"
        assert [s.name for s in chain.steps()][-3:] == ["drained", "resolved", "resumed"]
