"""``toygrpc call`` for scripts: exit statuses that tell a typo from a failed RPC, ``--json``,
``--quiet``, and one line that explains a server out of resources.

Every failure here is a real one, from a real server process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.commands import free_port, module, one_line_error, one_line_rpc_failure, run
from tests.conftest import start_server
from toygrpc.workload import SERVER_PENDING_CALLS

CANCELLED, RESOURCE_EXHAUSTED, INTERNAL, UNAVAILABLE = 1, 8, 13, 14

# A plain (thread pool) grpc server that admits one RPC at a time and holds it: a second
# concurrent call is refused by grpc itself with RESOURCE_EXHAUSTED.
ONE_AT_A_TIME_SERVER = '''
import threading
from concurrent import futures
import grpc
from toygrpc.generated import hello_pb2, hello_pb2_grpc

class Holding(hello_pb2_grpc.HelloServiceServicer):
    def Hello(self, request, context):
        threading.Event().wait(30)
        return hello_pb2.HelloResponse(x="late")

server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), maximum_concurrent_rpcs=1)
hello_pb2_grpc.add_HelloServiceServicer_to_server(Holding(), server)
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(port, flush=True)
server.wait_for_termination()
'''

# A grpc.aio Hello server whose event loop stalls for 3 s on the first call of each client:
# the loop takes no call meanwhile, so a burst larger than the core's queue of calls not
# yet taken overflows it on any machine, however fast the server would otherwise drain.
STALLING_SERVER = '''
import asyncio, time
import grpc
from toygrpc.generated import hello_pb2, hello_pb2_grpc

class Stalling(hello_pb2_grpc.HelloServiceServicer):
    clients = set()

    def stall_on_a_new_client(self, context):
        if context.peer() not in self.clients:
            self.clients.add(context.peer())
            time.sleep(3)

    async def Hello(self, request, context):
        self.stall_on_a_new_client(context)
        return hello_pb2.HelloResponse(x="Hello")

    async def HelloBidiStream(self, requests, context):
        self.stall_on_a_new_client(context)
        async for request in requests:
            yield hello_pb2.HelloResponse(x="Hello")

async def main():
    server = grpc.aio.server()
    hello_pb2_grpc.add_HelloServiceServicer_to_server(Stalling(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()

asyncio.run(main())
'''


def call(*args: str) -> subprocess.CompletedProcess[str]:
    return run(module("toygrpc", "call", *args), timeout=60)


def server_script(script: str) -> Iterator[str]:
    """Run one of the servers above; yield its loopback address."""
    proc = subprocess.Popen([sys.executable, "-c", script],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = proc.stdout.readline().strip()
    assert port.isdigit(), port
    yield f"127.0.0.1:{port}"
    proc.kill()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def one_at_a_time() -> Iterator[str]:
    yield from server_script(ONE_AT_A_TIME_SERVER)


@pytest.fixture(scope="module")
def stalling_server() -> Iterator[str]:
    yield from server_script(STALLING_SERVER)


@pytest.fixture(scope="module")
def own_server() -> Iterator[str]:
    """A Hello server of this module alone: the overload test must not disturb others."""
    proc, address = start_server()
    yield address
    proc.terminate()
    proc.wait(timeout=20)


def test_json_reports_the_replies(hello_server: str) -> None:
    result = call("--target", hello_server, "--method", "server-stream", "--rpcs", "2",
                  "--x", "j", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["replies"] == [["Hello, j! #1", "Hello, j! #2", "Hello, j! #3"]] * 2
    assert (report["target"], report["method"], report["rpcs"]) == (hello_server,
                                                                   "server-stream", 2)
    assert report["elapsed_s"] > 0 and result.stderr == ""


def test_json_reports_a_failed_call_and_keeps_its_exit_status() -> None:
    target = f"127.0.0.1:{free_port()}"
    result = call("--target", target, "--json")
    line = one_line_rpc_failure(result, UNAVAILABLE)
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["error"]["status"] == "UNAVAILABLE" and report["error"]["code"] == UNAVAILABLE
    assert report["error"]["exit_status"] == 64 + UNAVAILABLE == result.returncode
    assert line == f"toygrpc call: {report['error']['message']}"


def test_quiet_prints_nothing(hello_server: str) -> None:
    result = call("--target", hello_server, "--rpcs", "3", "--quiet")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_quiet_still_reports_a_failure() -> None:
    result = call("--target", f"127.0.0.1:{free_port()}", "-q")
    assert "cannot reach a server" in one_line_rpc_failure(result, UNAVAILABLE)


def test_json_and_quiet_together_are_a_usage_error() -> None:
    line = one_line_error(call("--json", "--quiet"))
    assert "not allowed with argument" in line


def test_usage_error_and_failed_rpc_exit_differently() -> None:
    """The same unreachable target: mistyped, it is 2; well-formed, the call fails with 78."""
    assert call("--target", "127.0.0.1").returncode == 2
    assert call("--target", f"127.0.0.1:{free_port()}").returncode == 64 + UNAVAILABLE


def test_a_server_that_refuses_more_calls_is_explained(one_at_a_time: str) -> None:
    result = call("--target", one_at_a_time, "--rpcs", "2", "--concurrency", "2")
    line = one_line_rpc_failure(result, RESOURCE_EXHAUSTED)
    assert line.startswith(f"toygrpc call: RPC to {one_at_a_time} failed with "
                           "RESOURCE_EXHAUSTED: ")
    assert "lower --concurrency (now 2)" in line


def test_more_concurrent_calls_than_a_server_queues_are_explained(
    own_server: str, stalling_server: str
) -> None:
    """Far above grpc's queue of calls a server has not taken yet (1000, cut at 3000 at
    most), the core cancels the excess: the user sees why, and what to change."""
    # At the limit, a fresh server answers every call: the queue never holds more.
    result = call("--target", own_server, "--rpcs", str(SERVER_PENDING_CALLS),
                  "--concurrency", str(SERVER_PENDING_CALLS))
    assert result.returncode == 0, result.stderr
    many = str(4 * SERVER_PENDING_CALLS)
    result = call("--target", stalling_server, "--rpcs", many, "--concurrency", many)
    line = one_line_rpc_failure(result, CANCELLED)
    assert line.startswith(f"toygrpc call: the server at {stalling_server} cut calls (CANCELLED: ")
    assert f"{many} calls at once overflow the queue" in line
    assert "grpc.server.max_pending_requests" in line
    assert line.endswith(f"lower --concurrency to {SERVER_PENDING_CALLS} or less")


def test_streams_cut_by_an_overflowing_server_are_explained_too(stalling_server: str) -> None:
    """A bidi call still sending when the server cuts its stream fails as INTERNAL."""
    many = str(4 * SERVER_PENDING_CALLS)
    result = call("--target", stalling_server, "--rpcs", many, "--concurrency", many,
                  "--method", "bidi")
    assert result.returncode in (64 + CANCELLED, 64 + INTERNAL), result
    assert "calls at once overflow the queue" in result.stderr
    assert result.stderr.count("\n") == 1


def test_target_dash_reads_the_address_from_standard_input(hello_server: str) -> None:
    """``--target -``: the address comes on stdin once the client is ready (how a capture
    starts the client beside the server); nothing there is a one-line usage error."""
    argv = module("toygrpc.client", "--target", "-", "--rpcs", "2", "--json")
    given = subprocess.run(argv, input=f"{hello_server}\n", capture_output=True, text=True,
                           timeout=60, check=False)
    assert given.returncode == 0, given.stderr
    report = json.loads(given.stdout)
    assert report["target"] == hello_server and report["replies"] == [["Hello, hey!"]] * 2
    empty = subprocess.run(argv, input="", capture_output=True, text=True, timeout=60,
                           check=False)
    assert "--target -: no address on standard input" in one_line_error(empty)
