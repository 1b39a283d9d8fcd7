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


def test_a_cancelled_waiters_chain_ends_at_its_cancellation() -> None:
    """The client's RECV_INITIAL_METADATA waiter of ``cancel-both`` (future
    140554356534592, created at ...735524444653), read off the raw events: batch start
    +11_347 ns, cq_end_op not ok +89_785_347 (the call was cancelled), RETURN_EVENT
    +90_076_347, future.cancelled +90_483_620, task resumed +90_606_282; the wake
    (+90_592_932) and drain 6 (+90_661_534) came after the cancellation and resolved
    nothing for it. The cancellation ends the stage the chain was in: the wait for the
    wake (poller_to_wake)."""
    analysis = analysed("cancel-both")
    (chain,) = [c for c in analysis.chains if c.outcome == "cancelled"]
    assert (chain.future.future_id, chain.future.ts) == (140554356534592,
                                                         1795614735524444653)
    assert [(s.name, s.at - chain.future.ts, s.stage, s.delta, s.note)
            for s in chain.steps()] == [
        ("created", 0, "", None, ""),
        ("core_call", 11_347, "python_before_core", 11_347, ""),
        ("completed", 89_785_347, "core_and_network", 89_774_000, ""),
        ("returned", 90_076_347, "core_to_poller", 291_000, ""),
        ("cancelled", 90_483_620, "poller_to_wake", 407_273,
         "the waiter was cancelled: nothing resolves it"),
        ("resumed", 90_606_282, "resolution_to_resume", 122_662, ""),
    ]
    assert chain.end_reason == "cancelled: the waiter was cancelled before its completion " \
        "resolved it"
    assert chain.missing == "" and chain.complete is False and chain.ok is False
    assert chain.completed is not None and chain.completed.ok is False


def test_request_calls_wait_for_a_client_and_say_so() -> None:
    """A request-call's completion is a client's call arriving: awaiting_call, not work."""
    analysis = analysed("both-3")
    served = [c for c in analysis.chains if c.kind == "request_call" and c.outcome == "ok"]
    assert len(served) == 3
    for chain in served:
        (completed,) = [s for s in chain.steps() if s.name == "completed"]
        assert completed.stage == "awaiting_call" and completed.note == "a client's call arrived"
    (notify,) = [c for c in analysis.chains if c.kind == "notify"]
    assert notify.core_call is not None
    assert notify.core_call.name == "grpc_server_shutdown_and_notify"  # type: ignore[attr-defined]
