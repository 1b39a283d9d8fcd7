"""Work done by a forked copy of this process while this one does something else.

After a capture, three outputs are written from the same analysed run: the Perfetto
trace, ``events.jsonl`` and ``summary.json``. They share nothing but the run, which a
forked child already holds (copy on write: nothing is serialised or sent), so on a
machine with a second core the child writes two of them while the parent writes the
trace. The parent still owns the outcome: ``join`` waits for the child and, if the child
did not finish its work, does that work again itself, so an error is raised where it
would have been without a child, with its own type and message.

What the work returns comes back to the parent, pickled through a pipe: the child's
second core can compute what the parent prints next (the report's stage table) while the
parent still writes its trace.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

# Set to anything to do the work in this process, one step after the other (where fork
# is unsafe for an embedding program, or to compare timings).
NO_FORK_ENV = "TOYGRPC_NO_FORK"


def can_fork() -> bool:
    return hasattr(os, "fork") and not os.environ.get(NO_FORK_ENV)


class ForkedWork(Generic[T]):
    """``work`` started in a forked child (where fork exists), finished by ``join``, which
    returns what it returned.

    Use as a context manager: leaving the block by an exception (Ctrl-C among them) kills
    the child instead of waiting for it."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._pid = 0
        self._result = -1  # the read end of the pipe the child writes its result to
        self.forked = False  # whether a child did (or tried to do) the work
        self.joined = False
        self._value: T
        if not can_fork():
            return
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: do the work, never return into the caller's code
            code = 1
            try:
                os.close(read)
                result = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write, "wb") as pipe:
                    pipe.write(result)
                code = 0
            finally:
                os._exit(code)  # no atexit handlers, no flushing the parent's buffers
        os.close(write)
        self._pid, self._result = pid, read
        self.forked = True

    def join(self) -> T:
        """Wait for the child and return what the work returned; if the child did not
        succeed, do the work here (it raises here, as it would have without a child).
        A second call returns the same (the context manager calls it unless it was)."""
        if not self.joined:
            self._value = self._finish()
            self.joined = True
        return self._value

    def _finish(self) -> T:
        if not self._pid:
            return self._work()
        with os.fdopen(self._result, "rb") as pipe:  # read before the wait: it may be long
            self._result = -1
            data = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        if os.waitstatus_to_exitcode(status) == 0:
            try:
                return pickle.loads(data)  # type: ignore[no-any-return]  # the work's T
            except (pickle.UnpicklingError, EOFError, AttributeError, ImportError):
                pass
        return self._work()

    def kill(self) -> None:
        """Stop the child, if it still runs, and reap it."""
        if self._result >= 0:
            os.close(self._result)
            self._result = -1
        if self._pid:
            os.kill(self._pid, signal.SIGKILL)  # an ended child is a zombie until reaped
            os.waitpid(self._pid, 0)
            self._pid = 0

    def __enter__(self) -> ForkedWork[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            if not self.joined:
                self.join()
        else:
            self.kill()
