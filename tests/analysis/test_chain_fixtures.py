"""The chain builder on event sequences cut from real captures (no live process needed).

The fixtures (tests/fixtures/chains/<case>/) are contiguous slices of real runs'
events.jsonl, cut by scripts/cut_chain_fixtures.py. Every expectation below was read
off the raw events by hand (offsets in ns from the chain's ``loop.create_future``), not
computed with the code under test: which steps a chain has, in which order, which stage
ends at each and how long it took.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from toygrpc.analysis.chains import (
    Chain,
    build_chains,
    first_at_or_after,
    last_at_or_before,
    tag_of,
)
from toygrpc.model.events import (
    CoreApiCall,
    CoreBatchStarted,
    CoreReturnEvent,
    CoreTagCompleted,
    DrainSpan,
    Event,
    FutureCancelled,
    FutureCreated,
    FutureResolved,
    LoopWake,
    TaskResumed,
)
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
    # its time in pieces, one per step that took any (the shared wake's 0 ns drain none)
    start = chain.future.ts
    assert [(begin - start, end - start, stage) for begin, end, stage in chain.pieces()] == [
        (0, 16_102, "python_before_core"), (16_102, 3_319_102, "core_and_network"),
        (3_319_102, 3_442_102, "core_to_poller"), (3_442_102, 3_664_309, "poller_to_wake"),
        (3_664_309, 3_669_426, "drain_to_resolution"),
        (3_669_426, 3_776_535, "resolution_to_resume")]
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


# Synthetic sequences: the smallest event lists that show one matching rule each, with
# times (ns) chosen by hand, one process whose main thread is 1 and poller thread 2.
# The answers follow from the rules the module's docstring states, not from the code.

PID = 1


def waiter(ts: int, future_id: int, batch: int) -> FutureCreated:
    return FutureCreated(ts=ts, pid=PID, tid=PID, future_id=future_id,
                         caller="grpc/aio/_call.py:_invoke", in_batch=batch, task_id=7)


def batch_start(ts: int, tag: str) -> CoreBatchStarted:
    return CoreBatchStarted(ts=ts, pid=PID, tid=PID, call="0x10", tag=tag,
                            ops=("RECV_MESSAGE",))


def chains_of(events: list[Event]) -> list[Chain]:
    return build_chains(Timeline(sorted(events, key=lambda e: e.ts)))


def test_each_waiter_claims_the_next_start_of_its_thread_once() -> None:
    """Starts S0 (1_000) and S3 (8_000) have no waiter of ours (made before the hooks
    recorded, or their waiter lost): they are skipped. W1 (5_400) takes S1, which the
    core stamped 5_000 (its clock truncates to the µs: a start made just after its waiter
    may read up to 999 ns before it); W2 (5_900) takes S2 (6_000), not S1 again although
    S1 is within 1 µs of it; W3 (12_000) takes S4 (12_000)."""
    starts = {name: batch_start(ts, f"0x{ts:x}") for name, ts in
              (("S0", 1_000), ("S1", 5_000), ("S2", 6_000), ("S3", 8_000), ("S4", 12_000))}
    futures = [waiter(5_400, 101, 1), waiter(5_900, 102, 2), waiter(12_000, 103, 3)]
    chains = chains_of([*starts.values(), *futures])
    claimed = {id(start): name for name, start in starts.items()}
    assert [(c.future.future_id, claimed[id(c.core_call)]) for c in chains] == [
        (101, "S1"), (102, "S2"), (103, "S4")]
    # S1's stamp reads 400 ns before its waiter: the chain reaches it no earlier than that
    assert [(s.name, s.event.ts, s.at, s.delta) for s in chains[0].steps()] == [
        ("created", 5_400, 5_400, None), ("core_call", 5_000, 5_400, 0)]


def test_a_future_id_reused_keeps_each_lifes_resolution_and_cancellation_apart() -> None:
    """Future ids are addresses, reused once a future is freed. Id 500: a waiter at 10_000
    that nothing resolved (its resolution not recorded), the id's next waiter at 50_000,
    resolved at 60_000: the first life is not resolved by the second's set_result. Id 600:
    a waiter at 70_000 left unresolved, the id's next waiter at 80_000, cancelled at
    90_000 with no task resumed on it: the cancellation is the second life's."""
    chains = chains_of([
        waiter(10_000, 500, 1), waiter(50_000, 500, 2),
        FutureResolved(ts=60_000, pid=PID, tid=PID, future_id=500, ok=True),
        waiter(70_000, 600, 3), waiter(80_000, 600, 4),
        FutureCancelled(ts=90_000, pid=PID, tid=PID, future_id=600),
    ])
    assert [(c.future.ts, c.resolved.ts if c.resolved else None,
             c.cancelled.ts if c.cancelled else None, c.outcome) for c in chains] == [
        (10_000, None, None, "incomplete"),
        (50_000, 60_000, None, "incomplete"),
        (70_000, None, None, "incomplete"),
        (80_000, None, 90_000, "cancelled"),
    ]
    assert [c.missing for c in chains] == ["core_call", "core_call", "core_call", ""]
    assert [(s.name, s.at) for s in chains[3].steps()] == [("created", 80_000),
                                                          ("cancelled", 90_000)]


def test_a_chain_without_its_core_call_has_no_stages_of_its_own() -> None:
    """A batch waiter at 10_000 whose start the core log does not hold (a capture without
    the core's trace): the future's own id still leads to its set_result at 32_000 in drain
    1 (31_000-36_000), the wake before that drain (30_000) and the task resumed at 40_000.
    Those are its steps, but it has no stage durations: they run from the core call on,
    and the 20 µs from its creation to the wake are not the poller's."""
    (chain,) = chains_of([
        waiter(10_000, 500, 1),
        LoopWake(ts=30_000, pid=PID, tid=PID, fd=8, waited=1_000),
        DrainSpan(ts=31_000, pid=PID, tid=PID, dur=5_000, drain_id=1, resolved=1),
        FutureResolved(ts=32_000, pid=PID, tid=PID, future_id=500, ok=True, in_drain=1),
        TaskResumed(ts=40_000, pid=PID, tid=PID, future_id=500),
    ])
    assert [(s.name, s.at, s.delta) for s in chain.steps()] == [
        ("created", 10_000, None), ("woken", 30_000, 20_000), ("drained", 31_000, 1_000),
        ("resolved", 32_000, 1_000), ("resumed", 40_000, 8_000)]
    assert chain.missing == "core_call" and chain.stages() == {}


def test_a_resolution_not_recorded_leaves_the_chain_at_the_drain_that_was_running() -> None:
    """several_in_one_drain: the second chain's RETURN_EVENT (+87_153 ns) came while the
    drain that resolved both (started at +81_171) was running. Without its set_result
    line, the chain is still followed to that drain (the one running at its return, not
    the next to start), and to the wake before it."""
    timeline, (first, second) = load("several_in_one_drain")
    resolution = second.resolved
    timeline.events = [e for e in timeline.events if e is not resolution]
    (lost,) = [c for c in build_chains(timeline) if c.future.ts == second.future.ts]
    assert lost.resolved is None and lost.missing == "resolved"
    assert lost.drain is not None and first.drain is not None
    assert lost.drain.ts - second.future.ts == 81_171
    assert lost.drain.drain_id == first.drain.drain_id
    assert lost.woken is not None and lost.woken.ts - second.future.ts == -60_049
    # both shared, reached at its return (+87_153): the drain was already running
    assert [(s.name, s.at - second.future.ts, s.stage, s.delta, s.shared)
            for s in lost.steps()] == [
        ("created", 0, "", None, False),
        ("core_call", 4_153, "python_before_core", 4_153, False),
        ("completed", 69_153, "core_and_network", 65_000, False),
        ("returned", 87_153, "core_to_poller", 18_000, False),
        ("woken", 87_153, "poller_to_wake", 0, True),
        ("drained", 87_153, "wake_to_drain", 0, True),
    ]
    assert [s.note for s in lost.steps()][-2:] == [
        "shared: the loop was already awake for an earlier completion; the wait is until "
        "it got to this one",
        "shared: a drain already running picked this completion up"]
    # incomplete, not stopped: its time ends at its last step (no pending stage after it)
    assert [(b - second.future.ts, e - second.future.ts, stage) for b, e, stage in
            lost.pieces()] == [(0, 4_153, "python_before_core"),
                               (4_153, 69_153, "core_and_network"),
                               (69_153, 87_153, "core_to_poller")]


def test_the_tag_of_a_core_call() -> None:
    """A batch start and a request-call carry their tag; an API call carries one only when
    its arguments hold ``tag=`` with an address (grpc prints a null tag as ``(nil)``);
    any other event carries none."""
    notify = CoreApiCall(ts=1, pid=PID, tid=PID, name="grpc_server_shutdown_and_notify",
                         args="server=0x5586757bcea0, cq=0x558675720680, tag=0x7f5232d54678",
                         source="server.cc:1")
    assert tag_of(notify) == "0x7f5232d54678"
    assert tag_of(dataclasses.replace(notify, args="server=0x55, cq=0x56, tag=(nil)")) == ""
    assert tag_of(batch_start(5, "0x7f00")) == "0x7f00"
    assert tag_of(waiter(5, 1, 1)) == ""


def test_the_last_event_at_or_before_a_time() -> None:
    events = [waiter(10, 1, 1), waiter(20, 2, 2)]
    assert last_at_or_before(events, 9) is None
    assert last_at_or_before(events, 10) is events[0]
    assert last_at_or_before(events, 19) is events[0]
    assert last_at_or_before(events, 25) is events[1]
    assert first_at_or_after(events, 11) is events[1] and first_at_or_after(events, 21) is None


def test_a_waiter_cancelled_while_the_core_had_its_batch_stops_there() -> None:
    """A batch waiter (10_000, started 11_000) cancelled at 50_000, while the loop was busy
    after a wake at 44_000 caused by something else; the core then completed the batch not
    ok (55_000), the poller returned it (60_000) and a drain popped it (65_000, resolving
    nothing); the task resumed at 70_000. The chain ends at the cancellation, in the stage
    it was in (the core's): the earlier wake served some other completion, not this one."""
    tag = "0x7f01"
    (chain,) = chains_of([
        waiter(10_000, 500, 1), batch_start(11_000, tag),
        LoopWake(ts=44_000, pid=PID, tid=PID, fd=8, waited=1_000),
        FutureCancelled(ts=50_000, pid=PID, tid=PID, future_id=500),
        CoreTagCompleted(ts=55_000, pid=PID, tid=3, tag=tag, ok=False),
        CoreReturnEvent(ts=60_000, pid=PID, tid=2, tag=tag, ok=False, event_type="OP_COMPLETE"),
        DrainSpan(ts=65_000, pid=PID, tid=PID, dur=2_000, drain_id=1, resolved=0),
        TaskResumed(ts=70_000, pid=PID, tid=PID, future_id=500),
    ])
    assert chain.woken is not None and chain.woken.ts == 44_000  # the wake before the drain
    assert [(s.name, s.at, s.stage, s.delta, s.shared) for s in chain.steps()] == [
        ("created", 10_000, "", None, False),
        ("core_call", 11_000, "python_before_core", 1_000, False),
        ("cancelled", 50_000, "core_and_network", 39_000, False),
        ("resumed", 70_000, "resolution_to_resume", 20_000, False),
    ]
    assert chain.outcome == "cancelled" and chain.missing == ""


@pytest.mark.parametrize(("after", "stage"), [
    ("created", "python_before_core"), ("core_call", "core_and_network"),
    ("completed", "core_to_poller"), ("returned", "poller_to_wake"),
    ("woken", "wake_to_drain"), ("drained", "drain_to_resolution"),
    ("", "drain_to_resolution"),  # no step named: the last stage before a resolution
])
def test_a_cancellation_ends_the_stage_of_the_step_it_came_instead_of(after: str,
                                                                       stage: str) -> None:
    (chain,) = chains_of([waiter(10_000, 500, 1)])
    assert chain.stage_of("cancelled", after) == stage


def test_the_steps_follow_a_change_of_the_chains_events() -> None:
    """``steps()`` keeps what it computed while the chain's events stay the same, and
    computes again when one changes (as while the chains are being built): a step taken
    away is gone, set back it is there again, the list handed out is the caller's own."""
    _, (chain,) = load("shared_wake")
    names = ["created", "core_call", "completed", "returned", "woken", "drained",
             "resolved", "resumed"]
    assert [s.name for s in chain.steps()] == names
    handed = chain.steps()
    handed.clear()
    assert [s.name for s in chain.steps()] == names
    resumed, chain.resumed = chain.resumed, None
    assert [s.name for s in chain.steps()] == names[:-1]
    chain.resumed = resumed
    assert [s.name for s in chain.steps()] == names
    drain, chain.drain = chain.drain, None
    assert [s.name for s in chain.steps()] == [n for n in names if n != "drained"]
    chain.drain = drain
    assert [s.name for s in chain.steps()] == names
