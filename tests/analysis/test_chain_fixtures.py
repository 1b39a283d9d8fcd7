"""The chain builder on event sequences cut from real captures (no live process needed).

The fixtures (tests/fixtures/chains/<case>/) are contiguous slices of real runs'
events.jsonl, cut by scripts/cut_chain_fixtures.py. Every expectation below was read
off the raw events by hand (offsets in ns from the chain's ``loop.create_future``), not
computed with the code under test: which steps a chain has, in which order, which stage
ends at each and how long it took.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toygrpc.analysis.chains import Chain, build_chains
from toygrpc.model.timeline import Timeline

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "chains"


def load(case: str) -> tuple[Timeline, list[Chain]]:
    """The case's timeline and its focal chains, in the order case.json lists them."""
    folder = FIXTURES / case
    meta = json.loads((folder / "case.json").read_text())
    timeline = Timeline.load(folder)
    chains = build_chains(timeline)
    by_creation = {(c.future.future_id, c.future.ts): c for c in chains}
    focal = [by_creation[(f, ts)] for f, ts in zip(meta["futures"], meta["created_ts"],
                                                   strict=True)]
    return timeline, focal


def offsets(chain: Chain) -> list[tuple[str, int, str, int | None]]:
    """(step, ns after the waiter's creation, stage that ends there, its duration)."""
    start = chain.future.ts
    return [(s.name, s.event.ts - start, s.stage, s.delta) for s in chain.steps()]


def served_at(chain: Chain) -> dict[str, int]:
    """The shared steps and when each reached the chain (ns after its creation)."""
    return {s.name: s.at - chain.future.ts for s in chain.steps() if s.shared}


def test_shared_wake_is_recorded_as_shared_and_charges_the_wait_to_poller_to_wake() -> None:
    """(Issue 10 changed this: the earlier wake was left out; it is now a shared step,
    placed when the loop got to this completion, with the wait as its share.)"""
    _, (chain,) = load("shared_wake")
    assert chain.shared_wake and chain.complete
    assert chain.woken is not None and chain.returned is not None
    assert chain.woken.ts < chain.returned.ts  # the wake was another completion's
    assert offsets(chain) == [
        ("created", 0, "", None),
        ("core_call", 16_102, "python_before_core", 16_102),
        ("completed", 3_319_102, "core_and_network", 3_303_000),
        ("returned", 3_442_102, "core_to_poller", 123_000),
        ("woken", 3_384_795, "poller_to_wake", 222_207),  # shared: served at the drain
        ("drained", 3_664_309, "wake_to_drain", 0),
        ("resolved", 3_669_426, "drain_to_resolution", 5_117),
        ("resumed", 3_776_535, "resolution_to_resume", 107_109),
    ]
    assert served_at(chain) == {"woken": 3_664_309}
    assert chain.stages() == {"core_and_network": 3_303_000, "core_to_poller": 123_000,
                              "poller_to_wake": 222_207, "wake_to_drain": 0,
                              "drain_to_resolution": 5_117, "resolution_to_resume": 107_109}


def test_one_drain_resolves_several_chains_one_returned_while_it_ran() -> None:
    _, (first, second) = load("several_in_one_drain")
    assert first.drain is not None and first.drain is second.drain
    assert first.drain.resolved >= 2
    assert offsets(first) == [
        ("created", 0, "", None),
        ("core_call", 3_485, "python_before_core", 3_485),
        ("completed", 360_485, "core_and_network", 357_000),
        ("returned", 389_485, "core_to_poller", 29_000),
        ("woken", 252_283, "poller_to_wake", 4_018),  # shared: served at the drain
        ("drained", 393_503, "wake_to_drain", 0),
        ("resolved", 398_911, "drain_to_resolution", 5_408),
        ("resumed", 479_450, "resolution_to_resume", 80_539),
    ]
    assert served_at(first) == {"woken": 393_503}
    # The second was returned after the drain began: its wake (made before the chain was,
    # at -60 µs) and its drain are shared, both reached it at set_result; the wait from
    # RETURN_EVENT to set_result is the poller's handoff. (Issue 10 changed this: the
    # shared steps were left out.)
    assert offsets(second) == [
        ("created", 0, "", None),
        ("core_call", 4_153, "python_before_core", 4_153),
        ("completed", 69_153, "core_and_network", 65_000),
        ("returned", 87_153, "core_to_poller", 18_000),
        ("woken", -60_049, "poller_to_wake", 3_021),
        ("drained", 81_171, "wake_to_drain", 0),
        ("resolved", 90_174, "drain_to_resolution", 0),
        ("resumed", 174_669, "resolution_to_resume", 84_495),
    ]
    assert served_at(second) == {"woken": 90_174, "drained": 90_174}


def test_inline_completion_is_on_the_main_thread_and_still_pays_the_poller_round_trip(
) -> None:
    _, (chain,) = load("inline_completion")
    assert chain.completed is not None and chain.completed.tid == chain.pid  # main thread
    assert chain.returned is not None and chain.returned.tid != chain.pid  # the poller
    assert offsets(chain) == [
        ("created", 0, "", None),
        ("core_call", 7_652, "python_before_core", 7_652),
        ("completed", 1_813_652, "core_and_network", 1_806_000),
        ("returned", 2_216_652, "core_to_poller", 403_000),
        ("woken", 2_465_493, "poller_to_wake", 248_841),
        ("drained", 2_475_668, "wake_to_drain", 10_175),
        ("resolved", 2_481_046, "drain_to_resolution", 5_378),
        ("resumed", 2_550_379, "resolution_to_resume", 69_333),
    ]


def test_a_cancelled_waiter_is_returned_but_never_resolved() -> None:
    """(Issue 10 changed this: the wake and the drain that followed the return are steps
    now; what did not happen is the resolution. This capture predates the cancellation
    hook, so the chain is incomplete at ``resolved`` rather than ``cancelled``.)"""
    timeline, (chain,) = load("cancelled_waiter")
    assert not chain.complete
    assert chain.returned is not None and chain.resolved is None and chain.resumed is None
    assert [name for name, *_ in offsets(chain)] == ["created", "core_call", "completed",
                                                    "returned", "woken", "drained"]
    assert offsets(chain)[3][1] == 651_729
    assert chain.missing == "resolved" and chain.outcome == "incomplete"
    # the poller's drain ran after the return and resolved nothing for this waiter
    drains = [e for e in timeline.events if e.kind == "poller.drain"
              and e.ts > chain.returned.ts]
    assert drains and all(getattr(e, "resolved", 1) == 0 for e in drains)


@pytest.mark.parametrize("case", ["shared_wake", "several_in_one_drain", "inline_completion",
                                  "cancelled_waiter"])
def test_links_never_go_back_in_time(case: str) -> None:
    _, chains = load(case)
    for chain in chains:
        for source, target in chain.links():
            assert source.ts <= target.ts
