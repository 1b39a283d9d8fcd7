"""``toygrpc gen``, ``serve`` and ``call``: the Hello service the traces are made of."""

from __future__ import annotations

from toygrpc.cmdline import Subcommands


def register(commands: Subcommands) -> None:
    from toygrpc import client, gen, server

    gen_command = commands.add_parser(
        "gen", help="generate the Python stubs of hello.proto (needs the [gen] extra)")
    gen.build_parser(gen_command)
    gen_command.set_defaults(handler=gen.run)

    serve = commands.add_parser("serve", help="run the Hello server (loopback by default)")
    server.build_parser(serve)
    serve.set_defaults(handler=server.run)

    call = commands.add_parser("call", help="call the Hello server and print the replies")
    client.build_parser(call)
    call.set_defaults(handler=client.run)

