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
    (["trace", "client", "--sample-threads", "0"], "must be at least 1"),
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
    assert (out / "trace.perfetto-trace").is_file()


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


# -m MODULE, --json, --quiet, optional parts checked first ---------------------------------



def test_trace_run_m_runs_a_module_like_python_m(tmp_path: Path, repo_root: Path) -> None:
    """``trace run -m pkg.own 2 --flag``: found from the current directory, run as __main__
    (or it would make no call), its arguments (options included) its own."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "own.py").write_text("import sys\nprint('argv', sys.argv[1:])\n" +
                                    (repo_root / "examples" / "own_program.py").read_text())
    result = toygrpc("trace", "run", "--out", "run", "--no-python", "-m", "pkg.own", "2",
                     "--flag", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "argv ['2', '--flag']" in result.stdout
    assert result.stdout.count("Hello, call") == 2
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["complete_rpcs"] == 4  # two calls, seen from both of its sides


@pytest.mark.parametrize("args, message", [
    (["trace", "run", "-m", "no_such_module_here"], "no module named 'no_such_module_here'"),
    (["trace", "run", "-m", "not a name"], "not a module name"),
    (["trace", "client", "--json", "--quiet"], "not allowed with argument"),
])
def test_bad_module_or_options_are_one_line(tmp_path: Path, args: list[str],
                                            message: str) -> None:
    result = toygrpc(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing started, nothing written


def test_json_prints_the_run_for_scripts(tmp_path: Path) -> None:
    out = tmp_path / "j"
    result = toygrpc("trace", "client", "--rpcs", "3", "--no-python", "--json", "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # stdout is the JSON alone
    summary = json.loads((out / "summary.json").read_text())
    assert report["run_dir"] == str(out) and report["mode"] == "client"
    assert report["rpc_count"] == summary["rpc_count"] == 3
    assert report["complete_rpcs"] == summary["complete_rpcs"]
    assert str(out / "trace.perfetto-trace") in report["files"]
    assert [(p["role"], p["exit_status"]) for p in report["processes"]] == [
        ("server", 0), ("client", 0)]
    assert report["rpc"]["method"] == "/HelloService/Hello"


def test_json_keeps_a_traced_programs_output_off_stdout(tmp_path: Path, repo_root: Path) -> None:
    result = toygrpc("trace", "run", "--out", str(tmp_path / "r"), "--no-python", "--json",
                     str(repo_root / "examples" / "own_program.py"), "1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["processes"][0]["exit_status"] == 0
    assert "Hello, call 0!" in result.stderr


def test_quiet_prints_no_report(tmp_path: Path) -> None:
    out = tmp_path / "q"
    result = toygrpc("trace", "client", "--rpcs", "2", "--no-python", "--quiet", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert json.loads((out / "summary.json").read_text())["rpc_count"] == 2


def test_a_missing_node_interop_is_named_before_anything_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From an installed wheel there is no interop/node: one line says how to get it, and
    no server was started (the run directory does not exist, so a rerun is not refused)."""
    monkeypatch.setenv("TOYGRPC_NODE_DIR", str(tmp_path / "no-interop"))
    out = tmp_path / "server-run"
    result = toygrpc("trace", "server", "--driver", "node", "--rpcs", "1", "--out", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "the Node interop is not at" in lines[0] and "npm ci --prefix interop/node" in lines[0]
    assert not out.exists()


SECRET_PROGRAM = '''
import asyncio
import grpc
from toygrpc.generated import hello_pb2, hello_pb2_grpc
from toygrpc.server import HelloServicer

async def main():
    server = grpc.aio.server()
    hello_pb2_grpc.add_HelloServiceServicer_to_server(HelloServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = hello_pb2_grpc.HelloServiceStub(channel)
        reply = await stub.Hello(hello_pb2.HelloRequest(x="payload-xyzzy"),
                                 metadata=(("authorization", "Bearer s3cr3t-t0ken-4242"),))
        print("reply of", len(reply.x), "characters")
    await server.stop(None)

asyncio.run(main())
'''
SECRETS = (b"s3cr3t-t0ken-4242", b"xyzzy")


def files_holding(run_dir: Path, secret: bytes) -> list[str]:
    return [str(p) for p in run_dir.rglob("*") if p.is_file() and secret in p.read_bytes()]


def test_metadata_values_leave_no_trace_unless_kept(tmp_path: Path) -> None:
    program = tmp_path / "secret_call.py"
    program.write_text(SECRET_PROGRAM)
    redacted = toygrpc("trace", "run", "--out", str(tmp_path / "redacted"), str(program))
    assert redacted.returncode == 0, redacted.stderr
    for secret in SECRETS:
        assert files_holding(tmp_path / "redacted", secret) == []
        assert secret.decode() not in redacted.stdout + redacted.stderr
    core_log = (tmp_path / "redacted" / "program" / "core.log").read_text()
    assert "key=authorization value=[redacted: 24 bytes" in core_log  # the key stays
    # the same call with --keep-values: the token is there, so the check above can fail
    kept = toygrpc("trace", "run", "--no-python", "--keep-values", "--out",
                   str(tmp_path / "kept"), str(program))
    assert kept.returncode == 0, kept.stderr
    assert files_holding(tmp_path / "kept", SECRETS[0]) != []


def test_trace_run_exits_with_the_programs_own_status(tmp_path: Path) -> None:
    program = tmp_path / "three.py"
    program.write_text("import sys\nsys.exit(3)\n")
    result = toygrpc("trace", "run", "--no-python", "--out", str(tmp_path / "run"),
                     str(program))
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr


def test_force_never_deletes_what_is_not_a_run(tmp_path: Path, repo_root: Path) -> None:
    thesis = tmp_path / "p" / "thesis.txt"
    thesis.parent.mkdir()
    thesis.write_text("x")
    program = str(repo_root / "examples" / "own_program.py")
    for args in (["nope.py"], [program]):  # a bad argument, then a good one: both refused
        result = toygrpc("trace", "run", "--no-python", "--out", str(thesis.parent), "--force",
                         *args)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
        assert thesis.read_text() == "x"
    # a previous run is replaced; a previous run holding a file of the user's is not
    run_dir = tmp_path / "run"
    first = toygrpc("trace", "run", "--no-python", "--out", str(run_dir), program, "1")
    assert first.returncode == 0, first.stderr
    notes = run_dir / "program" / "notes.txt"
    notes.write_text("mine")
    refused = toygrpc("trace", "run", "--no-python", "--out", str(run_dir), "--force",
                      program, "1")
    assert refused.returncode == 2 and "not a toygrpc run" in refused.stderr
    assert notes.read_text() == "mine"
    notes.unlink()
    replaced = toygrpc("trace", "run", "--no-python", "--out", str(run_dir), "--force",
                       program, "1")
    assert replaced.returncode == 0, replaced.stderr


@pytest.mark.parametrize("make_args, message", [
    (lambda d: ["trace", "run", "--out", str(d / "f.txt"), "P"], "is a file"),
    (lambda d: ["trace", "run", "--out", str(d / "f.txt" / "run"), "P"], "which is a file"),
    (lambda d: ["trace", "run", "--out", "/proc/toygrpc-run", "P"], "--out"),
    (lambda d: ["trace", "run", "--out", str(d / "run"), str(d / "script.sh")],
     "is not a Python program"),
    (lambda d: ["trace", "run", "--timeout", "0", "P"], "--timeout"),
    (lambda d: ["trace", "client", "--tracer-entries", "0"], "--tracer-entries"),
    (lambda d: ["view", str(d), "--port", "99999"], "must be 0 to 65535"),
])
def test_environment_errors_are_one_line(tmp_path: Path, repo_root: Path, make_args: object,
                                         message: str) -> None:
    (tmp_path / "f.txt").write_text("a file")
    (tmp_path / "script.sh").write_text("#!/bin/sh\necho hello && exit 0\n")
    args = [str(repo_root / "examples" / "own_program.py") if a == "P" else a
            for a in make_args(tmp_path)]  # type: ignore[operator]
    result = toygrpc(*args, cwd=tmp_path)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


def test_a_full_disk_is_one_line(tmp_path: Path) -> None:
    """A run directory on a 300 kB file system: the capture fills it."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        result = toygrpc("trace", "client", "--rpcs", "50", "--out", str(disk / "run"))
        assert result.returncode == 2, result
        assert "No space left on device" in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_tracer_the_core_does_not_know_is_said(tmp_path: Path) -> None:
    """grpc's core answers an unknown ``GRPC_TRACE`` name with one log line and then logs
    nothing for it: the run says so, rather than show an empty result as an observation."""
    out = tmp_path / "run"
    result = toygrpc("trace", "client", "--rpcs", "2", "--no-python", "--tracer", "nosuch",
                     "--out", str(out), "-q")
    assert result.returncode == 0, result.stderr
    said = "client: the core does not know the tracer 'nosuch'"
    assert said in result.stderr
    diagnostics = json.loads((out / "summary.json").read_text())["diagnostics"]
    assert [line for line in diagnostics if said in line] and len(
        [line for line in diagnostics if "nosuch" in line]) == 1
