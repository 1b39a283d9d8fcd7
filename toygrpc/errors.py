"""Errors a user can fix, and the exit statuses a script can tell apart.

- 0: success.
- 1: the command ran but what it ran failed (``toygrpc trace``: the traced program or
  client exited with an error; the run directory is still written).
- 2 (``EXIT_USAGE``): bad input or an environment problem the user can fix: one line on
  stderr, never a traceback.
- 64 + the gRPC status code (``EXIT_RPC_BASE``, grpcurl's convention): ``toygrpc call``
  made the call and the RPC failed, e.g. 68 DEADLINE_EXCEEDED, 78 UNAVAILABLE.
- 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_RPC_BASE = 64
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad input or an environment problem the user can fix; the message says how."""


class RpcFailed(Exception):
    """An RPC was made and failed: one line, and exit status 64 + its gRPC status code."""

    def __init__(self, message: str, status_code: int, status_name: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.status_name = status_name

    @property
    def exit_status(self) -> int:
        return EXIT_RPC_BASE + self.status_code
