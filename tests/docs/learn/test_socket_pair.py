"""docs/learn/02-socket-pair.md, claim by claim, on live captures: the session's
``client_run`` (Python layer on), ``two_loops_run`` (programs/two_loops.py: two threads,
one loop each, one making the calls and blocking after each start, one idle) and
``no_add_reader_run`` (programs/no_add_reader.py: a loop without ``add_reader``)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.conftest import require
from tests.docs.learn.conftest import PROGRAMS
from toygrpc.analysis.run import Run
from toygrpc.analysis.threads import poller_tid, strace_calls
from toygrpc.model.events import (
    CoreReturnEvent,
    DrainSpan,
    FutureCreated,
    FutureResolved,
    PollerSocket,
    PythonSlice,
    RpcFinished,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "learn" / "02-socket-pair.md"


def test_the_page_names_the_tests() -> None:
    text = DOC.read_text()
    for name in [n for n in globals() if n.startswith("test_claim_")]:
        assert f"tests/docs/learn/test_socket_pair.py::{name}" in text, name


def returned(run: Run) -> list[CoreReturnEvent]:
    return [e for e in run.timeline.of(CoreReturnEvent) if e.event_type == "OP_COMPLETE"]


def test_claim_1_no_python_on_the_poller_thread(client_run: Run) -> None:
    poller = poller_tid(client_run)
    events = returned(client_run)
    assert len(events) >= 100  # it handed over every completion...
    assert client_run.manifest.processes[-1].viztracer
    python = [e.name for e in client_run.timeline.of(PythonSlice)
              if e.tid == poller and events[0].ts <= e.ts <= events[-1].ts]
    assert python == [], python[:5]  # ...without starting a Python function meanwhile
    assert any(e.tid != poller for e in client_run.timeline.of(PythonSlice))


def test_claim_2_loops_share_one_socket_pair(two_loops_run: Run) -> None:
    timeline = two_loops_run.timeline
    registered = {timeline.thread_role(e.pid, e.tid): e.read_fd
                  for e in timeline.of(PollerSocket)}
    assert set(registered) == {"python idle", "python calling"}
    assert len(set(registered.values())) == 1  # one read socket, in both loops' selectors
    drainers = {timeline.thread_role(e.pid, e.tid) for e in timeline.of(DrainSpan)}
    assert "python idle" in drainers  # a loop that made no call drains the queue


def test_claim_3_an_event_goes_back_to_its_own_loop(two_loops_run: Run) -> None:
    timeline = two_loops_run.timeline
    made_on: dict[int, int] = {}  # future id (reused once freed) -> thread that made it
    waiters: list[FutureResolved] = []
    for event in timeline.events:  # in time order
        if isinstance(event, FutureCreated):
            if event.in_batch:  # a batch's waiter, not one of asyncio's own futures
                made_on[event.future_id] = event.tid
            else:
                made_on.pop(event.future_id, None)
        elif isinstance(event, FutureResolved) and made_on.get(event.future_id) is not None:
            assert event.tid == made_on.pop(event.future_id)  # on its own loop's thread
            waiters.append(event)
    assert len(waiters) == 11  # one per call, all made by the calling loop
    assert {timeline.thread_role(e.pid, e.tid) for e in waiters} == {"python calling"}
    handed_over = [e for e in waiters if not e.in_drain]  # not inside a drain of its thread
    assert len(handed_over) >= len(waiters) // 2, len(handed_over)
    assert {e.status for e in timeline.of(RpcFinished)} == {"OK"}


def test_claim_4_without_add_reader_the_poller_hands_over(no_add_reader_run: Run) -> None:
    timeline = no_add_reader_run.timeline
    poller = poller_tid(no_add_reader_run)
    events = returned(no_add_reader_run)
    assert len(events) == 10 and {e.tid for e in events} == {poller}
    handovers = Counter(e.tid for e in timeline.of(PythonSlice)
                        if e.name.startswith("BaseEventLoop.call_soon_threadsafe"))
    assert handovers == {poller: len(events)}  # the poller thread, once per event
    finished = list(timeline.of(RpcFinished))
    assert len(finished) == 10 and {e.status for e in finished} == {"OK"}


def test_claim_5_without_add_reader_no_byte_is_written(tmp_path: Path,
                                                       hello_server: str) -> None:
    """The harness cannot hook a loop it did not make, so it sees no wake-up either way:
    strace tells whether the poller still writes its byte."""
    require(shutil.which("strace") is not None, "strace is not installed (apt-get install strace)")
    out = tmp_path / "strace.txt"
    result = subprocess.run(["strace", "-f", "-qq", "-o", str(out), "-e", "trace=write",
                             sys.executable, str(PROGRAMS / "no_add_reader.py"), hello_server],
                            capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "10 calls without add_reader"
    assert not [c for _, c in strace_calls(out) if re.match(r'write\(\d+, "1", 1\)', c)]
