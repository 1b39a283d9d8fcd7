"""Sample what every thread of the traced process is doing, from ``/proc`` (Linux).

grpc's C threads (the poller while it waits, the EventEngine pool, ``lifeguard``,
``grpc_global_tim``) make no Python frames and log nothing while they wait: the kernel
is the only witness. Every ``interval_s`` a daemon thread reads, for each thread of this
process, its name (``comm``), its scheduler state (``stat``) and the system call it is
blocked in (``syscall``: number and arguments). A thread blocked in an epoll wait also
gets the epoll set's members (``fdinfo``), each named by what its fd is (``socket``,
``eventfd``, ...): that tells the core's poll set (a wake-up eventfd) from the
EventEngine's (the TCP sockets) and from asyncio's selector. One ``ThreadSample`` event
per sample. Off unless asked for (``--sample-threads MS``): a sample reads three files per
thread, several milliseconds in all (docs/capture.md).
"""

from __future__ import annotations

import os
import platform
import threading
import time
from pathlib import Path
from typing import Any

from toygrpc.model.events import EPOLL_WAITS, ThreadSample

SAMPLER_THREAD_NAME = "toygrpc-threads"
TASKS = Path("/proc/self/task")
FDS = Path("/proc/self/fd")
FDINFO = Path("/proc/self/fdinfo")

# System call numbers (they differ per architecture) of the waits a thread sits in.
SYSCALLS: dict[str, dict[int, str]] = {
    "x86_64": {0: "read", 7: "poll", 23: "select", 35: "nanosleep", 202: "futex",
               230: "clock_nanosleep", 232: "epoll_wait", 270: "pselect6", 271: "ppoll",
               281: "epoll_pwait", 441: "epoll_pwait2"},
    "aarch64": {22: "epoll_pwait", 63: "read", 72: "pselect6", 73: "ppoll", 98: "futex",
                101: "nanosleep", 115: "clock_nanosleep", 441: "epoll_pwait2"},
}


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:  # the thread (or fd) went away between the listing and the read
        return ""


def _signed(word: str) -> int:
    """A syscall argument as /proc prints it (hex, unsigned 64 bits) as a C int."""
    value = int(word, 16) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def fd_kind(fd: int) -> str:
    """What an fd of this process is: ``socket``, ``eventfd``, ``eventpoll``, ``pipe``..."""
    try:
        target = os.readlink(FDS / str(fd))
    except OSError:
        return "closed"
    if target.startswith("anon_inode:"):
        return target.removeprefix("anon_inode:").strip("[]")
    return target.split(":", 1)[0] if ":" in target else "file"


def epoll_members(epfd: int) -> list[dict[str, Any]]:
    """The fds an epoll set watches (``tfd:`` lines of its fdinfo), each with its kind."""
    members = []
    for line in _read(FDINFO / str(epfd)).splitlines():
        if line.startswith("tfd:"):
            fd = int(line.split()[1])
            members.append({"fd": fd, "kind": fd_kind(fd)})
    return members


def sample_threads() -> dict[str, dict[str, Any]]:
    """Every thread of this process now: OS tid -> name, state, syscall (and for an epoll
    wait its fd, timeout and members)."""
    return _sample_threads()[2]


def _sample_threads() -> tuple[int, int, dict[str, dict[str, Any]]]:
    """The threads, when they were listed (CLOCK_REALTIME ns) and how long reading their
    files took after it: the listing says which threads exist, and reading each one's
    files can take milliseconds (the sampler waits for the GIL between two reads), so a
    thread that ends in between is missing from the sample."""
    table = SYSCALLS.get(platform.machine(), {})
    members: dict[int, list[dict[str, Any]]] = {}
    threads: dict[str, dict[str, Any]] = {}
    try:
        tids = [entry.name for entry in TASKS.iterdir()]
    except OSError:
        return time.time_ns(), 0, threads
    listed = time.time_ns()
    for tid in tids:
        task = TASKS / tid
        name = _read(task / "comm")
        if not name:
            continue
        stat = _read(task / "stat")
        state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
        words = _read(task / "syscall").split()
        info: dict[str, Any] = {"name": name, "state": state}
        if words and words[0].isdigit():
            number = int(words[0])
            call = table.get(number, f"syscall {number}")
            info["syscall"] = call
            if call in EPOLL_WAITS and len(words) > 4:
                epfd = _signed(words[1])
                info["fd"] = epfd
                info["timeout_ms"] = _signed(words[4])
                if epfd not in members:
                    members[epfd] = epoll_members(epfd)
                info["watches"] = members[epfd]
        elif words:
            info["syscall"] = words[0]  # "running", or "-1" when not in a syscall
        threads[tid] = info
    return listed, time.time_ns() - listed, threads


class ThreadSampler:
    """A daemon thread that records a ``ThreadSample`` every ``interval_s``."""

    def __init__(self, record: Any, pid: int, interval_s: float) -> None:
        self._record = record  # Recorder.add
        self._pid = pid
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=SAMPLER_THREAD_NAME,
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def sample(self) -> None:
        listed, reading, threads = _sample_threads()
        self._record(ThreadSample, ts=listed, pid=self._pid,
                     tid=threading.get_native_id(), threads=threads, reading_ns=reading)

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self._interval_s):
                return

    def stop(self) -> None:
        """Stop sampling, with one last sample (the threads still alive at the end)."""
        self._stop.set()
        self._thread.join(timeout=2)
        self.sample()
