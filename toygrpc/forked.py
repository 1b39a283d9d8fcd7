"""Work done by a forked copy of this process while this one does something else.

After a capture, three outputs are written from the same analysed run: the Perfetto
trace, ``events.jsonl`` and ``summary.json``. They share nothing but the run, which a
forked child already holds (copy on write: nothing is serialised or sent), so on a
machine with a second core the child writes two of them while the parent writes the
trace. The parent still owns the outcome: ``join`` waits for the child and, if the child
did not finish its work, does that work again itself, so an error is raised where it
would have been without a child, with its own type and message.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from types import TracebackType

# Set to anything to do the work in this process, one step after the other (where fork
# is unsafe for an embedding program, or to compare timings).
NO_FORK_ENV = "TOYGRPC_NO_FORK"


def can_fork() -> bool:
    return hasattr(os, "fork") and not os.environ.get(NO_FORK_ENV)


class ForkedWork:
    """``work`` started in a forked child (where fork exists), finished by ``join``.

    Use as a context manager: leaving the block by an exception (Ctrl-C among them) kills
    the child instead of waiting for it."""

    def __init__(self, work: Callable[[], object]) -> None:
        self._work = work
        self._pid = 0
        self.forked = False  # whether a child did (or tried to do) the work
        if not can_fork():
            return
        pid = os.fork()
        if pid == 0:  # the child: do the work, never return into the caller's code
            code = 1
            try:
                work()
                code = 0
            finally:
                os._exit(code)  # no atexit handlers, no flushing the parent's buffers
        self._pid = pid
        self.forked = True

    def join(self) -> None:
        """Wait for the child; if it did not succeed, do the work here (it raises here,
        as it would have without a child)."""
        if not self._pid:
            if not self.forked:
                self._work()
            return
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        if os.waitstatus_to_exitcode(status) != 0:
            self._work()

    def kill(self) -> None:
        """Stop the child, if it still runs, and reap it."""
        if self._pid:
            os.kill(self._pid, signal.SIGKILL)  # an ended child is a zombie until reaped
            os.waitpid(self._pid, 0)
            self._pid = 0

    def __enter__(self) -> ForkedWork:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            self.join()
        else:
            self.kill()
