"""docs/learn/04-event-engine-threads.md, claim by claim, on the session's
``threads_run`` (every thread of the traced client sampled from /proc every 5 ms)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from toygrpc.analysis.run import Run
from toygrpc.analysis.threads import named, samples_during_rpcs
from toygrpc.model.events import CoreApiCall, RpcFinished, ThreadSample

DOC = Path(__file__).resolve().parents[3] / "docs" / "learn" / "04-event-engine-threads.md"
CORE_THREADS = ("event_engine", "lifeguard", "grpc_global_tim")


def reserve_threads() -> int:
    """The pool's reserve as the core computes it: the online cores, clamped to 4..16."""
    return min(max(os.sysconf("SC_NPROCESSORS_ONLN"), 4), 16)


def test_the_page_names_the_tests() -> None:
    text = DOC.read_text()
    for name in [n for n in globals() if n.startswith("test_claim_")]:
        assert f"tests/docs/learn/test_event_engine_threads.py::{name}" in text, name


def test_the_capture_says_it_sampled(threads_run: Run) -> None:
    assert threads_run.manifest.options["sample_threads_ms"] == 5
    assert threads_run.timeline.hooks["client"]["attached"]["threads.sample"].endswith("5 ms")


def samples_once_connected(run: Run) -> list[ThreadSample]:
    """The samples during the RPCs from the first one's end on: the pool starts its threads
    as the first call connects (a sample 0.1 ms after the first call started can hold
    none yet), not at ``grpc_init``."""
    first_end = min(e.ts for e in run.timeline.of(RpcFinished))
    return [s for s in samples_during_rpcs(run) if s.ts >= first_end]


def test_claim_1_no_core_thread_before_grpc_init(threads_run: Run) -> None:
    timeline = threads_run.timeline
    first_init = min(e.ts for e in timeline.of(CoreApiCall) if e.name == "grpc_init")
    before = [s for s in timeline.of(ThreadSample) if s.ts < first_init]
    assert before, "no sample before the first grpc_init"
    for sample in before:
        assert not any(named(sample, name) for name in CORE_THREADS)
    for sample in samples_once_connected(threads_run):
        assert all(named(sample, name) for name in CORE_THREADS)


def test_claim_2_the_pool_holds_its_reserve(threads_run: Run) -> None:
    samples = samples_once_connected(threads_run)
    sizes = Counter(len(named(s, "event_engine")) for s in samples)
    assert min(sizes) >= reserve_threads()
    assert sizes.most_common(1)[0][0] == reserve_threads(), sizes
    for sample in samples:
        assert len(named(sample, "lifeguard")) == len(named(sample, "grpc_global_tim")) == 1


def test_claim_3_idle_pool_threads_wait_on_a_futex(threads_run: Run) -> None:
    samples = samples_during_rpcs(threads_run)
    states = Counter(info.get("syscall") for s in samples for info in named(s, "event_engine"))
    assert states["futex"] > 0 and states["epoll_wait"] > 0, states
    for name in ("lifeguard", "grpc_global_tim"):
        assert any(info.get("syscall") == "futex" for s in samples for info in named(s, name))
