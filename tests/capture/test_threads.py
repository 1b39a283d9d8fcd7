"""The /proc thread sampler (``--sample-threads``), on this very process's threads."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from typing import Any

from toygrpc.capture.threads import ThreadSampler, fd_kind, sample_threads
from toygrpc.model.events import EPOLL_WAITS, ThreadSample


def test_a_thread_blocked_in_epoll_is_seen_with_its_set() -> None:
    poll = select.epoll()
    wakeup = os.eventfd(0)
    left, right = socket.socketpair()
    poll.register(wakeup, select.EPOLLIN)
    poll.register(left, select.EPOLLIN)
    waiting = threading.Thread(target=poll.poll, args=(3.0,), name="waiter")
    waiting.start()
    try:
        deadline = time.monotonic() + 5
        while True:
            info = sample_threads().get(str(waiting.native_id), {})
            if info.get("syscall") in EPOLL_WAITS or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert info["syscall"] in EPOLL_WAITS, info
        assert info["fd"] == poll.fileno() and info["timeout_ms"] == 3000
        assert sorted(m["kind"] for m in info["watches"]) == ["eventfd", "socket"]
        assert {m["fd"] for m in info["watches"]} == {wakeup, left.fileno()}
    finally:
        os.eventfd_write(wakeup, 1)
        waiting.join()
        poll.close()
        os.close(wakeup)
        left.close()
        right.close()


def test_every_thread_is_named_and_closed_fds_are_said_so() -> None:
    threads = sample_threads()
    assert str(threading.get_native_id()) in threads
    assert all(info["name"] and info["state"] for info in threads.values())
    assert fd_kind(10_000) == "closed"


def test_the_sampler_records_until_stopped_and_once_more() -> None:
    recorded: list[tuple[type, dict[str, Any]]] = []

    def record(kind: type, **fields: Any) -> None:
        recorded.append((kind, fields))

    sampler = ThreadSampler(record, os.getpid(), 0.005)
    sampler.start()
    time.sleep(0.05)
    sampler.stop()
    count = len(recorded)
    time.sleep(0.02)
    assert len(recorded) == count >= 2  # stopped: nothing after the last sample
    assert {kind for kind, _ in recorded} == {ThreadSample}
    assert all(str(threading.get_native_id()) in f["threads"] for _, f in recorded)
    assert all(f["reading_ns"] > 0 for _, f in recorded)  # the listing, then the reads
