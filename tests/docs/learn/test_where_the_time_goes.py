"""docs/learn/07-where-the-time-goes.md: the structure of the time budget, never its
numbers (they depend on the machine; the page quotes one run with its command)."""

from __future__ import annotations

from pathlib import Path

import pytest

from toygrpc.analysis.budget import (
    GROUPS,
    HOOK_GROUPS,
    budget,
    hook_budget,
    observer_shares,
    rpc_budget,
    rpc_hook_budget,
)
from toygrpc.analysis.chains import HOOK_SPANS, STAGE_ORDER
from toygrpc.analysis.run import Run
from toygrpc.bench.overhead import MODES, ModeResult, measure
from toygrpc.model.events import CoreBatchStarted, CoreTagCompleted

DOC = Path(__file__).resolve().parents[3] / "docs" / "learn" / "07-where-the-time-goes.md"


def test_the_page_names_the_tests() -> None:
    text = DOC.read_text()
    for name in [n for n in globals() if n.startswith("test_claim_")]:
        assert f"tests/docs/learn/test_where_the_time_goes.py::{name}" in text, name


@pytest.fixture(scope="module")
def bench_results() -> list[ModeResult]:
    """The bench's workload in every capture mode, untraced included (tiny: structure)."""
    return measure(calls=20, concurrency=1, rounds=1)


def test_claim_1_the_groups_tile_every_call(client_run: Run, both_run: Run) -> None:
    """Python, core and network, handoff: every client stage in exactly one group, and
    the groups add up to each complete RPC's latency, sequential (client_run) and with
    calls in flight together (both_run, concurrency 3)."""
    members = [s for group in GROUPS.values() for s in group]
    assert sorted(members) == sorted(STAGE_ORDER[:-1]) and len(set(members)) == len(members)
    for run in (client_run, both_run):
        rpcs = [r for r in run.analysis.rpcs if r.side == "client" and r.complete]
        assert len(rpcs) == len([r for r in run.analysis.rpcs if r.side == "client"])
        for rpc in rpcs:
            parts = rpc_budget(rpc)
            assert sum(parts.values()) == rpc.latency and min(parts.values()) >= 0
            assert parts["core_and_network"] > 0 and parts["handoff"] > 0
        shares = budget(run.analysis)
        assert [s.name for s in shares] == list(GROUPS)
        assert sum(s.share for s in shares) == pytest.approx(1.0)


def test_claim_2_hooks_alone_split_it_coarser(hooks_only_run: Run, client_run: Run) -> None:
    """With hooks alone the core is not observed at all (no core events); the hook spans
    still tile each RPC, the same way in every mode, so the lightest mode's figure can
    stand beside a heavier mode's stages."""
    assert not any(isinstance(e, CoreBatchStarted | CoreTagCompleted)
                   for e in hooks_only_run.timeline.events)
    assert hooks_only_run.manifest.capture_mode == "hooks"
    assert sorted(s for g in HOOK_GROUPS.values() for s in g) == sorted(
        s for s in HOOK_SPANS if s != "latency")
    for run in (hooks_only_run, client_run):
        rpcs = [r for r in run.analysis.rpcs if r.side == "client"]
        assert rpcs
        for rpc in rpcs:
            parts = rpc_hook_budget(rpc)
            assert parts is not None and sum(parts.values()) == rpc.latency
        assert [s.name for s in hook_budget(run.analysis)] == list(HOOK_GROUPS)


def test_claim_3_the_observers_share_is_separate(bench_results: list[ModeResult]) -> None:
    """The observers' cost is in no stage: it comes from the bench's workload run
    untraced and under each capture mode; each observer adds output of its own, and its
    share is the latency it adds over the mode without it."""
    by_mode = {r.mode: r for r in bench_results}
    assert list(by_mode) == list(MODES)
    assert by_mode["untraced"].bytes_per_rpc == 0
    assert 0 < by_mode["hooks"].bytes_per_rpc < by_mode["hooks+core"].bytes_per_rpc \
        < by_mode["full"].bytes_per_rpc
    p50 = {mode: r.p50_us for mode, r in by_mode.items()}
    shares = observer_shares(p50)
    assert [name for name, _ in shares] == ["hooks", "core trace", "Python layer (viztracer)"]
    assert p50["untraced"] + sum(v for _, v in shares) == pytest.approx(p50["full"])
