"""The strace reader against lines as ``strace -f -qq`` writes them (the live check of the
same reading is tests/docs/learn/test_poller_idle.py::test_claim_5_...)."""

from __future__ import annotations

from pathlib import Path

import pytest

from toygrpc.analysis.threads import kicks, strace_calls

# Thread 10 is the poller (it writes the "1"), 6 the core's epoll set, 7 its eventfd,
# 9 the socket pair's write end; 12 completes operations and kicks.
LINES = """\
10 epoll_ctl(6, EPOLL_CTL_ADD, 7, {events=EPOLLIN|EPOLLET, data={u32=1, u64=1}}) = 0
10 epoll_wait(6,  <unfinished ...>
12 write(7, "\\1\\0\\0\\0\\0\\0\\0\\0", 8 <unfinished ...>
10 <... epoll_wait resumed>[{events=EPOLLIN, data={u32=1, u64=1}}], 100, -1) = 1
12 <... write resumed>) = 8
10 write(9, "1", 1)                   = 1
10 write(9, "1", 1)                   = 1
10 epoll_wait(6,  <unfinished ...>
"""


def test_halves_are_joined_and_an_unfinished_call_left_out(tmp_path: Path) -> None:
    path = tmp_path / "strace.txt"
    path.write_text(LINES)
    calls = strace_calls(path)
    assert (10, "epoll_wait(6,  [{events=EPOLLIN, data={u32=1, u64=1}}], 100, -1) = 1") in calls
    assert [c for t, c in calls if t == 10].count('write(9, "1", 1)                   = 1') == 2
    assert len(calls) == 5  # the last epoll_wait never returned


def test_kicks_are_counted_per_thread(tmp_path: Path) -> None:
    path = tmp_path / "strace.txt"
    path.write_text(LINES)
    seen = kicks(strace_calls(path))
    assert (seen.poller, seen.pair_bytes, seen.waits, seen.kicks) == (10, 2, 1, (12,))


def test_a_trace_without_the_poller_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "strace.txt"
    path.write_text("10 epoll_wait(6, [], 100, 0) = 0\n")
    with pytest.raises(ValueError, match="wake-up byte"):
        kicks(strace_calls(path))
