"""Start the processes of a capture: the Hello server and client, or a user's program.

Each traced process runs through ``toygrpc.capture.bootstrap`` with the core's trace
switched on in its environment; its stderr is the core log. Untraced peers run plain.
Argument lists only: nothing here builds a shell string.
"""

from __future__ import annotations

import os
import platform
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toygrpc.client import PROGRESS_ENV, PROGRESS_PREFIX, SCENARIOS
from toygrpc.errors import UsageError
from toygrpc.model.layout import ProcessLayout
from toygrpc.model.manifest import Manifest, TracedProcess
from toygrpc.model.types import Driver, Mode
from toygrpc.server import READY_PREFIX

DEFAULT_TRACERS = ("api",)
METADATA_LINE = re.compile(r"^key=\S* value=")
SERVER_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class CaptureOptions:
    """What to capture and how; shared by all ``toygrpc trace`` commands."""

    mode: Mode
    out: Path
    rpcs: int = 100
    concurrency: int = 1
    method: str = "unary"
    target: str | None = None
    python_layer: bool = True
    tracers: tuple[str, ...] = DEFAULT_TRACERS
    driver: Driver = "python"
    script: tuple[str, ...] = ()
    python_from_start: bool = False  # Python layer from interpreter start, not first grpc use
    messages: int = 3
    scenario: str = ""


def check_scenario(name: str) -> str:
    """``name`` if it is one of the Hello client's scenarios ("" for none), else a UsageError."""
    if name and name not in SCENARIOS:
        raise UsageError(f"unknown scenario {name!r}: choose one of {', '.join(SCENARIOS)}")
    return name


def core_env(tracers: tuple[str, ...]) -> dict[str, str]:
    env = dict(os.environ)
    env["GRPC_TRACE"] = ",".join(tracers)
    env["GRPC_VERBOSITY"] = "debug"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def traced_command(out: Path, target: list[str], python_layer: bool,
                   from_start: bool = False) -> list[str]:
    command = [sys.executable, "-m", "toygrpc.capture.bootstrap", "--out", str(out)]
    if python_layer:
        command.append("--viztracer")
        if from_start:
            command.append("--python-from-start")
    return [*command, *target]


def client_target(options: CaptureOptions, address: str) -> list[str]:
    scenario = ["--scenario", options.scenario] if options.scenario else []
    return ["-m", "toygrpc.client", "--target", address, "--rpcs", str(options.rpcs),
            "--concurrency", str(options.concurrency), "--method", options.method,
            "--messages", str(options.messages), *scenario]


def closed_address() -> str:
    """A loopback address nothing listens on (the server-unavailable scenario's target)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


class RunningServer:
    """A Hello server process, traced or not, stopped with SIGTERM when done."""

    def __init__(self, command: list[str], env: dict[str, str], stderr_path: Path) -> None:
        stderr_path.parent.mkdir(parents=True, exist_ok=True)
        self._stderr = stderr_path.open("w")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._stderr,
                                        text=True, env=env)
        self.address = self._wait_ready(stderr_path)

    def _wait_ready(self, stderr_path: Path) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith(READY_PREFIX):
            self.stop()
            tail = _last_foreign_line(stderr_path)
            why = tail or line.strip() or "no output"
            raise UsageError(f"the Hello server did not start: {why}")
        return line[len(READY_PREFIX):].strip()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stderr.close()
        return self.process.returncode


def _last_foreign_line(path: Path) -> str:
    """The last line of a stderr file that is not a core log line: the program's own error."""
    lines = program_stderr(path)
    return lines[-1] if lines else ""


def echo(line: str) -> None:
    """Pass a traced program's output through to ours (it is also kept in stdout.txt)."""
    sys.stdout.write(line)
    sys.stdout.flush()


def program_stderr(path: Path) -> list[str]:
    """The lines of a traced process's stderr that are the program's, not the core's."""
    from toygrpc.capture.corelog import LINE

    try:
        # "key=K value=V" lines continue the core's op lines (metadata): the core's too
        return [ln for ln in path.read_text(errors="replace").splitlines()
                if ln.strip() and not LINE.match(ln) and not ln.startswith("toygrpc: hook")
                and not METADATA_LINE.match(ln)]
    except OSError:
        return []


def run_traced(out: Path, target: list[str], env: dict[str, str], python_layer: bool,
               from_start: bool = False, on_line: Callable[[str], None] | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> int:
    """Run a traced program to completion; stdout to ``stdout.txt``, stderr to ``core.log``.

    Progress lines of the Hello client go to ``on_progress``, not to the files."""
    out.mkdir(parents=True, exist_ok=True)
    command = traced_command(out, target, python_layer, from_start)
    files = ProcessLayout(out)
    with files.core_log.open("w") as stderr, files.stdout.open("w") as stdout:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   env=env)
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(PROGRESS_PREFIX):
                if on_progress is not None:
                    done, total = line[len(PROGRESS_PREFIX):].split()
                    on_progress(int(done), int(total))
                continue
            stdout.write(line)
            if on_line is not None:
                on_line(line)
        return process.wait()


def capture(options: CaptureOptions, status: Callable[[str], None] = lambda _: None,
            progress: Callable[[int, int], None] | None = None) -> Manifest:
    """Run the capture that ``options`` describe and save its manifest."""
    cap = Manifest(run_dir=options.out, mode=options.mode, versions=current_versions(),
                  options={"rpcs": options.rpcs, "concurrency": options.concurrency,
                           "method": options.method, "target": options.target,
                           "python_layer": options.python_layer,
                           "python_from_start": options.python_from_start,
                           "tracers": list(options.tracers), "driver": options.driver,
                           "script": list(options.script), "messages": options.messages,
                           "scenario": options.scenario or None})
    options.out.mkdir(parents=True, exist_ok=True)
    env = core_env(options.tracers)
    if options.mode in ("both", "run"):
        from toygrpc.capture.hooks import LINK_ENV

        # client and server both traced (a program may be both): tie their RPCs together
        env[LINK_ENV] = "1"
    plain_env = {k: v for k, v in os.environ.items() if k not in ("GRPC_TRACE",)}
    server: RunningServer | None = None
    try:
        if options.mode in ("client", "server", "both") and options.target is None:
            traced_server = options.mode in ("server", "both")
            status("starting the Hello server" + (" under capture" if traced_server else ""))
            target = ["-m", "toygrpc.server", "--bind", "localhost:0",
                      *(["--scenarios"] if options.scenario else [])]
            if traced_server:
                server_dir = cap.process_dir("server")
                command = traced_command(server_dir, target, options.python_layer,
                                         options.python_from_start)
                server = RunningServer(command, env, cap.layout.process("server").core_log)
            else:
                command = [sys.executable, *target]
                server = RunningServer(command, plain_env, cap.layout.server_stderr)
            cap.processes.append(TracedProcess("server", server.process.pid, traced_server,
                                               traced_server and options.python_layer, command))
        address = options.target or (server.address if server else "")
        if options.scenario == "server-unavailable":
            address = closed_address()

        if options.mode in ("client", "both"):
            status(f"tracing {options.rpcs} {options.method} RPC(s) from the client")
            role = "client"
            command_target = client_target(options, address)
            code = run_traced(cap.process_dir(role), command_target,
                              {**env, PROGRESS_ENV: "1"}, options.python_layer,
                              options.python_from_start, on_progress=progress)
            cap.processes.append(TracedProcess(role, 0, True, options.python_layer,
                                               command_target, code))
            if options.scenario:
                outcome = cap.layout.process(role).stdout.read_text().strip()
                cap.diagnostics.append(f"scenario {options.scenario}: {outcome}")
            if code != 0:
                cap.diagnostics.append(f"the client exited with status {code}: "
                                       f"{_last_foreign_line(cap.layout.process(role).core_log)}")
        elif options.mode == "server":
            status(f"driving the traced server with {options.rpcs} RPC(s) "
                   f"from the {options.driver} client")
            code = _drive(options, address, plain_env)
            if code != 0:
                cap.diagnostics.append(f"the {options.driver} client exited with status {code}")
        elif options.mode == "run":
            status(f"tracing {' '.join(options.script)}")
            script, *args = options.script
            command_target = [script, *args]
            code = run_traced(cap.process_dir("program"), command_target, env,
                              options.python_layer, options.python_from_start, on_line=echo)
            for line in program_stderr(cap.layout.process("program").core_log):
                print(line, file=sys.stderr)
            cap.processes.append(TracedProcess("program", 0, True, options.python_layer,
                                               command_target, code))
            if code != 0:
                cap.diagnostics.append(f"the program exited with status {code}")
    finally:
        if server is not None:
            status("stopping the server")
            code = server.stop()
            for proc in cap.processes:
                if proc.role == "server":
                    proc.exit_status = code
        cap.finished_ns = time.time_ns()
        _read_pids(cap)
        cap.save()
    return cap


def current_versions() -> dict[str, str]:
    """The versions a capture depends on, recorded with it."""
    from importlib import metadata

    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("grpcio", "protobuf", "viztracer", "grpcio-tools"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    try:
        from google.protobuf.internal import api_implementation

        versions["protobuf_backend"] = api_implementation.Type()
    except ImportError:
        versions["protobuf_backend"] = "unknown"
    versions["executable"] = sys.executable
    return versions


def _drive(options: CaptureOptions, address: str, env: dict[str, str]) -> int:
    if options.driver == "node":
        from toygrpc.interop import node

        node.check_node_ready()
        command = node.node_client_command(address, options.method, options.rpcs)
    else:
        command = [sys.executable, *client_target(options, address)]
    return subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          env=env, check=False).returncode


def _read_pids(cap: Manifest) -> None:
    """Take each traced process's pid from its hook report (the launcher saw only its own)."""
    import json

    for proc in cap.processes:
        report = cap.layout.process(proc.role).hook_report
        if proc.traced and report.is_file():
            try:
                proc.pid = int(json.loads(report.read_text())["pid"])
            except (ValueError, KeyError, json.JSONDecodeError):
                cap.diagnostics.append(f"{report} is damaged")
        elif proc.traced:
            cap.diagnostics.append(f"the {proc.role} process wrote no hook report: it did not "
                                   "finish cleanly, only its core log is usable")

