"""Stopping a capture the way a debugger stops its inferior.

The first Ctrl-C (SIGINT, to the process group or to toygrpc alone) or SIGTERM asks every
process of the capture to stop: traced processes get SIGINT (the bootstrap turns it into
a clean stop that writes their files), untraced helpers SIGTERM. They have ``grace_s``
to finish; whatever is still running then is killed and what is on disk is used. The
second Ctrl-C abandons: it kills what is left and raises ``KeyboardInterrupt`` so that
analysis is skipped (the raw files and the manifest stay; ``toygrpc show`` analyses them
later). When nothing is running any more, the first Ctrl-C already abandons.

Children run in their own process group, so that a Ctrl-C typed in the terminal reaches
them once, through here, and (on Linux) die with toygrpc if toygrpc itself is killed.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

GRACE_S = 10.0  # how long a stopped process has to write its files before it is killed
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_PR_SET_PDEATHSIG = 1


def _libc_prctl() -> Callable[..., int] | None:
    """libc's prctl, from the symbols this process has loaded already (Python links libc):
    ``ctypes.util.find_library`` would run ``ldconfig -p`` on every command's start."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()  # loaded before any fork: the child only calls it


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM (a clean stop) when toygrpc dies."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def child_options() -> dict[str, Any]:
    """Popen arguments for every process a capture starts: its own process group, tied
    to toygrpc's life, and no terminal input (a background group reading the terminal
    would be stopped)."""
    stdin: Any = subprocess.DEVNULL if sys.stdin is None or sys.stdin.isatty() else None
    return {"process_group": 0, "preexec_fn": _die_with_parent, "stdin": stdin}


@dataclass
class _Child:
    process: subprocess.Popen[Any]
    stop_signal: signal.Signals
    name: str


@dataclass
class Stopper:
    """The processes of one capture and how to stop them; see the module's docstring."""

    grace_s: float = GRACE_S
    children: list[_Child] = field(default_factory=list)
    reason: str = ""  # why the capture was stopped early ("" = it ran to its end)
    abandoned: bool = False
    killed: list[str] = field(default_factory=list)  # processes killed after the grace
    deadline: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- the processes ----------------------------------------------------------------

    def adopt(self, process: subprocess.Popen[Any], name: str, traced: bool) -> None:
        """Track a started process; stop it at once if a stop was already asked for."""
        child = _Child(process, signal.SIGINT if traced else signal.SIGTERM, name)
        with self._lock:
            self.children.append(child)
        if self.reason:
            self._signal(child)

    def alive(self) -> list[_Child]:
        return [c for c in self.children if c.process.poll() is None]

    def remaining_s(self, default: float) -> float:
        """How long to wait for a process now: the rest of the grace once stopping."""
        if not self.reason:
            return default
        return max(0.0, self.deadline - time.monotonic())

    # --- stopping ---------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Ask every process to stop cleanly; kill those still running after the grace."""
        with self._lock:
            if self.reason:
                return
            self.reason = reason
            self.deadline = time.monotonic() + self.grace_s
        for child in self.alive():
            self._signal(child)
        threading.Thread(target=self._kill_after_grace, name="toygrpc-grace",
                         daemon=True).start()

    def _signal(self, child: _Child) -> None:
        with suppress(OSError):
            child.process.send_signal(child.stop_signal)

    def _kill_after_grace(self) -> None:
        while time.monotonic() < self.deadline:
            if not self.alive():
                return
            time.sleep(0.05)
        for child in self.alive():
            self.killed.append(child.name)
            child.process.kill()

    def kill_all(self) -> None:
        """Kill whatever still runs and reap it: no process outlives the capture."""
        for child in self.children:
            if child.process.poll() is None:
                if not self.abandoned:
                    self.killed.append(child.name)
                child.process.kill()
            with suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=5)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """First signal: stop; the next one (or the first when nothing runs): abandon."""
        name = signal.Signals(signum).name
        if self.reason or not self.alive():
            self.abandoned = True
            self.reason = self.reason or name
            for sig in STOP_SIGNALS:  # a third Ctrl-C must not cut the manifest's saving
                signal.signal(sig, signal.SIG_IGN)
            for child in self.alive():
                child.process.kill()
            raise KeyboardInterrupt
        print(f"toygrpc: {name}: stopping the traced program and saving what it captured "
              f"(up to {self.grace_s:g}s); press Ctrl-C again to skip the analysis",
              file=sys.stderr, flush=True)
        self.stop(name)

    @contextmanager
    def installed(self) -> Iterator[Stopper]:
        """Handle SIGINT and SIGTERM while the capture and its analysis run (main thread
        only: elsewhere signals cannot be caught, and the processes are still reaped)."""
        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                previous[sig] = signal.signal(sig, self.on_signal)
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            self.kill_all()
