"""docs/learn/01-poller-idle.md, claim by claim, on live captures: the session's
``threads_run`` (every thread sampled from /proc while 100 RPCs ran) and, for the core's
kick, the Hello client run under strace."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import require
from tests.docs.learn.conftest import THREADS_RUN_RPCS
from toygrpc.analysis.run import Run
from toygrpc.analysis.threads import (
    kicks,
    member_kinds,
    named,
    poller_tid,
    samples_during_rpcs,
    strace_calls,
    waiting_in_epoll,
)
from toygrpc.model.events import CoreReturnEvent, DrainSpan, LoopWake, PollerSocket

DOC = Path(__file__).resolve().parents[3] / "docs" / "learn" / "01-poller-idle.md"
STRACE_RPCS = 200
STRACE_CONCURRENCY = 8


def test_the_page_names_the_tests() -> None:
    text = DOC.read_text()
    for name in [n for n in globals() if n.startswith("test_claim_")]:
        assert f"tests/docs/learn/test_poller_idle.py::{name}" in text, name


def test_claim_1_idle_poller_waits_forever_on_one_eventfd(threads_run: Run) -> None:
    poller = str(poller_tid(threads_run))
    seen = [s.threads[poller] for s in samples_during_rpcs(threads_run)
            if poller in s.threads]
    waiting = [info for info in seen if waiting_in_epoll(info)]
    assert waiting, f"the poller was never seen in an epoll wait: {seen[:3]}"
    assert {info["timeout_ms"] for info in waiting} == {-1}  # no deadline: infinite
    assert len({info["fd"] for info in waiting}) == 1  # always the same poll set
    assert all(member_kinds(info) == ["eventfd"] for info in waiting)


def test_claim_2_the_gil_is_free_while_it_waits(threads_run: Run) -> None:
    poller = poller_tid(threads_run)
    samples = [s for s in samples_during_rpcs(threads_run)
               if waiting_in_epoll(s.threads.get(str(poller), {}))]
    # each sample is Python code of another thread, run while the poller waited
    assert samples and all(s.tid != poller for s in samples)
    assert all(s.threads[str(s.tid)]["syscall"] != "epoll_wait" for s in samples)


def test_claim_3_the_sockets_are_in_other_sets(threads_run: Run) -> None:
    poller = str(poller_tid(threads_run))
    (socket_pair,) = threads_run.timeline.of(PollerSocket)
    samples = samples_during_rpcs(threads_run)
    core_sets = {s.threads[poller]["fd"] for s in samples
                 if waiting_in_epoll(s.threads.get(poller, {}))}
    main = str(socket_pair.pid)
    loop_waits = [s.threads[main] for s in samples if waiting_in_epoll(s.threads[main])]
    assert loop_waits, "the main thread was never seen in its selector"
    for info in loop_waits:  # asyncio's selector: the poller's read socket is in it
        assert info["fd"] not in core_sets
        assert socket_pair.read_fd in {m["fd"] for m in info["watches"]}
    engine_waits = [info for s in samples for info in named(s, "event_engine")
                    if waiting_in_epoll(info)]
    assert engine_waits, "no event_engine thread was seen in an epoll wait"
    for info in engine_waits:  # the EventEngine poller: its own wake-up fd, a 24 h timeout
        assert info["fd"] not in core_sets and "eventfd" in member_kinds(info)
        assert info["timeout_ms"] == 24 * 3600 * 1000
    # ...and the TCP socket, once connected
    assert any("socket" in member_kinds(info) for info in engine_waits)


def test_claim_4_one_wake_and_one_drain_per_event(threads_run: Run) -> None:
    timeline = threads_run.timeline
    returned = [e for e in timeline.of(CoreReturnEvent) if e.event_type == "OP_COMPLETE"]
    drains = list(timeline.of(DrainSpan))
    assert len(returned) == len(list(timeline.of(LoopWake))) == len(drains) >= THREADS_RUN_RPCS
    assert {d.resolved for d in drains} == {1}  # one call at a time: one event per byte


def test_claim_5_the_core_kicks_only_an_empty_queue(tmp_path: Path, hello_server: str) -> None:
    """Under strace each system call of the poller stops it, so completions pile up in the
    core's queue while it hands the previous one over: the count of kicks shows the rule."""
    require(shutil.which("strace") is not None, "strace is not installed (apt-get install strace)")
    out = tmp_path / "strace.txt"
    subprocess.run(["strace", "-f", "-qq", "-o", str(out), "-e",
                    "trace=epoll_ctl,epoll_wait,epoll_pwait,write",
                    sys.executable, "-m", "toygrpc.client", "--target", hello_server,
                    "--rpcs", str(STRACE_RPCS), "--concurrency", str(STRACE_CONCURRENCY),
                    "--quiet"], check=True, timeout=120)
    seen = kicks(strace_calls(out))
    assert seen.pair_bytes == STRACE_RPCS  # one byte per event: one event per unary call
    assert seen.poller not in seen.kicks  # the thread that completes the op kicks
    assert seen.waits == len(seen.kicks)  # every return from its wait is a kick...
    assert len(seen.kicks) < STRACE_RPCS  # ...and fewer kicks than events: queued ones wake no one
