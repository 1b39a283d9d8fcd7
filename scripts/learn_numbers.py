"""Print the numbers docs/learn's chapters 1 to 4 quote, from fresh captures:
``python scripts/learn_numbers.py``.

The same captures as the chapters' tests (tests/docs/learn/conftest.py): the Hello client
with every thread sampled from /proc and the core's ``event_engine_endpoint`` tracer;
the two programs of tests/docs/learn/programs/ against an untraced Hello server; and,
if strace is installed, the Hello client under strace for the core's kicks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from toygrpc.analysis.run import Run
from toygrpc.analysis.threads import (
    WRITE_IN_CURRENT_THREAD,
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
from toygrpc.capture.launch import CaptureOptions
from toygrpc.model.events import (
    CoreReturnEvent,
    DrainSpan,
    FutureCreated,
    FutureResolved,
    Http2WriteState,
    PollerSocket,
    PythonSlice,
)
from toygrpc.pipeline import capture_run
from toygrpc.workload import READY_PREFIX

PROGRAMS = Path(__file__).resolve().parent.parent / "tests" / "docs" / "learn" / "programs"


def threads_numbers(run: Run) -> None:
    poller = str(poller_tid(run))
    samples = samples_during_rpcs(run)
    print(f"## threads run: {len(samples)} samples while the RPCs ran")
    states = Counter(s.threads[poller].get("syscall") for s in samples if poller in s.threads)
    print(f"poller thread {poller}: {dict(states)}")
    for info in [s.threads[poller] for s in samples if poller in s.threads][:1]:
        if waiting_in_epoll(info):
            print(f"  e.g. {info['syscall']}(fd {info['fd']}, timeout {info['timeout_ms']} ms) "
                  f"watching {member_kinds(info)}")
    by_name: Counter[str] = Counter()
    for sample in samples:
        for info in sample.threads.values():
            by_name[f"{info['name']} {info.get('syscall')}"] += 1
    print("thread name + syscall, over all samples:", dict(sorted(by_name.items())))
    sizes = Counter(len(named(s, "event_engine")) for s in samples)
    print(f"event_engine threads per sample: {dict(sizes)}; os.sysconf cores online: "
          f"{os.sysconf('SC_NPROCESSORS_ONLN')}")
    for sample in samples:
        for info in named(sample, "event_engine"):
            if waiting_in_epoll(info) and "socket" in member_kinds(info):
                print(f"event_engine in {info['syscall']}(fd {info['fd']}, timeout "
                      f"{info['timeout_ms']} ms) watching {member_kinds(info)}")
                break
        else:
            continue
        break
    main = str(next(iter(run.timeline.of(PollerSocket))).pid)
    for sample in samples:
        info = sample.threads[main]
        if waiting_in_epoll(info):
            print(f"main thread in {info['syscall']}(fd {info['fd']}, timeout "
                  f"{info['timeout_ms']} ms) watching {member_kinds(info)}")
            break
    lines = endpoint_lines(run)
    writes = Counter(run.timeline.thread_role(e.pid, e.tid) for e in lines if is_write(e))
    reads = Counter(run.timeline.thread_role(e.pid, e.tid) for e in lines if is_read_done(e))
    print(f"socket writes by thread: {dict(writes)}; reads completed by thread: {dict(reads)}")
    write_sizes = Counter((run.timeline.thread_role(e.pid, e.tid), e.text.split()[-2])
                          for e in lines if is_write(e))
    print("write sizes (thread, bytes): count", dict(sorted(write_sizes.items())))
    inline, batches = inline_writes(run)
    print(f"batches whose socket write is made by the calling thread before its next batch: "
          f"{inline} of {batches}")
    begun = Counter(run.timeline.thread_role(e.pid, e.tid)
                    for e in run.timeline.of(Http2WriteState)
                    if f"[{e.reason}]" == WRITE_IN_CURRENT_THREAD)
    print(f"HTTP/2 transport '{WRITE_IN_CURRENT_THREAD}' by thread: {dict(begun)}")
    drains = list(run.timeline.of(DrainSpan))
    returned = [e for e in run.timeline.of(CoreReturnEvent) if e.event_type == "OP_COMPLETE"]
    print(f"OP_COMPLETE returned by the poller: {len(returned)}; drains: {len(drains)}, "
          f"resolving {dict(Counter(d.resolved for d in drains))}")


def loops_numbers(run: Run) -> None:
    timeline = run.timeline
    print("## two loops")
    print("poller socket registered:", [(timeline.thread_role(e.pid, e.tid), e.read_fd)
                                        for e in timeline.of(PollerSocket)])
    print("drains per thread:", dict(Counter((timeline.thread_role(e.pid, e.tid), e.resolved)
                                            for e in timeline.of(DrainSpan))))
    waiters = {e.future_id for e in timeline.of(FutureCreated) if e.in_batch}
    resolved = [e for e in timeline.of(FutureResolved) if e.future_id in waiters]
    print("waiters resolved, by thread and inside a drain of that thread:",
          dict(Counter((timeline.thread_role(e.pid, e.tid), bool(e.in_drain))
                       for e in resolved)))


def fallback_numbers(run: Run) -> None:
    timeline = run.timeline
    print("## no add_reader")
    returned = [e for e in timeline.of(CoreReturnEvent) if e.event_type == "OP_COMPLETE"]
    handovers = Counter(timeline.thread_role(e.pid, e.tid) for e in timeline.of(PythonSlice)
                        if e.name.startswith("BaseEventLoop.call_soon_threadsafe"))
    print(f"OP_COMPLETE: {len(returned)}; drains: {len(list(timeline.of(DrainSpan)))}; "
          f"call_soon_threadsafe by thread: {dict(handovers)}")


def strace_numbers(target: str, scratch: Path, rpcs: int = 200, concurrency: int = 8) -> None:
    if shutil.which("strace") is None:
        print("## strace: not installed, kicks not counted")
        return
    out = scratch / "strace.txt"
    subprocess.run(["strace", "-f", "-qq", "-o", str(out), "-e",
                    "trace=epoll_ctl,epoll_wait,epoll_pwait,write", sys.executable, "-m",
                    "toygrpc.client", "--target", target, "--rpcs", str(rpcs),
                    "--concurrency", str(concurrency), "--quiet"], check=True)
    seen = kicks(strace_calls(out))
    print(f"## strace, {rpcs} RPCs at concurrency {concurrency}: {seen.pair_bytes} socket-pair "
          f"bytes, {seen.waits} returns from the poller's epoll_wait, {len(seen.kicks)} kicks "
          f"(by the poller: {seen.kicks.count(seen.poller)})")
    fallback = scratch / "strace-fallback.txt"
    subprocess.run(["strace", "-f", "-qq", "-o", str(fallback), "-e", "trace=write",
                    sys.executable, str(PROGRAMS / "no_add_reader.py"), target], check=True,
                   stdout=subprocess.DEVNULL)
    bytes_written = sum(1 for _, c in strace_calls(fallback) if c.startswith('write(') and
                        ', "1", 1)' in c)
    print(f"## strace, no_add_reader.py: {bytes_written} one-byte '1' writes")


def main() -> None:
    server = subprocess.Popen([sys.executable, "-m", "toygrpc.server", "--bind", "localhost:0"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        target = server.stdout.readline()[len(READY_PREFIX):].strip()
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch)
            threads_numbers(capture_run(CaptureOptions(
                mode="client", out=out / "threads", rpcs=100, python_layer=False,
                tracers=("api", "event_engine_endpoint", "http"), sample_threads_ms=5)))
            loops_numbers(capture_run(CaptureOptions(
                mode="run", out=out / "loops", python_layer=False,
                script=(str(PROGRAMS / "two_loops.py"), target))))
            fallback_numbers(capture_run(CaptureOptions(
                mode="run", out=out / "fallback", python_layer=True,
                script=(str(PROGRAMS / "no_add_reader.py"), target))))
            strace_numbers(target, out)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
