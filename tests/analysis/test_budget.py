"""toygrpc.analysis.budget against values read off committed real captures by hand.

- With the core trace: tests/fixtures/runs/both-3, whose three client calls were read step
  by step off ``events.jsonl`` in tests/render/oracle.py (each line cited there and
  checked by tests/render/test_oracle.py); the groups below add those hand values up.
- Hooks alone: tests/fixtures/hooks-only/client-3 (3 unary calls of the traced client,
  captured with ``capture_run(CaptureOptions(mode="client", rpcs=3, python_layer=False,
  tracers=()))``: no core log, so no RPC is complete). Its timestamps are below, each
  with its line.
"""

from __future__ import annotations

from statistics import median

from tests.analysis.recorded import HOOKS_ONLY_CLIENT, raw
from tests.render.oracle import CLIENT_CALLS, ClientCall
from toygrpc.analysis.budget import (
    GroupShare,
    budget,
    hook_budget,
    observer_shares,
    rpc_budget,
    rpc_hook_budget,
)
from toygrpc.analysis.chains import Analysis
from toygrpc.analysis.run import Run

T = 1795632165000000000  # every timestamp of hooks-only/client-3 below is T + these ns
# Each call: (line, ns) of rpc.started, future.created, future.resolved, task.resumed,
# rpc.finished.
HOOK_CALLS = (
    ((5, 448172085), (7, 448409607), (10, 454265684), (11, 454291061), (12, 454369898)),
    ((13, 454561131), (15, 454696462), (18, 455398983), (19, 455412152), (20, 455442197)),
    ((21, 455505801), (23, 455621743), (26, 456116105), (27, 456126551), (28, 456152489)),
)
KINDS = ("rpc.started", "future.created", "future.resolved", "task.resumed", "rpc.finished")
# What hooks alone see of each call, worked out by hand from the times above:
# python = (created - started) + (finished - resumed), core_network_and_poller =
# resolved - created, resume = resumed - resolved.
HOOK_BUDGETS = (
    {"python": 237522 + 78837, "core_network_and_poller": 5856077, "resume": 25377},
    {"python": 135331 + 30045, "core_network_and_poller": 702521, "resume": 13169},
    {"python": 115942 + 25938, "core_network_and_poller": 494362, "resume": 10446},
)
HOOK_LATENCIES = (6197813, 881066, 646688)  # finished - started


def _groups(call: ClientCall) -> dict[str, int]:
    """The oracle's hand-read stages of one call, put in the three groups."""
    stages = call.rpc_stages()
    return {"python": stages["python_before_core"] + stages["python_after_core"],
            "core_and_network": stages["core_and_network"],
            "handoff": stages["core_to_poller"] + stages["poller_to_wake"]
            + stages["wake_to_drain"] + stages["drain_to_resolution"]
            + stages["resolution_to_resume"]}


def test_the_hand_read_times_of_the_hooks_only_run() -> None:
    for call, latency, groups in zip(HOOK_CALLS, HOOK_LATENCIES, HOOK_BUDGETS, strict=True):
        for (line, ns), kind in zip(call, KINDS, strict=True):
            assert (raw(HOOKS_ONLY_CLIENT, line)["kind"], raw(HOOKS_ONLY_CLIENT, line)["ts"]) == (
                kind, T + ns), line
        (_, started), (_, created), (_, resolved), (_, resumed), (_, finished) = call
        assert finished - started == latency
        assert groups == {"python": created - started + finished - resumed,
                          "core_network_and_poller": resolved - created,
                          "resume": resumed - resolved}
        assert sum(groups.values()) == latency
    assert raw(HOOKS_ONLY_CLIENT, 1)["processes"] == {"18484": "client"}


def test_each_client_rpcs_groups(both_3: Run) -> None:
    client = [r for r in both_3.analysis.rpcs if r.side == "client"]
    assert [rpc_budget(r) for r in client] == [_groups(call) for call in CLIENT_CALLS]
    for rpc, call in zip(client, CLIENT_CALLS, strict=True):
        assert sum(rpc_budget(rpc).values()) == call.latency


def test_a_server_rpc_in_groups(both_3: Run) -> None:
    """A server RPC's stages are mostly awaiting_call and its chains' stages: the groups
    hold what they name; awaiting_call (the server's idle) is in none."""
    server = [r for r in both_3.analysis.rpcs if r.side == "server"]
    for rpc in server:
        stages = rpc.stages()
        assert rpc_budget(rpc)["core_and_network"] == stages["core_and_network"]
        assert rpc_budget(rpc)["python"] == stages["python_before_core"] \
            + stages["python_after_core"]
        assert rpc_hook_budget(rpc) is None  # hook spans are a client's


def test_the_runs_budget(both_3: Run) -> None:
    per_call = [_groups(call) for call in CLIENT_CALLS]
    total = sum(call.latency for call in CLIENT_CALLS)
    assert budget(both_3.analysis) == [
        GroupShare(name, 3, int(median(g[name] for g in per_call)),
                   sum(g[name] for g in per_call) / total)
        for name in ("python", "core_and_network", "handoff")]


def test_each_client_rpc_with_hooks_alone(hooks_only: Run) -> None:
    assert [rpc_hook_budget(r) for r in hooks_only.analysis.rpcs] == list(HOOK_BUDGETS)


def test_the_runs_hook_budget(hooks_only: Run) -> None:
    total = sum(HOOK_LATENCIES)
    assert total == 7725567
    assert hook_budget(hooks_only.analysis) == [
        GroupShare("python", 3, 135331 + 30045, (316359 + 165376 + 141880) / total),
        GroupShare("core_network_and_poller", 3, 702521, (5856077 + 702521 + 494362) / total),
        GroupShare("resume", 3, 13169, (25377 + 13169 + 10446) / total),
    ]


def test_without_the_core_trace_no_rpc_is_complete(hooks_only: Run) -> None:
    """The core's steps are not seen: no complete client RPC, an empty core budget."""
    assert budget(hooks_only.analysis) == [
        GroupShare(name, 0, 0, 0.0) for name in ("python", "core_and_network", "handoff")]


def test_an_even_number_of_rpcs_takes_the_mean_of_the_middle_two(hooks_only: Run) -> None:
    """Two calls (the first two): the median is the mean of both, truncated to ns."""
    two = Analysis(hooks_only.analysis.chains, hooks_only.analysis.rpcs[:2])
    assert [(s.name, s.rpcs, s.p50_ns) for s in hook_budget(two)] == [
        ("python", 2, (316359 + 165376) // 2),
        ("core_network_and_poller", 2, (5856077 + 702521) // 2),
        ("resume", 2, (25377 + 13169) // 2)]


def test_the_hook_budget_of_a_run_with_both_sides(both_3: Run) -> None:
    """The server's RPCs have no hook spans: only the 3 client calls count; with hooks
    alone what the core does is inside the waiter's life."""
    shares = hook_budget(both_3.analysis)
    assert [s.rpcs for s in shares] == [3, 3, 3]
    waiter = [call.ts("resolved") - call.ts("created") for call in CLIENT_CALLS]
    assert shares[1] == GroupShare("core_network_and_poller", 3, int(median(waiter)),
                                   sum(waiter) / sum(c.latency for c in CLIENT_CALLS))


def test_no_rpcs_no_budget() -> None:
    empty = Analysis([], [])
    assert budget(empty) == [GroupShare(name, 0, 0, 0.0)
                             for name in ("python", "core_and_network", "handoff")]
    assert hook_budget(empty) == [GroupShare(name, 0, 0, 0.0)
                                  for name in ("python", "core_network_and_poller", "resume")]


def test_each_observer_against_the_mode_without_it() -> None:
    latency = {"untraced": 100.0, "hooks": 130.0, "hooks+core": 180.0, "full": 400.0}
    shares = observer_shares(latency)
    assert shares == [("hooks", 30.0), ("core trace", 50.0), ("Python layer (viztracer)", 220.0)]
    assert sum(s for _, s in shares) == latency["full"] - latency["untraced"]


def test_an_observer_whose_modes_were_not_measured_is_left_out() -> None:
    assert observer_shares({"hooks": 130.0, "hooks+core": 180.0}) == [("core trace", 50.0)]
    assert observer_shares({"untraced": 100.0, "hooks+core": 180.0, "full": 400.0}) == [
        ("Python layer (viztracer)", 220.0)]
    assert observer_shares({"untraced": 100.0, "full": 400.0}) == []
