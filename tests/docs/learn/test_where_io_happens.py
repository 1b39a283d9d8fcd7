"""docs/learn/03-where-io-happens.md, claim by claim, on the session's ``threads_run``
(100 sequential unary RPCs with the core's ``event_engine_endpoint`` tracer on, one line
per socket write and read on the thread that makes it, and ``http``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.docs.learn.conftest import THREADS_RUN_RPCS
from toygrpc.analysis.run import Run
from toygrpc.analysis.threads import (
    WRITE_IN_CURRENT_THREAD,
    endpoint_lines,
    inline_writes,
    is_read_done,
    is_write,
    poller_tid,
)
from toygrpc.model.events import CoreBatchStarted, Http2WriteState

DOC = Path(__file__).resolve().parents[3] / "docs" / "learn" / "03-where-io-happens.md"


def test_the_page_names_the_tests() -> None:
    text = DOC.read_text()
    for name in [n for n in globals() if n.startswith("test_claim_")]:
        assert f"tests/docs/learn/test_where_io_happens.py::{name}" in text, name


def test_claim_1_the_calling_thread_writes_the_request(threads_run: Run) -> None:
    inline, batches = inline_writes(threads_run)
    main = threads_run.manifest.processes[-1].pid
    assert {e.tid for e in threads_run.timeline.of(CoreBatchStarted)} == {main}
    assert batches == THREADS_RUN_RPCS and inline > batches // 2, (inline, batches)


def test_claim_2_the_calling_thread_encodes_the_frames(threads_run: Run) -> None:
    timeline = threads_run.timeline
    begun = Counter(timeline.thread_role(e.pid, e.tid) for e in timeline.of(Http2WriteState)
                    if f"[{e.reason}]" == WRITE_IN_CURRENT_THREAD)
    assert begun["main"] > THREADS_RUN_RPCS // 2, begun
    assert set(begun) <= {"main", "event_engine"}, begun


def test_claim_3_reads_complete_on_event_engine_threads(threads_run: Run) -> None:
    timeline = threads_run.timeline
    reads = [e for e in endpoint_lines(threads_run) if is_read_done(e)]
    assert len(reads) >= THREADS_RUN_RPCS  # at least one per response
    assert {timeline.thread_role(e.pid, e.tid) for e in reads} == {"event_engine"}


def test_claim_4_the_poller_does_no_io(threads_run: Run) -> None:
    timeline = threads_run.timeline
    lines = endpoint_lines(threads_run)
    assert poller_tid(threads_run) not in {e.tid for e in lines}
    writers = {timeline.thread_role(e.pid, e.tid) for e in lines if is_write(e)}
    assert writers == {"main", "event_engine"}, writers
