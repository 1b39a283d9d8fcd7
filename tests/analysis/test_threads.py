"""toygrpc.analysis.threads offline: the strace reader against lines as ``strace -f -qq``
writes them (the live check of the same reading is
tests/docs/learn/test_poller_idle.py::test_claim_5_...), and the run readers on committed
real captures (tests/analysis/recorded.py), against values read off their ``events.jsonl``
by hand, each line cited and checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analysis.recorded import HTTP_BOTH, THREADS_CLIENT, raw, raw_events
from toygrpc.analysis.run import Run
from toygrpc.analysis.threads import (
    Kicks,
    endpoint_lines,
    inline_writes,
    is_read_done,
    is_write,
    kicks,
    member_kinds,
    named,
    poller_tid,
    samples_during_rpcs,
    strace_calls,
    waiting_in_epoll,
)
from toygrpc.model.events import CoreBatchStarted, CoreLine, RpcFinished, ThreadSample
from toygrpc.model.timeline import Timeline

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


def test_a_resumed_half_without_its_start_is_kept_as_it_is(tmp_path: Path) -> None:
    """strace attached while thread 12 was inside read(): only the resumed half exists."""
    path = tmp_path / "strace.txt"
    path.write_text("strace: Process 12 attached\n12 <... read resumed>\"x\", 1) = 1\n"
                    "10 epoll_wait(6, [], 100, 0) = 0\n")
    assert strace_calls(path) == [(12, '"x", 1) = 1'), (10, "epoll_wait(6, [], 100, 0) = 0")]


def test_kicks_are_counted_per_thread(tmp_path: Path) -> None:
    path = tmp_path / "strace.txt"
    path.write_text(LINES)
    seen = kicks(strace_calls(path))
    assert (seen.poller, seen.pair_bytes, seen.waits, seen.kicks) == (10, 2, 1, (12,))


def test_a_trace_without_the_poller_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "strace.txt"
    path.write_text("10 epoll_wait(6, [], 100, 0) = 0\n")
    with pytest.raises(ValueError, match=r"^no thread wrote the poller's wake-up byte$"):
        kicks(strace_calls(path))


def test_a_poller_that_never_waits_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "strace.txt"
    path.write_text('10 write(9, "1", 1) = 1\n12 epoll_wait(6, [], 100, 0) = 0\n')
    with pytest.raises(ValueError,
                       match=r"^the poller thread never returned from an epoll wait$"):
        kicks(strace_calls(path))


@pytest.mark.parametrize(("added", "count"), [
    ("", 0), ("10 epoll_ctl(6, EPOLL_CTL_ADD, 7, {}) = 0\n"
              "10 epoll_ctl(6, EPOLL_CTL_ADD, 11, {}) = 0\n", 2)])
def test_a_poll_set_without_exactly_one_member_is_refused(tmp_path: Path, added: str,
                                                          count: int) -> None:
    path = tmp_path / "strace.txt"
    path.write_text(added + "".join(LINES.splitlines(keepends=True)[1:]))  # no epoll_ctl of LINES
    with pytest.raises(ValueError, match=rf"^the core's poll set has {count} members, not one "
                                         "eventfd$"):
        kicks(strace_calls(path))


def test_the_core_poll_set_is_the_one_the_poller_waits_on_most(tmp_path: Path) -> None:
    """The poller waits on its own set (6) twice and once on another (3); the kicks are
    the 8-byte writes into 6's one member (7); other threads' writes elsewhere are not."""
    path = tmp_path / "strace.txt"
    path.write_text(
        "strace: Process 10 attached\n"
        "10 epoll_ctl(3, EPOLL_CTL_ADD, 4, {}) = 0\n"
        "10 epoll_ctl(6, EPOLL_CTL_ADD, 7, {}) = 0\n"
        "10 epoll_wait(6, [], 100, -1) = 1\n"
        "10 epoll_pwait(3, [], 100, -1) = 1\n"
        "10 epoll_pwait(6, [], 100, -1) = 1\n"
        '12 write(4, "\\1\\0\\0\\0\\0\\0\\0\\0", 8) = 8\n'
        '13 write(7, "\\1\\0\\0\\0\\0\\0\\0\\0", 8) = 8\n'
        '12 write(7, "\\1\\0\\0\\0\\0\\0\\0\\0", 8) = 8\n'
        '10 write(9, "1", 1) = 1\n'
        '12 write(9, "1", 1) = 1\n'
        "10 write(5, \"x\", 1) = 1\n")
    assert kicks(strace_calls(path)) == Kicks(poller=10, pair_bytes=1, waits=3, kicks=(13, 12))


# --- the run readers, on threads-client-3 (3 sequential unary calls, one process) ---------

CLIENT = 12024
# Line 18: thread.started "Thread-1 (_poll_wrapper)", native_id 12030.
POLLER = (18, 12030)
# The RPCs run from the first rpc.started (line 28) to the last rpc.finished (line 198).
FIRST_START, LAST_END = (28, 1795631933705532045), (198, 1795631933729800351)
# The thread samples inside that span (lines 50, 83, 139); the nearest outside it are
# line 17 (1,077 µs before the first start) and line 215 (after the last end).
SAMPLES_INSIDE = ((50, 1795631933710594556), (83, 1795631933716600935),
                  (139, 1795631933724441261))
SAMPLES_OUTSIDE = ((17, 1795631933704455130), (215, 1795631933732113118))
# The event_engine_endpoint tracer's lines (core.line "Endpoint[0x7f1648008da0]: ..."):
# the writes' first lines, the completed reads, and every other Endpoint line.
WRITES = (46, 63, 79, 98, 136, 178)  # Write 82, 9, 307, 47, 102, 83 bytes
READS_DONE = (51, 84, 103, 140, 179, 209)  # Read complete
OTHER_ENDPOINT = (47, 49, 61, 64, 80, 94, 99, 105, 137, 147, 180, 187)  # Read, Write succeeded
# The 3 batches start on the main thread (lines 34, 123, 165). After the first, the main
# thread logs no Endpoint line before the next batch (the connection was not up: an
# EventEngine thread wrote it, line 46 on 12031); after the second and third its first
# Endpoint lines are writes (136 "Write 102 bytes", 178 "Write 83 bytes").
BATCH_STARTS = (34, 123, 165)


@pytest.fixture(scope="module")
def threads_run() -> Run:
    return Run.load(THREADS_CLIENT)


def test_the_cited_lines_of_the_threads_run() -> None:
    line, native_id = POLLER
    assert (raw(THREADS_CLIENT, line)["kind"], raw(THREADS_CLIENT, line)["name"],
            raw(THREADS_CLIENT, line)["native_id"]) == (
        "thread.started", "Thread-1 (_poll_wrapper)", native_id)
    events = raw_events(THREADS_CLIENT)
    starts = [e["ts"] for e in events if e["kind"] == "rpc.started"]
    ends = [e["ts"] for e in events if e["kind"] == "rpc.finished"]
    assert (raw(THREADS_CLIENT, FIRST_START[0])["ts"], raw(THREADS_CLIENT, LAST_END[0])["ts"]) \
        == (FIRST_START[1], LAST_END[1]) == (min(starts), max(ends))
    sampled = [(n, e["ts"]) for n, e in enumerate(raw_events(THREADS_CLIENT), 2)
               if e["kind"] == "threads.sample"]
    assert set(SAMPLES_INSIDE) | set(SAMPLES_OUTSIDE) <= set(sampled)
    assert len([s for s in sampled if FIRST_START[1] <= s[1] <= LAST_END[1]]) == 3
    endpoint = [n for n, e in enumerate(events, 2)
                if e["kind"] == "core.line" and e["text"].startswith("Endpoint[")]
    assert sorted(WRITES + READS_DONE + OTHER_ENDPOINT) == endpoint
    for line in WRITES:
        assert raw(THREADS_CLIENT, line)["text"].split("]: ")[1].startswith("Write ")
        assert raw(THREADS_CLIENT, line)["text"].endswith(" bytes")
    assert all(raw(THREADS_CLIENT, n)["text"].endswith("]: Read complete") for n in READS_DONE)
    batches = [n for n, e in enumerate(events, 2) if e["kind"] == "core.start_batch"]
    assert tuple(batches) == BATCH_STARTS
    assert {raw(THREADS_CLIENT, n)["tid"] for n in BATCH_STARTS} == {CLIENT}
    assert (raw(THREADS_CLIENT, 136)["tid"], raw(THREADS_CLIENT, 178)["tid"]) == (CLIENT, CLIENT)


def test_the_poller_thread(threads_run: Run) -> None:
    assert poller_tid(threads_run) == POLLER[1]


def test_only_the_samples_inside_the_rpcs(threads_run: Run) -> None:
    assert [s.ts for s in samples_during_rpcs(threads_run)] == [ts for _, ts in SAMPLES_INSIDE]


def test_a_sample_at_an_rpcs_first_or_last_instant_is_inside(threads_run: Run) -> None:
    """The span is closed: samples stamped exactly at the first start and the last end
    count (hand-made copies of line 50's sample, moved there)."""
    (first, *_) = samples_during_rpcs(threads_run)
    events = [e for e in threads_run.timeline.events if not isinstance(e, ThreadSample)]
    at_start = ThreadSample(ts=FIRST_START[1], pid=CLIENT, tid=first.tid, threads=first.threads)
    at_end = ThreadSample(ts=LAST_END[1], pid=CLIENT, tid=first.tid, threads=first.threads)
    moved = Run(threads_run.manifest, Timeline([*events, at_start, at_end],
                                               threads_run.timeline.processes))
    assert [s.ts for s in samples_during_rpcs(moved)] == [FIRST_START[1], LAST_END[1]]


def test_a_sample_read_on_after_the_last_rpc_is_left_out(threads_run: Run) -> None:
    """A sample listed inside the RPCs but whose files were read on past the last end (the
    program was shutting down: threads had gone) is not a sample of the RPCs; one read
    up to the last end exactly still is (hand-made copies of the first sample)."""
    (first, *_) = samples_during_rpcs(threads_run)
    events = [e for e in threads_run.timeline.events if not isinstance(e, ThreadSample)]
    listed = LAST_END[1] - 1_000
    torn = ThreadSample(ts=listed, pid=CLIENT, tid=first.tid, threads=first.threads,
                        reading_ns=1_001)
    whole = ThreadSample(ts=listed - 1, pid=CLIENT, tid=first.tid, threads=first.threads,
                         reading_ns=1_001)
    run = Run(threads_run.manifest, Timeline(sorted([*events, torn, whole],
                                                    key=lambda e: e.ts),
                                             threads_run.timeline.processes))
    assert [s.ts for s in samples_during_rpcs(run)] == [listed - 1]


def test_no_sample_inside_the_rpcs_is_said(threads_run: Run) -> None:
    inside = {ts for _, ts in SAMPLES_INSIDE}
    events = [e for e in threads_run.timeline.events if e.ts not in inside]
    with pytest.raises(AssertionError, match=r"^no thread sample fell inside the RPCs$"):
        samples_during_rpcs(Run(threads_run.manifest, Timeline(events)))


def test_rpcs_that_never_finished_are_said(threads_run: Run) -> None:
    started_only = [e for e in threads_run.timeline.events if not isinstance(e, RpcFinished)]
    with pytest.raises(AssertionError):
        samples_during_rpcs(Run(threads_run.manifest, Timeline(started_only)))


def test_threads_by_name_and_what_they_wait_in(threads_run: Run) -> None:
    """Line 50's sample: the main thread (python, 12024) in epoll_wait on two sockets, the
    poller (python, 12030) in epoll_wait on one eventfd, four event_engine threads (one
    running), the lifeguard on a futex. Line 139's: event_engine 12032 in epoll_wait on
    a socket and an eventfd (listed socket first)."""
    by_ts = {s.ts: s for s in threads_run.timeline.of(ThreadSample)}
    sample = by_ts[SAMPLES_INSIDE[0][1]]
    assert sorted(i["syscall"] for i in named(sample, "event_engine")) == [
        "futex", "futex", "futex", "running"]
    assert named(sample, "lifeguard") == [{"name": "lifeguard", "state": "S",
                                           "syscall": "futex"}]
    assert named(sample, "poller") == []  # the poller's comm is "python"
    python = named(sample, "python")
    assert len(python) == 4
    assert [waiting_in_epoll(i) for i in python] == [True, False, False, True]
    assert [member_kinds(i) for i in python] == [["socket", "socket"], [], [], ["eventfd"]]
    (engine_wait,) = [i for i in named(by_ts[SAMPLES_INSIDE[2][1]], "event_engine")
                      if waiting_in_epoll(i)]
    assert engine_wait["watches"] == [{"fd": 13, "kind": "socket"}, {"fd": 12, "kind": "eventfd"}]
    assert member_kinds(engine_wait) == ["eventfd", "socket"]
    assert waiting_in_epoll({"syscall": "epoll_pwait"}) and waiting_in_epoll(
        {"syscall": "epoll_pwait2"})
    assert not waiting_in_epoll({"name": "python"})


def test_endpoint_lines_writes_and_reads(threads_run: Run) -> None:
    lines = endpoint_lines(threads_run)
    by_ts = {raw(THREADS_CLIENT, n)["ts"]: n for n in WRITES + READS_DONE + OTHER_ENDPOINT}
    assert [by_ts[e.ts] for e in lines] == sorted(by_ts.values())
    assert [by_ts[e.ts] for e in lines if is_write(e)] == list(WRITES)
    assert [by_ts[e.ts] for e in lines if is_read_done(e)] == list(READS_DONE)


def test_inline_writes_of_the_client_run(threads_run: Run) -> None:
    assert inline_writes(threads_run) == (2, 3)


def test_inline_writes_of_a_run_of_two_processes() -> None:
    """http-both-2: 8 batch starts (client lines 84, 322; server 212, 226, 240, 366, 380,
    395). The calling thread's first Endpoint line after the start, before its next batch,
    is a write for 240 (252 "Write 166 bytes"), 322 (336 "Write 124 bytes") and 395 (407
    "Write 77 bytes"); after the others the thread starts its next batch first."""
    starts = [n for n, e in enumerate(raw_events(HTTP_BOTH), 2) if e["kind"] == "core.start_batch"]
    assert starts == [84, 212, 226, 240, 322, 366, 380, 395]
    for line, text in ((252, "Write 166 bytes"), (336, "Write 124 bytes"), (407, "Write 77 bytes")):
        assert raw(HTTP_BOTH, line)["text"].endswith("]: " + text)
    assert inline_writes(Run.load(HTTP_BOTH)) == (3, 8)


def test_a_write_or_a_batch_right_after_the_start(threads_run: Run) -> None:
    """Hand-made core lines on thread 1: a batch, at once a second batch, at once that
    batch's write. The first batch's thread starts another batch before any write (not
    inline); the second's very next line is its write (inline)."""
    ops = ("SEND_MESSAGE",)
    core = [CoreBatchStarted(ts=1_000, pid=1, tid=1, call="0x1", tag="0xa", ops=ops),
            CoreBatchStarted(ts=2_000, pid=1, tid=1, call="0x1", tag="0xb", ops=ops),
            CoreLine(ts=3_000, pid=1, tid=1, text="Endpoint[0x9]: Write 20 bytes")]
    assert inline_writes(Run(threads_run.manifest, Timeline(core))) == (1, 2)
    # a batch and its write, nothing between
    assert inline_writes(Run(threads_run.manifest, Timeline(core[1:]))) == (1, 1)
