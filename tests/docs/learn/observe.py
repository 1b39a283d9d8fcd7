"""What the learner chapters' tests read from a run: the poller's thread, the thread
samples taken while the RPCs ran, and the core's endpoint lines."""

from __future__ import annotations

from typing import Any

from toygrpc.analysis.run import Run
from toygrpc.capture.threads import EPOLL_WAITS
from toygrpc.model.events import (
    CoreLine,
    RpcFinished,
    RpcStarted,
    ThreadSample,
    ThreadStarted,
)


def poller_tid(run: Run) -> int:
    """The OS thread id of grpc.aio's poller, ``Thread-N (_poll_wrapper)``."""
    (poller,) = [e for e in run.timeline.of(ThreadStarted) if e.name.endswith("(_poll_wrapper)")]
    return poller.native_id


def samples_during_rpcs(run: Run) -> list[ThreadSample]:
    """The thread samples taken between the first RPC's start and the last RPC's end."""
    starts = [e.ts for e in run.timeline.of(RpcStarted)]
    ends = [e.ts for e in run.timeline.of(RpcFinished)]
    assert starts and ends
    samples = [s for s in run.timeline.of(ThreadSample) if min(starts) <= s.ts <= max(ends)]
    assert samples, "no thread sample fell inside the RPCs"
    return samples


def waiting_in_epoll(info: dict[str, Any]) -> bool:
    return info.get("syscall") in EPOLL_WAITS


def member_kinds(info: dict[str, Any]) -> list[str]:
    return sorted(member["kind"] for member in info.get("watches", []))


def named(sample: ThreadSample, name: str) -> list[dict[str, Any]]:
    """The threads of a sample whose kernel name (comm) is ``name``."""
    return [info for info in sample.threads.values() if info["name"] == name]


def endpoint_lines(run: Run) -> list[CoreLine]:
    """The ``event_engine_endpoint`` tracer's lines: ``Endpoint[0x..]: Write 83 bytes``..."""
    return [e for e in run.timeline.of(CoreLine) if e.text.startswith("Endpoint[")]


def is_write(line: CoreLine) -> bool:
    """A write's first line (``Write N bytes``; ``Write succeeded ...`` follows it)."""
    words = line.text.split("]: ", 1)[-1].split()
    return len(words) == 3 and words[0] == "Write" and words[2] == "bytes"


def is_read_done(line: CoreLine) -> bool:
    return line.text.endswith("]: Read complete")
