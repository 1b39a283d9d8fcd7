"""``toygrpc completion SHELL``: a completion script generated from the parser itself.

Generated (by shtab) rather than written by hand, so that every command and option the
parser knows completes, and nothing it does not.
"""

from __future__ import annotations

import argparse

from toygrpc.cmdline import Subcommands
from toygrpc.errors import UsageError

SHELLS = ("bash", "zsh", "tcsh")
INSTALL = {
    "bash": 'eval "$(toygrpc completion bash)"  (in ~/.bashrc), or save it under '
            "~/.local/share/bash-completion/completions/toygrpc",
    "zsh": "toygrpc completion zsh > ~/.zfunc/_toygrpc  (with fpath+=~/.zfunc before compinit)",
    "tcsh": "toygrpc completion tcsh > ~/.toygrpc.completion.csh; source it from ~/.tcshrc",
}


def register(commands: Subcommands) -> None:
    completion = commands.add_parser(
        "completion", help="print a shell completion script (bash, zsh or tcsh)",
        description="Print a completion script for SHELL, generated from toygrpc's own "
        "parser. " + " ".join(f"{shell}: {how}." for shell, how in INSTALL.items()))
    completion.add_argument("shell", choices=SHELLS, metavar="SHELL",
                            help=f"one of {', '.join(SHELLS)}")
    completion.set_defaults(handler=run)


def script(shell: str) -> str:
    """The completion script of the whole ``toygrpc`` command for ``shell``."""
    try:
        import shtab
    except ImportError:  # a dependency, but an install made with --no-deps lacks it
        raise UsageError("shell completion needs shtab, which is not installed: "
                         "pip install shtab") from None

    from toygrpc.cli import build_parser

    return str(shtab.complete(build_parser(), shell=shell))


def run(args: argparse.Namespace) -> int:
    print(script(args.shell), end="")
    return 0
