"""The Hello service between separate processes: generation, round trips, reflection,
health, and the one-line errors of `toygrpc serve` and `toygrpc call`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.conftest import start_server
from toygrpc import gen

EXPECTED_ALL = [
    "Hello, hey!",
    "Hello, hey! #1", "Hello, hey! #2", "Hello, hey! #3",
    "Hello, hey1, hey2, hey3!",
    "Hello, hey1!", "Hello, hey2!", "Hello, hey3!",
]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_committed_stubs_equal_a_fresh_generation(tmp_path: Path) -> None:
    fresh = gen.generate_into(tmp_path)
    assert {p.name for p in fresh} == {"hello_pb2.py", "hello_pb2.pyi", "hello_pb2_grpc.py",
                                       "hello_pb2_grpc.pyi"}
    for path in fresh:
        committed = gen.GENERATED_DIR / path.name
        assert committed.read_bytes() == path.read_bytes(), f"{path.name}: run `toygrpc gen`"


def test_service_has_no_proto_package() -> None:
    from toygrpc.generated import hello_pb2

    service = hello_pb2.DESCRIPTOR.services_by_name["HelloService"]
    assert service.full_name == "HelloService"
    assert [m.name for m in service.methods] == [
        "Hello", "HelloServerStream", "HelloClientStream", "HelloBidiStream"]


@pytest.mark.parametrize("entry", [("toygrpc.client",), ("toygrpc", "call")])
def test_all_four_shapes_round_trip(hello_server: str, entry: tuple[str, ...]) -> None:
    result = run(*entry, "--target", hello_server, "--method", "all")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == EXPECTED_ALL


def test_loopback_on_both_address_families(hello_server: str) -> None:
    port = hello_server.rpartition(":")[2]
    for target in (f"127.0.0.1:{port}", f"[::1]:{port}", f"[::]:{port}"):
        result = run("toygrpc.client", "--target", target)
        assert result.returncode == 0, (target, result.stderr)
        assert result.stdout == "Hello, hey!\n"


def test_reflection_lists_and_describes_the_service(hello_server: str) -> None:
    with grpc.insecure_channel(hello_server) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert "HelloService" in database.get_services()
        file = database.FindFileContainingSymbol("HelloService")
        methods = [m.name for s in file.service if s.name == "HelloService" for m in s.method]
        assert methods == ["Hello", "HelloServerStream", "HelloClientStream", "HelloBidiStream"]


def test_health_is_serving(hello_server: str) -> None:
    with grpc.insecure_channel(hello_server) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                          timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_server_stops_cleanly_on_signal(signal_name: str) -> None:
    import signal

    proc, _ = start_server()
    proc.send_signal(getattr(signal, signal_name))
    assert proc.wait(timeout=15) == 0


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_port_in_use(hello_server: str) -> None:
    port = hello_server.rpartition(":")[2]
    line = one_line_error(run("toygrpc", "serve", "--bind", f"localhost:{port}"))
    assert f"port {port} is already in use" in line


@pytest.mark.parametrize("bad", ["foo", "host:", ":80", "host:99999", "[::1"])
def test_malformed_addresses(bad: str) -> None:
    assert "malformed --bind" in one_line_error(run("toygrpc", "serve", "--bind", bad))
    assert "malformed --target" in one_line_error(run("toygrpc", "call", "--target", bad))


def test_unreachable_server_names_the_address() -> None:
    line = one_line_error(run("toygrpc", "call", "--target", "127.0.0.1:1", "--timeout", "5"))
    assert "cannot reach a server at 127.0.0.1:1" in line


def test_deadline_exceeded() -> None:
    import socket

    # A peer that accepts TCP but never speaks HTTP/2: the call can only time out.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        line = one_line_error(run("toygrpc", "call", "--target", f"127.0.0.1:{port}",
                                  "--timeout", "0.5"))
    assert "deadline exceeded after 0.5s" in line


@pytest.mark.parametrize("args", [("call", "--rpcs", "0"), ("frobnicate",)])
def test_bad_arguments(args: tuple[str, ...]) -> None:
    one_line_error(run("toygrpc", *args))


@pytest.mark.parametrize("command", [(), ("serve",), ("call",), ("trace", "client")])
def test_help_explains(command: tuple[str, ...]) -> None:
    result = run("toygrpc", *command, "--help")
    assert result.returncode == 0 and "usage: toygrpc" in result.stdout
