"""Errors a user can fix: reported as one line with exit status 2, never a traceback."""

from __future__ import annotations

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input or an environment problem the user can fix; the message says how."""
