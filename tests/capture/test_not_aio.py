"""A program that uses synchronous grpc: one clear line, and no thread misnamed."""

from __future__ import annotations

from pathlib import Path

from toygrpc.capture.launch import CaptureOptions
from toygrpc.pipeline import capture_run

SYNC_PROGRAM = '''
from concurrent import futures
import grpc
from toygrpc.generated import hello_pb2, hello_pb2_grpc


class Greeter(hello_pb2_grpc.HelloServiceServicer):
    def Hello(self, request, context):
        return hello_pb2.HelloResponse(x="hi " + request.x)


server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
hello_pb2_grpc.add_HelloServiceServicer_to_server(Greeter(), server)
port = server.add_insecure_port("127.0.0.1:0")
server.start()
with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
    stub = hello_pb2_grpc.HelloServiceStub(channel)
    for n in range(3):
        print(stub.Hello(hello_pb2.HelloRequest(x=str(n))).x)
server.stop(None)
'''


def test_synchronous_grpc_is_named_once_and_no_thread_is_misnamed(tmp_path: Path) -> None:
    program = tmp_path / "sync_program.py"
    program.write_text(SYNC_PROGRAM)
    run = capture_run(CaptureOptions(mode="run", out=tmp_path / "run", python_layer=False,
                                     script=(str(program),)))
    lines = [d for d in run.timeline.diagnostics if "without grpc.aio" in d]
    assert len(lines) == 1, run.timeline.diagnostics
    assert "toygrpc traces grpc.aio" in lines[0] and "core batch(es)" in lines[0]
    assert run.analysis.rpcs == []
    roles = set(run.timeline.threads.values())
    # grpc.aio's poller does not exist here; the thread-pool workers are Python's
    assert "poller" not in roles
    assert any(role.startswith("python ThreadPoolExecutor") for role in roles), roles
    python_tids = {tid for (_, tid), role in run.timeline.threads.items()
                   if role.startswith("python ")}
    core_tids = {tid for (_, tid), role in run.timeline.threads.items() if role == "core"}
    assert not python_tids & core_tids


def test_grpc_aio_program_has_no_such_line(tmp_path: Path) -> None:
    run = capture_run(CaptureOptions(mode="client", out=tmp_path / "run", rpcs=2,
                                     python_layer=False))
    assert not [d for d in run.timeline.diagnostics if "without grpc.aio" in d]
    assert "poller" in set(run.timeline.threads.values())
