"""The Node.js (grpc-js) client and server under ``interop/node``, as argument lists.

A peer that is not Python shows which parts of a trace belong to grpc.aio and which to
the other side of the wire; ``toygrpc trace server --driver node`` uses the client as its
untraced driver. Nothing here builds a shell string.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from toygrpc.client import METHODS
from toygrpc.errors import UsageError

NODE_DIR = Path(__file__).resolve().parent.parent.parent / "interop" / "node"
"""The npm project: client.js, server.js and their locked modules."""

MIN_NODE_MAJOR = 18
REQUIRED_MODULES = ("@grpc/grpc-js", "@grpc/proto-loader")
INSTALL_HINT = "run: npm ci --prefix interop/node"


def node_executable() -> str:
    """The ``node`` on PATH; a UsageError saying what to install when there is none."""
    found = shutil.which("node")
    if found is None:
        raise UsageError(f"Node.js is not installed (no `node` on PATH): install Node.js "
                         f"{MIN_NODE_MAJOR} or newer, then {INSTALL_HINT}")
    return found


def check_node_ready() -> None:
    """Fail early with a one-line fix, rather than with a Node stack trace mid-capture."""
    if not (NODE_DIR / "client.js").is_file():
        raise UsageError(f"{NODE_DIR} is missing: the Node interop needs a source checkout "
                         "of toygrpc")
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
               if not (NODE_DIR / "node_modules" / name / "package.json").is_file()]
    if missing:
        raise UsageError(f"the Node modules {', '.join(missing)} are not installed in "
                         f"interop/node; {INSTALL_HINT}")


def node_client_command(target: str, method: str, rpcs: int, x: str = "hey",
                        timeout: float = 5.0) -> list[str]:
    """``client.js`` calling ``target`` ``rpcs`` times per shape, one RPC after another."""
    if method not in (*METHODS, "all"):
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}, or all")
    if rpcs < 1:
        raise ValueError(f"rpcs must be at least 1, got {rpcs}")
    if not timeout > 0:
        raise ValueError(f"timeout must be more than 0, got {timeout}")
    return [node_executable(), str(NODE_DIR / "client.js"), "--target", target,
            "--method", method, "--rpcs", str(rpcs), f"--x={x}", "--timeout", repr(float(timeout))]


def node_server_command(bind: str) -> list[str]:
    """``server.js`` on ``bind``; it prints ``READY_PREFIX`` and the real address once ready."""
    return [node_executable(), str(NODE_DIR / "server.js"), "--bind", bind]
