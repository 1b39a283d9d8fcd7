"""The Hello server against clients in other processes, over real loopback.

Round trips of the four method shapes, the addresses a ``localhost`` server answers on,
server reflection, the health service, and a prompt clean exit on SIGTERM and SIGINT.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.commands import (
    EXPECTED_ALL,
    free_port,
    module,
    port_of,
    run,
    run_all,
    toygrpc_script,
)
from tests.conftest import require, start_server
from toygrpc.generated import hello_pb2, hello_pb2_grpc

METHODS = ["Hello", "HelloServerStream", "HelloClientStream", "HelloBidiStream"]
STOP_WITHIN_S = 5.0  # the server's grace is 1 s


@pytest.fixture(scope="module")
def toygrpc() -> str:
    script = toygrpc_script()
    require(script is not None, "the toygrpc console script is not installed")
    assert script is not None
    return script


def hello(target: str, x: str = "hey") -> str:
    with grpc.insecure_channel(target) as channel:
        return str(hello_pb2_grpc.HelloServiceStub(channel).Hello(
            hello_pb2.HelloRequest(x=x), timeout=5).x)


def stop(proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGTERM) -> tuple[int, float]:
    """Signal the server; return its exit status and how long it took to exit."""
    started = time.monotonic()
    proc.send_signal(sig)
    try:
        code = proc.wait(timeout=STOP_WITHIN_S + 10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    return code, time.monotonic() - started


@pytest.fixture
def own_server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A server of the test's own, for tests that stop it; killed if the test did not."""
    proc, address = start_server()
    yield proc, address
    if proc.poll() is None:
        proc.kill()
        proc.wait()


# Round trips --------------------------------------------------------------------------


def test_all_four_shapes_round_trip(hello_server: str, toygrpc: str) -> None:
    """The client as a module, as `toygrpc call` and as `python -m toygrpc call`."""
    results = run_all({
        "python -m toygrpc.client": module("toygrpc.client", "--target", hello_server,
                                           "--method", "all"),
        "toygrpc call": [toygrpc, "call", "--target", hello_server, "--method", "all"],
        "python -m toygrpc call": module("toygrpc", "call", "--target", hello_server,
                                         "--method", "all"),
    })
    for how, result in results.items():
        assert result.returncode == 0, (how, result.stderr)
        assert result.stdout.splitlines() == EXPECTED_ALL, how
        assert result.stderr == "", how


@pytest.mark.parametrize(("method", "expected"), [
    ("unary", ["Hello, wörld!"] * 2),
    ("server-stream", ["Hello, wörld! #1", "Hello, wörld! #2", "Hello, wörld! #3"] * 2),
    ("client-stream", ["Hello, wörld1, wörld2, wörld3!"] * 2),
    ("bidi", ["Hello, wörld1!", "Hello, wörld2!", "Hello, wörld3!"] * 2),
])
def test_each_shape_with_x_and_rpcs(hello_server: str, toygrpc: str, method: str,
                                    expected: list[str]) -> None:
    result = subprocess.run(
        [toygrpc, "call", "--target", hello_server, "--method", method, "--x", "wörld",
         "--rpcs", "2", "--concurrency", "2"],
        capture_output=True, encoding="utf-8", timeout=30, check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected


def test_many_rpcs_print_a_summary(hello_server: str) -> None:
    result = run(module("toygrpc.client", "--target", hello_server, "--method", "bidi",
                        "--rpcs", "12", "--concurrency", "4"))
    assert result.returncode == 0, result.stderr
    first, summary = result.stdout.splitlines()
    assert first == "Hello, hey1!"
    assert re.fullmatch(r"12 RPCs ok in \d+\.\d{3}s", summary), summary


# Addresses ----------------------------------------------------------------------------


def test_localhost_server_answers_on_both_families(hello_server: str) -> None:
    """Bound to localhost:PORT, the server is 127.0.0.1:PORT and [::1]:PORT (and [::] -> ::1)."""
    assert hello_server.startswith("localhost:")
    port = port_of(hello_server)
    targets = [f"127.0.0.1:{port}", f"[::1]:{port}", f"[::]:{port}"]
    results = run_all({t: module("toygrpc.client", "--target", t) for t in targets})
    for target, result in results.items():
        assert result.returncode == 0, (target, result.stderr)
        assert result.stdout == "Hello, hey!\n", target


@pytest.mark.parametrize(("bind", "other"), [("127.0.0.1", "[::1]"), ("[::1]", "127.0.0.1")])
def test_bind_one_family_only(bind: str, other: str) -> None:
    """The ready line prints the bound host and the chosen port; the other family is not bound."""
    proc, address = start_server("--bind", f"{bind}:0")
    try:
        assert re.fullmatch(rf"{re.escape(bind)}:\d+", address), address
        assert hello(address) == "Hello, hey!"
        with pytest.raises(grpc.RpcError) as refused:
            hello(f"{other}:{port_of(address)}")
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_restart_on_the_same_port_right_after_a_stop() -> None:
    """A stopped server's connections in TIME_WAIT do not make its port "already in use"."""
    port = free_port()
    proc, address = start_server("--bind", f"localhost:{port}")
    try:
        assert hello(address) == "Hello, hey!"
        # A connection the server accepted and that outlives it: the server closes first,
        # which leaves its end (local port PORT) in TIME_WAIT once this end closes too.
        peer = socket.create_connection(("127.0.0.1", port), timeout=5)
        time.sleep(0.2)  # accepted by grpc's poller
        code, _ = stop(proc)
        assert code == 0
        with peer:
            while peer.recv(4096):  # the server's SETTINGS, then its FIN (not a reset)
                pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    again, address = start_server("--bind", f"localhost:{port}")
    try:
        assert address == f"localhost:{port}"
        assert hello(address) == "Hello, hey!"
    finally:
        again.terminate()
        again.wait(timeout=10)


# Reflection and health ----------------------------------------------------------------


def test_reflection_lists_the_services(hello_server: str) -> None:
    with grpc.insecure_channel(hello_server) as channel:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert "HelloService" in services
    assert "grpc.health.v1.Health" in services
    assert "grpc.reflection.v1alpha.ServerReflection" in services


def test_reflection_describes_the_service(hello_server: str) -> None:
    with grpc.insecure_channel(hello_server) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        file = database.FindFileContainingSymbol("HelloService")
        (service,) = [s for s in file.service if s.name == "HelloService"]
        assert file.package == ""
        assert [m.name for m in service.method] == METHODS
        assert [(m.input_type, m.output_type) for m in service.method] == [
            (".HelloRequest", ".HelloResponse")] * 4
        assert [(m.client_streaming, m.server_streaming) for m in service.method] == [
            (False, False), (False, True), (True, False), (True, True)]
        # What a reflection client does with it: a usable descriptor, by full name.
        described = DescriptorPool(database).FindServiceByName("HelloService")
        assert [m.full_name for m in described.methods] == [f"HelloService.{m}" for m in METHODS]


def test_reflection_does_not_know_other_symbols(hello_server: str) -> None:
    with grpc.insecure_channel(hello_server) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        with pytest.raises(KeyError):
            database.FindFileContainingSymbol("hello.HelloService")


def test_health_is_serving(hello_server: str) -> None:
    with grpc.insecure_channel(hello_server) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


# Stopping -----------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_server_cleanly(own_server: tuple[subprocess.Popen[str], str],
                                         sig: signal.Signals) -> None:
    proc, address = own_server
    assert hello(address) == "Hello, hey!"  # with a connection that has been used
    code, took = stop(proc, sig)
    assert code == 0
    assert took < STOP_WITHIN_S
    _, err = proc.communicate()
    assert "Traceback" not in err and "interrupted" not in err, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_server_during_an_open_stream(
        own_server: tuple[subprocess.Popen[str], str], sig: signal.Signals) -> None:
    """A stream the client never ends delays the exit by the grace period, not forever."""
    proc, address = own_server
    release = threading.Event()

    def requests() -> Iterator[hello_pb2.HelloRequest]:
        yield hello_pb2.HelloRequest(x="a")
        release.wait(30)

    with grpc.insecure_channel(address) as channel:
        replies = hello_pb2_grpc.HelloServiceStub(channel).HelloBidiStream(requests(),
                                                                           timeout=30)
        try:
            assert next(replies).x == "Hello, a!"
            code, took = stop(proc, sig)
            assert code == 0
            assert took < STOP_WITHIN_S
            with pytest.raises(grpc.RpcError) as ended:
                next(replies)
            assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            release.set()



def test_scenarios_are_obeyed_only_when_the_server_is_asked_to(hello_server: str) -> None:
    """A server started plainly ignores the scenario metadata (one of them kills it); one
    started with --scenarios fails each call the way the scenario says, on both ends."""
    plain = run(module("toygrpc.client", "--target", hello_server, "--scenario",
                       "server-abort"))
    assert plain.returncode == 1 and "ended OK" in plain.stdout and "--scenarios" in plain.stdout
    proc, address = start_server("--scenarios")
    try:
        # a stream's writes may race the server's early status (grpc.aio then reports
        # INTERNAL): the failing handlers are tried on unary calls, the waits on streams
        shapes = {"server-abort": "unary", "server-exception": "unary",
                  "client-cancel": "bidi", "deadline-exceeded": "server-stream"}
        results = run_all({name: module("toygrpc.client", "--target", address, "--method",
                                        method, "--messages", "5", "--scenario", name)
                           for name, method in shapes.items()})
        for name, result in results.items():
            assert result.returncode == 0, (name, result.stdout, result.stderr)
            assert "as the scenario expects" in result.stdout
        killed = run(module("toygrpc.client", "--target", address, "--scenario",
                            "server-killed"))
        assert killed.returncode == 0 and "UNAVAILABLE" in killed.stdout, killed
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_server_stream_sends_the_messages_asked_for(hello_server: str) -> None:
    result = run(module("toygrpc.client", "--target", hello_server, "--method",
                        "server-stream", "--messages", "12"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Hello, hey! #12"
    assert len(result.stdout.splitlines()) == 12


@pytest.mark.parametrize("traced", [False, True])
def test_a_stopped_untraced_server_skips_the_last_collections(
        monkeypatch: pytest.MonkeyPatch, traced: bool) -> None:
    """Once stopped, an untraced server freezes what it made (its last garbage collections
    would walk every grpc and protobuf object while ``trace client`` waits); a traced one
    (its hooks loaded) ends as any program does, since its core log records the teardown."""
    import argparse
    import gc
    import sys

    from toygrpc import server

    async def served(bind: str, scenarios: bool) -> None:
        return None

    monkeypatch.setattr(server, "serve", served)
    if traced:
        monkeypatch.setitem(sys.modules, "toygrpc.capture.hooks", sys.modules[__name__])
    else:
        monkeypatch.delitem(sys.modules, "toygrpc.capture.hooks", raising=False)
    gc.unfreeze()
    try:
        assert server.run(argparse.Namespace(bind="localhost:0", scenarios=False)) == 0
        assert (gc.get_freeze_count() > 0) is not traced
    finally:
        gc.unfreeze()
