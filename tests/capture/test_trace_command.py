"""``toygrpc trace`` as a user runs it: real subprocesses, real grpc.aio programs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require

UVLOOP_PROGRAM = '''
import asyncio, grpc, uvloop
from toygrpc.generated import hello_pb2, hello_pb2_grpc
from toygrpc.server import HelloServicer

async def main():
    server = grpc.aio.server()
    hello_pb2_grpc.add_HelloServiceServicer_to_server(HelloServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = await hello_pb2_grpc.HelloServiceStub(channel).Hello(hello_pb2.HelloRequest(x="uv"))
        print(reply.x)
    await server.stop(None)

uvloop.run(main())
'''


def toygrpc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "toygrpc", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, check=False)


def test_trace_run_captures_an_unchanged_program(tmp_path: Path, repo_root: Path) -> None:
    out = tmp_path / "run"
    result = toygrpc("trace", "run", "--out", str(out), "--no-python",
                     str(repo_root / "examples" / "own_program.py"), "4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Hello, call") == 4  # the program's own output comes through
    summary = json.loads((out / "summary.json").read_text())
    sides = [r["side"] for r in summary["rpcs"]]
    assert sides.count("client") == 4 and sides.count("server") == 4
    assert summary["complete_rpcs"] == 8
    assert (out / "program" / "stdout.txt").read_text().count("Hello, call") == 4


def test_a_loop_that_cannot_be_hooked_is_named(tmp_path: Path) -> None:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        require(False, "uvloop is not installed (pip install -e '.[test]')")
    program = tmp_path / "uv_program.py"
    program.write_text(UVLOOP_PROGRAM)
    out = tmp_path / "run"
    result = toygrpc("trace", "run", "--out", str(out), "--no-python", str(program))
    assert result.returncode == 0, result.stderr
    assert "Hello, uv!" in result.stdout
    assert "uvloop.Loop" in result.stderr and "cannot be hooked" in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert "loop.create_future" in summary["hooks"]["program"]["failed"]
    # what could be captured is still there: the core's trace and the glue spans
    assert summary["hook_counts"]["program"]["glue.execute_batch"] > 0
    assert (out / "program" / "core.log").stat().st_size > 0


@pytest.mark.parametrize("args, message", [
    (["trace", "client", "--rpcs", "0"], "must be at least 1"),
    (["trace", "client", "--target", "nohost"], "malformed --target"),
    (["trace", "run", "no_such_program.py"], "no such program"),
    (["trace", "fly"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = toygrpc(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_existing_out_is_not_overwritten_without_force(tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = toygrpc("trace", "client", "--rpcs", "1", "--out", str(out))
    assert result.returncode == 2 and "--force" in result.stderr
    assert (out / "keep.txt").read_text() == "mine"


def test_trace_client_end_to_end_with_streaming_shapes(tmp_path: Path) -> None:
    out = tmp_path / "all"
    result = toygrpc("trace", "client", "--rpcs", "2", "--method", "all", "--no-python",
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    methods = {r["method"] for r in summary["rpcs"]}
    assert methods == {"/HelloService/Hello", "/HelloService/HelloServerStream",
                       "/HelloService/HelloClientStream", "/HelloService/HelloBidiStream"}
    assert summary["complete_rpcs"] == summary["rpc_count"] == 8
    assert (out / "trace.json").is_file()


def test_capture_reports_progress_of_the_rpcs(tmp_path: Path) -> None:
    from toygrpc.capture.launch import CaptureOptions, capture

    seen: list[tuple[int, int]] = []
    cap = capture(CaptureOptions(mode="client", out=tmp_path / "p", rpcs=40, python_layer=False),
                  progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (40, 40)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    # progress lines are the harness's, not the program's output
    assert "toygrpc-progress" not in (cap.process_dir("client") / "stdout.txt").read_text()


@pytest.mark.node
def test_trace_server_driven_by_the_node_client(tmp_path: Path) -> None:
    from toygrpc.errors import UsageError
    from toygrpc.interop import node

    try:
        node.check_node_ready()
    except UsageError as error:
        require(False, str(error))
    out = tmp_path / "server"
    result = toygrpc("trace", "server", "--driver", "node", "--rpcs", "5", "--no-python",
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    server = [r for r in summary["rpcs"] if r["side"] == "server"]
    assert len(server) == 5 and all(r["complete"] for r in server)
