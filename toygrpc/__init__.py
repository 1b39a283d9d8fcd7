"""toygrpc: a tracing harness that shows what grpc.aio does inside a real call.

The Python API (``toygrpc.trace_client``, ``trace_server``, ``trace_both``,
``trace_script``, ``load``, ``compare``) lives in ``toygrpc.api`` and is imported on first use, so
``import toygrpc`` stays cheap for the command line and the traced processes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names mypy and editors see; at run time __getattr__ imports them
    from toygrpc.api import Trace as Trace
    from toygrpc.api import compare as compare
    from toygrpc.api import load as load
    from toygrpc.api import trace_both as trace_both
    from toygrpc.api import trace_client as trace_client
    from toygrpc.api import trace_script as trace_script
    from toygrpc.api import trace_server as trace_server

__version__ = "0.1.0"

API = ("trace_client", "trace_server", "trace_both", "trace_script", "load", "compare",
       "Trace")


def __getattr__(name: str) -> Any:
    if name in API:
        from toygrpc import api

        return getattr(api, name)
    raise AttributeError(f"module 'toygrpc' has no attribute {name!r}")
