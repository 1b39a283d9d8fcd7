"""Stopping a capture as a user does: Ctrl-C, SIGTERM, kill -9, on real processes.

Each test starts ``toygrpc trace`` in a session of its own (as a terminal would), drives
real RPCs, stops it, and checks that the run holds every RPC that completed, that
toygrpc ended within 15 s, and that no process of the session is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# A hang, not a speed: stopping includes the analysis and the renderers of what was
# captured, which take seconds more on a loaded machine.
STOP_WITHIN_S = 45.0
CALLS = 5

# grpc's helloworld asyncio server, on toygrpc's Hello service and a free port.
HELLOWORLD_SERVER = '''
import asyncio
import logging

import grpc

from toygrpc.generated import hello_pb2, hello_pb2_grpc


class Greeter(hello_pb2_grpc.HelloServiceServicer):
    async def Hello(self, request, context):
        return hello_pb2.HelloRequest(x=f"Hello, {request.x}!")


async def serve() -> None:
    server = grpc.aio.server()
    hello_pb2_grpc.add_HelloServiceServicer_to_server(Greeter(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    logging.basicConfig()
    asyncio.run(serve())
'''


class Toygrpc:
    """``toygrpc ARGS`` in a new session, its output in files (it may print a lot)."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.stdout, self.stderr = tmp / "toygrpc.out", tmp / "toygrpc.err"
        with self.stdout.open("w") as out, self.stderr.open("w") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "toygrpc", *args],
                                            stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                            start_new_session=True, cwd=tmp)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The first line of output that contains ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.stdout.read_text(errors="replace").splitlines():
                if text in line:
                    return line
            assert self.process.poll() is None, self.stderr.read_text()
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} after {timeout}s: {self.stderr.read_text()}")

    def signal(self, sig: int, group: bool) -> None:
        if group:  # a Ctrl-C typed in the terminal: the whole foreground group
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)

    def ended_within(self, seconds: float) -> int:
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.kill_session()
            raise AssertionError(f"toygrpc still running {seconds}s after the signal: "
                                 f"{self.stderr.read_text()[-2000:]}") from None

    def session(self) -> list[str]:
        """The command lines of every process still in toygrpc's session."""
        left = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if int(fields[3]) == self.process.pid and fields[0] != "Z":
                left.append(cmdline.decode(errors="replace"))
        return left

    def kill_session(self) -> None:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == self.process.pid:
                    os.kill(int(stat.parent.name), signal.SIGKILL)
            except (OSError, ValueError):
                continue


@pytest.fixture
def helloworld(tmp_path: Path) -> Path:
    script = tmp_path / "greeter_server.py"
    script.write_text(HELLOWORLD_SERVER)
    return script


@pytest.fixture
def sessions() -> Iterator[list[Toygrpc]]:
    started: list[Toygrpc] = []
    yield started
    for run in started:  # a failed test leaves nothing running either
        run.kill_session()


def call(address: str, rpcs: int = CALLS) -> None:
    result = subprocess.run([sys.executable, "-m", "toygrpc", "call", "--target", address,
                             "--rpcs", str(rpcs)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr


def summary(out: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((out / "summary.json").read_text())
    return data


def server_rpcs(out: Path) -> list[dict[str, object]]:
    return [r for r in summary(out)["rpcs"] if r["side"] == "server"]  # type: ignore[attr-defined]


def assert_nothing_left(run: Toygrpc) -> None:
    assert run.session() == [], run.session()


@pytest.mark.parametrize("python_layer", [True, False], ids=["viztracer", "no-python"])
@pytest.mark.parametrize("sig, group", [
    (signal.SIGINT, True), (signal.SIGINT, False), (signal.SIGTERM, False),
], ids=["ctrl-c-group", "sigint-toygrpc", "sigterm"])
def test_stopping_a_traced_server_keeps_every_completed_rpc(
        tmp_path: Path, helloworld: Path, sessions: list[Toygrpc], python_layer: bool,
        sig: int, group: bool) -> None:
    out = tmp_path / "run"
    args = ["trace", "run", "--out", str(out), *([] if python_layer else ["--no-python"]),
            str(helloworld)]
    run = Toygrpc(tmp_path, *args)
    sessions.append(run)
    address = run.wait_for("listening on").rpartition(" ")[2]
    call(address)
    run.signal(sig, group)
    code = run.ended_within(STOP_WITHIN_S)
    assert_nothing_left(run)
    assert code == 130, run.stderr.read_text()  # the program's own status: stopped by Ctrl-C
    stopped = summary(out)["stopped"]
    assert stopped == signal.Signals(sig).name
    rpcs = server_rpcs(out)
    assert len(rpcs) == CALLS and all(r["complete"] for r in rpcs), rpcs
    assert summary(out)["partial"] is False
    assert "Traceback" not in run.stderr.read_text()


@pytest.mark.parametrize("sig, group", [(signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["ctrl-c-group", "sigterm"])
def test_stopping_trace_client_mid_run_keeps_what_completed(
        tmp_path: Path, sessions: list[Toygrpc], sig: int, group: bool) -> None:
    out = tmp_path / "run"
    run = Toygrpc(tmp_path, "trace", "client", "--rpcs", "1000000", "--out", str(out))
    sessions.append(run)
    hooks = out / "client" / "hooks.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
            not hooks.is_file() or hooks.read_text().count('"rpc.finished"') < 20):
        time.sleep(0.2)
    run.signal(sig, group)
    assert run.ended_within(STOP_WITHIN_S) == 130, run.stderr.read_text()
    assert_nothing_left(run)  # the untraced Hello server too
    finished = [json.loads(line) for line in hooks.read_text().splitlines()
                if '"rpc.finished"' in line]
    ok = sum(1 for e in finished if e["status"] == "OK")
    assert ok >= 20
    client = [r for r in summary(out)["rpcs"] if r["side"] == "client"]  # type: ignore[attr-defined]
    assert sum(1 for r in client if r["status"] == "OK") == ok


def test_kill_9_of_the_traced_program_leaves_a_partial_run(
        tmp_path: Path, helloworld: Path, sessions: list[Toygrpc]) -> None:
    out = tmp_path / "run"
    run = Toygrpc(tmp_path, "trace", "run", "--out", str(out), str(helloworld))
    sessions.append(run)
    address = run.wait_for("listening on").rpartition(" ")[2]
    call(address)
    time.sleep(1.0)  # the hooks' writer appends every 0.25 s
    pid = int(json.loads((out / "program" / "hooks.hooks.json").read_text())["pid"])
    assert any(f"--out {out / 'program'}" in line for line in run.session())
    os.kill(pid, signal.SIGKILL)
    code = run.ended_within(STOP_WITHIN_S)
    assert_nothing_left(run)
    assert code == 128 + signal.SIGKILL
    data = summary(out)
    assert data["partial"] is True
    assert any("did not finish" in what for what in data["losses"])  # type: ignore[attr-defined]
    rpcs = server_rpcs(out)
    assert len(rpcs) == CALLS and all(r["complete"] for r in rpcs), rpcs
    assert "partial run" in run.stderr.read_text()
    show = subprocess.run([sys.executable, "-m", "toygrpc", "show", str(out), "--no-plots"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert show.returncode == 0 and "partial run" in show.stderr, show.stderr
    as_json = subprocess.run([sys.executable, "-m", "toygrpc", "show", str(out), "--no-plots",
                              "--json"], capture_output=True, text=True, timeout=60,
                             check=False)
    assert json.loads(as_json.stdout)["partial"] is True


def test_kill_9_of_toygrpc_stops_its_children_and_leaves_an_analysable_run(
        tmp_path: Path, helloworld: Path, sessions: list[Toygrpc]) -> None:
    out = tmp_path / "run"
    run = Toygrpc(tmp_path, "trace", "run", "--out", str(out), str(helloworld))
    sessions.append(run)
    address = run.wait_for("listening on").rpartition(" ")[2]
    call(address)
    run.signal(signal.SIGKILL, group=False)
    run.ended_within(STOP_WITHIN_S)
    deadline = time.monotonic() + STOP_WITHIN_S  # the traced server gets SIGTERM, saves
    while run.session() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert_nothing_left(run)
    show = subprocess.run([sys.executable, "-m", "toygrpc", "show", str(out), "--no-plots"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert show.returncode == 0, show.stderr
    assert f"{CALLS}/{CALLS} RPCs with complete chains" in show.stdout


def test_a_second_ctrl_c_abandons_the_analysis_but_keeps_an_analysable_run(
        tmp_path: Path, helloworld: Path, sessions: list[Toygrpc]) -> None:
    out = tmp_path / "run"
    run = Toygrpc(tmp_path, "trace", "run", "--out", str(out), str(helloworld))
    sessions.append(run)
    address = run.wait_for("listening on").rpartition(" ")[2]
    call(address)
    time.sleep(1.0)
    run.signal(signal.SIGINT, group=True)
    time.sleep(0.05)
    run.signal(signal.SIGINT, group=True)
    code = run.ended_within(STOP_WITHIN_S)
    assert_nothing_left(run)
    assert code == 130
    assert "analysis abandoned" in run.stderr.read_text()
    assert not (out / "summary.json").exists()
    show = subprocess.run([sys.executable, "-m", "toygrpc", "show", str(out), "--no-plots",
                           "--json"], capture_output=True, text=True, timeout=60, check=False)
    assert show.returncode == 0, show.stderr
    assert (out / "events.jsonl").is_file()


def test_timeout_stops_the_program_like_ctrl_c(tmp_path: Path, helloworld: Path,
                                               sessions: list[Toygrpc]) -> None:
    out = tmp_path / "run"
    run = Toygrpc(tmp_path, "trace", "run", "--no-python", "--timeout", "3", "--out",
                  str(out), str(helloworld))
    sessions.append(run)
    assert run.ended_within(30 + STOP_WITHIN_S) == 130
    assert_nothing_left(run)
    assert summary(out)["stopped"] == "--timeout 3s"
