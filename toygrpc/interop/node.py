"""The Node.js (grpc-js) client and server under ``interop/node``, as argument lists.

A peer that is not Python shows which parts of a trace belong to grpc.aio and which to
the other side of the wire; ``toygrpc trace server --driver node`` uses the client as its
untraced driver. Nothing here builds a shell string.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from toygrpc.errors import UsageError
from toygrpc.workload import METHODS

NODE_DIR = Path(__file__).resolve().parent.parent.parent / "interop" / "node"
"""The npm project of a clone: client.js, server.js and their locked modules. It is not
part of the installed package (it needs npm modules of its own): TOYGRPC_NODE_DIR names
the interop/node of a clone when toygrpc runs from an installed wheel."""
NODE_DIR_ENV = "TOYGRPC_NODE_DIR"

MIN_NODE_MAJOR = 18
REQUIRED_MODULES = ("@grpc/grpc-js", "@grpc/proto-loader")


def node_dir() -> Path:
    """Where the Node interop is: $TOYGRPC_NODE_DIR, else the clone's interop/node."""
    override = os.environ.get(NODE_DIR_ENV)
    return Path(override) if override else NODE_DIR


def install_hint() -> str:
    return f"run: npm ci --prefix {node_dir()}"


def node_executable() -> str:
    """The ``node`` on PATH; a UsageError saying what to install when there is none."""
    found = shutil.which("node")
    if found is None:
        raise UsageError(f"Node.js is not installed (no `node` on PATH): install Node.js "
                         f"{MIN_NODE_MAJOR} or newer, then {install_hint()}")
    return found


def check_node_ready() -> None:
    """Fail early with a one-line fix, rather than with a Node stack trace mid-capture."""
    where = node_dir()
    if not (where / "client.js").is_file():
        raise UsageError(f"the Node interop is not at {where}: it is not part of the installed "
                         "package; clone toygrpc, run `npm ci --prefix interop/node` there and "
                         f"set {NODE_DIR_ENV}=<clone>/interop/node (or pip install -e the clone)")
    node = node_executable()
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True,
                                 timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"`{node} --version` failed ({exc}); reinstall Node.js") from None
    major = version.lstrip("v").split(".", 1)[0]
    if not major.isdigit() or int(major) < MIN_NODE_MAJOR:
        raise UsageError(f"Node.js {version} is too old: install Node.js {MIN_NODE_MAJOR} "
                         "or newer")
    missing = [name for name in REQUIRED_MODULES
               if not (where / "node_modules" / name / "package.json").is_file()]
    if missing:
        raise UsageError(f"the Node modules {', '.join(missing)} are not installed in "
                         f"{where}; {install_hint()}")


def node_client_command(target: str, method: str, rpcs: int, x: str = "hey",
                        timeout: float = 5.0) -> list[str]:
    """``client.js`` calling ``target`` ``rpcs`` times per shape, one RPC after another."""
    if method not in (*METHODS, "all"):
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}, or all")
    if rpcs < 1:
        raise ValueError(f"rpcs must be at least 1, got {rpcs}")
    if not timeout > 0:
        raise ValueError(f"timeout must be more than 0, got {timeout}")
    return [node_executable(), str(node_dir() / "client.js"), "--target", target,
            "--method", method, "--rpcs", str(rpcs), f"--x={x}", "--timeout", repr(float(timeout))]


def node_server_command(bind: str) -> list[str]:
    """``server.js`` on ``bind``; it prints ``READY_PREFIX`` and the real address once ready."""
    return [node_executable(), str(node_dir() / "server.js"), "--bind", bind]
