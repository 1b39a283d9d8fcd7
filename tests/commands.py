"""Running toygrpc's commands as separate processes, the way a user does.

Shared by the service-layer tests (test_server.py, test_cli.py). Commands are started
with the interpreter that runs the tests, so they use the editable install under test.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

# What `--method all` prints, shape by shape, for the default --x hey.
EXPECTED_ALL = [
    "Hello, hey!",                                      # unary
    "Hello, hey! #1", "Hello, hey! #2", "Hello, hey! #3",  # server stream
    "Hello, hey1, hey2, hey3!",                         # client stream
    "Hello, hey1!", "Hello, hey2!", "Hello, hey3!",     # bidi
]
RUN_TIMEOUT_S = 30.0


def toygrpc_script() -> str | None:
    """The installed ``toygrpc`` console script next to this interpreter, or on PATH."""
    beside = Path(sys.executable).parent / "toygrpc"
    return str(beside) if beside.is_file() else shutil.which("toygrpc")


def module(*args: str) -> list[str]:
    """``python -m ARGS`` with the interpreter under test."""
    return [sys.executable, "-m", *args]


def run(argv: Sequence[str], timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run a command to its end; one that outlives ``timeout`` is killed and reported as such."""
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += f"\n[killed: still running after {timeout:g}s]"
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


def run_all(commands: Mapping[str, Sequence[str]],
            timeout: float = RUN_TIMEOUT_S) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run independent commands side by side (most of their time is interpreter start-up)."""
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = {name: pool.submit(run, argv, timeout) for name, argv in commands.items()}
        return {name: future.result() for name, future in futures.items()}


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """Assert the command failed as a usage error: exit 2, one line on stderr, no traceback."""
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def one_line_rpc_failure(result: subprocess.CompletedProcess[str], status_code: int) -> str:
    """Assert the command made a call that failed: exit 64 + the gRPC status code, one line."""
    assert result.returncode == 64 + status_code, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (bound once by the kernel's choice, then freed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@contextmanager
def silent_listener(host: str = "127.0.0.1") -> Iterator[int]:
    """A TCP port that accepts connections but never speaks HTTP/2; yields the port."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])
