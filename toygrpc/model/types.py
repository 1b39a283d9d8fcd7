"""The domain's small vocabularies as types, so that a misspelt value fails type-checking."""

from __future__ import annotations

from typing import Literal, get_args

Side = Literal["client", "server"]
"""Which end of an RPC a process played for it."""

Mode = Literal["client", "server", "both", "run"]
"""What ``toygrpc trace`` captured: the Hello client, the Hello server, both, or a program."""

ProcessRole = Literal["client", "server", "program"]
"""The folder of a traced process in a run directory (``run`` mode traces a ``program``)."""

ChainKind = Literal["batch", "request_call", "notify"]
"""What a chain's waiter waits for: a batch of ops, an incoming call, or a tagged notify."""

Driver = Literal["python", "node"]
"""The untraced client that drives a traced server."""

SIDES: tuple[Side, ...] = get_args(Side)
MODES: tuple[Mode, ...] = get_args(Mode)
DRIVERS: tuple[Driver, ...] = get_args(Driver)
