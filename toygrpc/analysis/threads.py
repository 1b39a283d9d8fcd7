"""Where grpc's threads are and what they wait in: the poller's thread, the thread
samples (``--sample-threads``) taken while the RPCs ran, and the lines of the core's
``event_engine_endpoint`` tracer (each socket write and read, on the thread making it).
Read by docs/learn's chapters, their tests and ``scripts/learn_numbers.py``."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toygrpc.analysis.run import Run
from toygrpc.model.events import (
    EPOLL_WAITS,
    CoreBatchStarted,
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
    """The thread samples taken between the first RPC's start and the last RPC's end,
    from their listing to their last read (a sample read on while the program shut down
    lacks the threads that ended)."""
    starts = [e.ts for e in run.timeline.of(RpcStarted)]
    ends = [e.ts for e in run.timeline.of(RpcFinished)]
    assert starts and ends
    first, last = min(starts), max(ends)
    samples = [s for s in run.timeline.of(ThreadSample)
               if first <= s.ts and s.ts + s.reading_ns <= last]
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


# The chttp2 transport's ``http`` trace line when a thread encodes and writes the
# pending frames itself, now (chttp2_transport.cc, begin_writing_desc).
WRITE_IN_CURRENT_THREAD = "[begin write in current thread]"


def inline_writes(run: Run) -> tuple[int, int]:
    """(batches whose socket write the calling thread makes itself, before it starts its
    next batch; all batches). Core lines only: one clock, their exact order."""
    core = [e for e in run.timeline.events if isinstance(e, CoreBatchStarted | CoreLine)]
    core.sort(key=lambda e: e.ts)
    starts = [i for i, e in enumerate(core) if isinstance(e, CoreBatchStarted)]
    inline = 0
    for index in starts:
        tid = core[index].tid
        for later in core[index + 1:]:
            if later.tid != tid:
                continue
            if isinstance(later, CoreBatchStarted):
                break
            if isinstance(later, CoreLine) and later.text.startswith("Endpoint["):
                inline += is_write(later)
                break
    return inline, len(starts)


# --- strace: the core's kicks, which no tracer of a release build logs ---------------


@dataclass(frozen=True)
class Kicks:
    """What ``strace -f -e trace=epoll_ctl,epoll_wait,epoll_pwait,write`` saw of the
    poller: its thread, the bytes it wrote into the socket pair, its returns from
    ``epoll_wait`` on the core's poll set, and the writes (kicks) into that set's
    eventfd, by thread."""

    poller: int
    pair_bytes: int
    waits: int
    kicks: tuple[int, ...]  # the kicking thread of each kick


def strace_calls(path: Path) -> list[tuple[int, str]]:
    """(tid, call) of an ``strace -f`` output, unfinished and resumed halves joined; a
    call still unfinished when the process ended is left out."""
    pending: dict[int, str] = {}
    calls = []
    for line in path.read_text().splitlines():
        tid_text, _, rest = line.partition(" ")
        if not tid_text.isdigit():
            continue
        tid, rest = int(tid_text), rest.strip()
        if rest.endswith("<unfinished ...>"):
            pending[tid] = rest.removesuffix("<unfinished ...>")
            continue
        resumed = re.match(r"<\.\.\. \w+ resumed>(.*)", rest)
        if resumed:
            rest = pending.pop(tid, "") + resumed.group(1)
        calls.append((tid, rest))
    return calls


def kicks(calls: list[tuple[int, str]]) -> Kicks:
    """The poller is the thread writing the one-byte ``"1"`` into the socket pair; the
    core's poll set is the epoll fd it waits on; the kick fd is that set's member."""
    pairs = [(t, int(m.group(1))) for t, c in calls
             if (m := re.match(r'write\((\d+), "1", 1\)', c))]
    if not pairs:
        raise ValueError("no thread wrote the poller's wake-up byte")
    poller, pair_fd = pairs[0]
    waits = [c for t, c in calls if t == poller and re.match(r"epoll_p?wait\(", c)]
    if not waits:
        raise ValueError("the poller thread never returned from an epoll wait")
    core_set = Counter(int(re.findall(r"\d+", c)[0]) for c in waits).most_common(1)[0][0]
    members = [int(m.group(1)) for _, c in calls
               if (m := re.match(rf"epoll_ctl\({core_set}, EPOLL_CTL_ADD, (\d+)", c))]
    if len(members) != 1:
        raise ValueError(f"the core's poll set has {len(members)} members, not one eventfd")
    kick = f'write({members[0]}, "\\1\\0\\0\\0'
    return Kicks(poller=poller,
                 pair_bytes=sum(1 for t, c in calls
                                if t == poller and c.startswith(f"write({pair_fd},")),
                 waits=len(waits),
                 kicks=tuple(t for t, c in calls if c.startswith(kick)))
