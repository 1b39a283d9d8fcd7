"""``toygrpc gen``, ``serve`` and ``call``: the Hello service the traces are made of."""

from __future__ import annotations

import argparse

from toygrpc.cmdline import Subcommands


def register(commands: Subcommands) -> None:
    from toygrpc import client, server

    gen = commands.add_parser("gen", help="regenerate toygrpc/generated/ from proto/")
    gen.set_defaults(handler=_run_gen)

    serve = commands.add_parser("serve", help="run the Hello server (loopback by default)")
    server.build_parser(serve)
    serve.set_defaults(handler=server.run)

    call = commands.add_parser("call", help="call the Hello server and print the replies")
    client.build_parser(call)
    call.set_defaults(handler=client.run)


def _run_gen(args: argparse.Namespace) -> int:
    from toygrpc import gen

    return gen.main([])
