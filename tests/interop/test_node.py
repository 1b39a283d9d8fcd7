"""Interop with grpc-js: the Node client against the Python server, and the reverse.

Needs Node.js and ``npm ci --prefix interop/node``: skipped on a developer machine without
them, failed in CI (CI=true), where .ci/run installs the modules.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require, start_server
from toygrpc.errors import UsageError
from toygrpc.interop import node
from toygrpc.workload import READY_PREFIX

pytestmark = pytest.mark.node

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 60.0

# The exact lines `toygrpc call` prints for --x hey, one list per method shape.
EXPECTED = {
    "unary": ["Hello, hey!"],
    "server-stream": ["Hello, hey! #1", "Hello, hey! #2", "Hello, hey! #3"],
    "client-stream": ["Hello, hey1, hey2, hey3!"],
    "bidi": ["Hello, hey1!", "Hello, hey2!", "Hello, hey3!"],
}
EXPECTED_ALL = [line for lines in EXPECTED.values() for line in lines]


def require_node_binary() -> None:
    require(shutil.which("node") is not None, "Node.js is not installed (no `node` on PATH)")


def require_node() -> None:
    try:
        node.check_node_ready()
    except UsageError as error:
        require(False, str(error))


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                          cwd=REPO_ROOT, check=False)


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    """Stop a server with ``sig``; return its exit status (killing it if it hangs)."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise AssertionError(f"the server ignored signal {sig} for 10s") from None


@pytest.fixture(scope="module")
def python_server() -> Iterator[str]:
    require_node()
    proc, address = start_server()
    yield address
    stop(proc)


def start_node_server(bind: str = "localhost:0") -> tuple[subprocess.Popen[str], str]:
    """Start ``server.js`` and wait for its ready line; return it and its address."""
    proc = subprocess.Popen(node.node_server_command(bind), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith(READY_PREFIX):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"the Node server did not start: {line!r} {err}")
    return proc, line[len(READY_PREFIX):].strip()


@pytest.fixture(scope="module")
def node_server() -> Iterator[str]:
    require_node()
    proc, address = start_node_server()
    yield address
    assert stop(proc) == 0


def closed_port() -> int:
    """A loopback port nothing listens on: bound once by us, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("method", list(EXPECTED))
def test_node_client_calls_python_server(python_server: str, method: str) -> None:
    result = run(node.node_client_command(python_server, method, rpcs=1))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == EXPECTED[method]


def test_node_client_repeats_each_shape_and_summarises(python_server: str) -> None:
    result = run(node.node_client_command(python_server, "all", rpcs=3, x="yo"))
    assert (result.returncode, result.stderr) == (0, "")
    first, summary = result.stdout.splitlines()
    assert first == "Hello, yo!"
    assert re.fullmatch(r"12 RPCs ok in \d+\.\d{3}s", summary)


def test_python_client_calls_node_server(node_server: str) -> None:
    result = run([sys.executable, "-m", "toygrpc.client", "--target", node_server,
                  "--method", "all"])
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == EXPECTED_ALL


def test_node_server_answers_on_ipv4_and_ipv6_loopback(node_server: str) -> None:
    port = node_server.rpartition(":")[2]
    for target in (f"127.0.0.1:{port}", f"[::1]:{port}"):
        result = run([sys.executable, "-m", "toygrpc.client", "--target", target,
                      "--method", "client-stream", "--x", "v"])
        assert (target, result.returncode, result.stdout) == (target, 0, "Hello, v1, v2, v3!\n")


def test_node_client_against_closed_port_is_one_line_and_exit_2() -> None:
    require_node()
    target = f"127.0.0.1:{closed_port()}"
    result = run(node.node_client_command(target, "unary", rpcs=1))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"node client: cannot reach a server at {target}: ")


def test_node_server_port_in_use_is_one_line_and_exit_2(node_server: str) -> None:
    result = run(node.node_server_command(node_server))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"node server: port {node_server.rpartition(':')[2]} is already in use on localhost; "
        "stop the other server or pick another port with --bind"
    ]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_node_server_stops_cleanly_on_signal(sig: int) -> None:
    require_node()
    proc, address = start_node_server()
    assert run([sys.executable, "-m", "toygrpc.client", "--target", address]).returncode == 0
    assert stop(proc, sig) == 0
    assert proc.stderr is not None and proc.stderr.read() == ""


def test_check_node_ready_names_the_fix_when_modules_are_missing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    require_node_binary()
    (tmp_path / "client.js").touch()
    monkeypatch.setattr(node, "NODE_DIR", tmp_path)
    monkeypatch.delenv(node.NODE_DIR_ENV, raising=False)
    with pytest.raises(UsageError, match=rf"npm ci --prefix {re.escape(str(tmp_path))}$"):
        node.check_node_ready()


def test_check_node_ready_names_the_fix_without_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.devnull)
    with pytest.raises(UsageError, match=r"Node\.js is not installed"):
        node.check_node_ready()


def test_commands_are_argument_lists_with_every_flag() -> None:
    require_node_binary()
    command = node.node_client_command("localhost:1", "bidi", 7, x="a b; $(c)", timeout=2.5)
    assert command[1:] == [str(node.NODE_DIR / "client.js"), "--target", "localhost:1",
                           "--method", "bidi", "--rpcs", "7", "--x=a b; $(c)", "--timeout", "2.5"]
    assert node.node_server_command("[::1]:0")[1:] == [str(node.NODE_DIR / "server.js"),
                                                      "--bind", "[::1]:0"]
    with pytest.raises(ValueError, match="unknown method"):
        node.node_client_command("localhost:1", "stream", 1)
