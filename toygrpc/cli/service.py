"""``toygrpc gen``, ``serve`` and ``call``: the Hello service the traces are made of."""

from __future__ import annotations

import argparse

from toygrpc.cmdline import Subcommands


def _serve(args: argparse.Namespace) -> int:
    from toygrpc import server  # grpc is imported when a server runs, not for the parser

    return server.run(args)


def _call(args: argparse.Namespace) -> int:
    from toygrpc import client

    return client.run(args)


def register(commands: Subcommands) -> None:
    from toygrpc import gen
    from toygrpc.workload import build_client_parser, build_server_parser

    gen_command = commands.add_parser(
        "gen", help="generate the Python stubs of hello.proto (needs the [gen] extra)")
    gen.build_parser(gen_command)
    gen_command.set_defaults(handler=gen.run)

    serve = commands.add_parser("serve", help="run the Hello server (loopback by default)")
    build_server_parser(serve)
    serve.set_defaults(handler=_serve)

    call = commands.add_parser("call", help="call the Hello server and print the replies")
    build_client_parser(call)
    call.set_defaults(handler=_call)
