"""Start the processes of a capture: the Hello server and client, or a user's program.

Each traced process runs through ``toygrpc.capture.bootstrap`` with the core's trace
switched on in its environment; its stderr is the core log. Untraced peers run plain.
Argument lists only: nothing here builds a shell string.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from toygrpc.capture.stopping import Stopper, child_options
from toygrpc.errors import UsageError
from toygrpc.model.layout import ProcessLayout
from toygrpc.model.manifest import Manifest, TracedProcess
from toygrpc.model.types import Driver, Mode
from toygrpc.workload import (
    LINK_ENV,
    PROGRESS_ENV,
    PROGRESS_PREFIX,
    READY_PREFIX,
    SCENARIOS,
    TARGET_FROM_STDIN,
)

DEFAULT_TRACERS = ("api",)
BUFFER_CORE_LOG = "--buffer-core-log"  # the bootstrap's option (see ``traced_command``)
METADATA_LINE = re.compile(r"^key=\S* value=")
SERVER_START_TIMEOUT_S = 30.0
# viztracer's ring buffer: at least this many entries, more for a large Hello workload
# (a full capture of one unary RPC on both sides takes a few hundred entries).
# Measured: 2.39M entries for 10,000 unary RPCs of the traced client (docs/capture.md).
MIN_TRACER_ENTRIES = 2_000_000
TRACER_ENTRIES_PER_RPC = 600
MAX_DEFAULT_TRACER_ENTRIES = 20_000_000  # ~1.6 GB once full; more only if asked for


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
    tracer_entries: int | None = None  # None: sized for the run (tracer_entries_for)
    timeout_s: float | None = None  # trace run: stop the program (as Ctrl-C) after this
    keep_values: bool = False  # keep metadata values in core.log (redacted otherwise)
    sample_threads_ms: int = 0  # sample every thread from /proc this often (0: off)


def check_scenario(name: str) -> str:
    """``name`` if it is one of the Hello client's scenarios ("" for none), else a UsageError."""
    if name and name not in SCENARIOS:
        raise UsageError(f"unknown scenario {name!r}: choose one of {', '.join(SCENARIOS)}")
    return name


def tracer_entries_for(options: CaptureOptions) -> int:
    """viztracer's buffer, sized so the run's Python layer fits (a full buffer drops the
    oldest entries: merge reports it)."""
    if options.tracer_entries is not None:
        return options.tracer_entries
    shapes = 4 if options.method == "all" else 1
    wanted = options.rpcs * shapes * TRACER_ENTRIES_PER_RPC
    return max(MIN_TRACER_ENTRIES, min(wanted, MAX_DEFAULT_TRACER_ENTRIES))


def core_env(tracers: tuple[str, ...]) -> dict[str, str]:
    env = dict(os.environ)
    env["GRPC_TRACE"] = ",".join(tracers)
    env["GRPC_VERBOSITY"] = "debug"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def traced_command(out: Path, target: list[str], python_layer: bool,
                   tracer_entries: int = MIN_TRACER_ENTRIES,
                   from_start: bool = False, sample_threads_ms: int = 0,
                   quick_exit: bool = False, own_program: bool = False) -> list[str]:
    """The bootstrap's command line that traces ``target``; ``quick_exit`` for a program
    whose teardown finalizes nothing (the Hello client: see ``capture.bootstrap``);
    ``own_program`` for toygrpc's Hello client and server, which write nothing to stderr
    themselves: the core's trace is buffered (``bootstrap.CoreLogBuffer``)."""
    command = [sys.executable, "-m", "toygrpc.capture.bootstrap", "--out", str(out)]
    if quick_exit:
        command.append("--quick-exit")
    if own_program:
        command.append(BUFFER_CORE_LOG)
    if sample_threads_ms:
        command += ["--sample-threads", str(sample_threads_ms)]
    if python_layer:
        command += ["--viztracer", "--tracer-entries", str(tracer_entries)]
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

    def __init__(self, command: list[str], env: dict[str, str], stderr_path: Path,
                 stopper: Stopper | None = None, traced: bool = False,
                 wait: bool = True) -> None:
        """Start the server; unless ``wait`` is False, wait until it listens (then
        ``wait_ready`` does, when its address is needed)."""
        stderr_path.parent.mkdir(parents=True, exist_ok=True)
        self._stderr = stderr_path.open("w")
        self._stderr_path = stderr_path
        self.stopper = stopper = stopper or Stopper()
        self.process: subprocess.Popen[str] = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env,
            **child_options())
        stopper.adopt(self.process, "the Hello server", traced)
        self.address = ""
        if wait:
            self.wait_ready()

    def wait_ready(self) -> str:
        """The server's address, once its ready line says it listens."""
        if self.address:
            return self.address
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith(READY_PREFIX) and self.stopper.reason:
            raise KeyboardInterrupt  # stopped before the server was up: nothing to analyse
        if not line.startswith(READY_PREFIX):
            self.stop()
            tail = _last_foreign_line(self._stderr_path)
            why = tail or line.strip() or "no output"
            raise UsageError(f"the Hello server did not start: {why}")
        self.address = line[len(READY_PREFIX):].strip()
        return self.address

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=self.stopper.remaining_s(self.stopper.grace_s))
            except subprocess.TimeoutExpired:
                self.stopper.killed.append("the Hello server")
                self.process.kill()
                self.process.wait()
        self._stderr.close()
        return self.process.returncode


def describe_status(code: int) -> str:
    """How a process ended, from its Popen return code."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _last_foreign_line(path: Path) -> str:
    """The last line of a stderr file that is not a core log line: the program's own error."""
    lines = program_stderr(path)
    return lines[-1] if lines else ""


def redact_file(path: Path) -> None:
    """``corelog.redact_file``, imported when first needed: the core log's parser (and the
    event model under it) is not needed to start a capture."""
    from toygrpc.capture import corelog

    corelog.redact_file(path)


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


def run_traced(out: Path, command: list[str], env: dict[str, str], stopper: Stopper,
               proc: TracedProcess, on_line: Callable[[str], None] | None = None,
               on_progress: Callable[[int, int], None] | None = None,
               target_later: Callable[[], str] | None = None) -> int:
    """Run a traced program to its end; stdout to ``stdout.txt``, stderr to ``core.log``.

    Progress lines of the Hello client go to ``on_progress``, not to the files. With
    ``target_later``, the program (a Hello client given ``--target -``) starts at once
    and is sent, on its standard input, the address ``target_later`` returns: its
    start-up overlaps the server's."""
    out.mkdir(parents=True, exist_ok=True)
    files = ProcessLayout(out)
    options = child_options()
    if target_later is not None:
        options["stdin"] = subprocess.PIPE
    with files.core_log.open("w") as stderr, files.stdout.open("w") as stdout:
        process: subprocess.Popen[str] = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
            errors="replace", **options)
        proc.pid = process.pid  # the bootstrap runs the program in this very process
        stopper.adopt(process, f"the traced {proc.role}", traced=True)
        if target_later is not None:
            _send_target(process, target_later)
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(PROGRESS_PREFIX):
                if on_progress is not None:
                    done, total = line[len(PROGRESS_PREFIX):].split()
                    on_progress(int(done), int(total))
                continue
            stdout.write(line)
            stdout.flush()
            if on_line is not None:
                on_line(line)
        return process.wait()


def _send_target(process: subprocess.Popen[str], target_later: Callable[[], str]) -> None:
    """Write the address ``target_later`` gives on the process's standard input and close
    it; if there is none (the server did not start), closing it alone ends the client."""
    assert process.stdin is not None
    try:
        address = target_later()
        with suppress(OSError):  # the client died already: its status says so
            process.stdin.write(address + "\n")
    finally:
        with suppress(OSError):
            process.stdin.close()


def capture(options: CaptureOptions, status: Callable[[str], None] = lambda _: None,
            progress: Callable[[int, int], None] | None = None,
            stopper: Stopper | None = None,
            ready: Callable[[], None] | None = None,
            started: Callable[[], None] | None = None) -> Manifest:
    """Run the capture that ``options`` describe and save its manifest.

    ``ready`` is called before any RPC can start (the client is sent its address, the
    driver or the program is started): what it waits for never runs beside the RPCs.
    ``started`` is called once the Hello processes are started, before waiting for them
    to be ready: what it does (the caller's own imports) overlaps their start-up (for
    ``trace run``, before the program starts: it may call at once).

    ``stopper`` (installed by the caller to catch Ctrl-C) stops it early; the manifest is
    saved however the capture ends, even when a second Ctrl-C abandons it."""
    stopper = stopper or Stopper()
    # The versions take a subprocess (``uname -p``) and reading package metadata: looked
    # up once the processes are started (a thread importing meanwhile would hold up their
    # fork), beside their start-up, and saved with the manifest then.
    cap = Manifest(run_dir=options.out, mode=options.mode,
                  options={"rpcs": options.rpcs, "concurrency": options.concurrency,
                           "method": options.method, "target": options.target,
                           "python_layer": options.python_layer,
                           "python_from_start": options.python_from_start,
                           "tracers": list(options.tracers), "driver": options.driver,
                           "script": list(options.script), "messages": options.messages,
                           "scenario": options.scenario or None,
                           "tracer_entries": tracer_entries_for(options),
                           "timeout_s": options.timeout_s,
                           "keep_values": options.keep_values,
                           "sample_threads_ms": options.sample_threads_ms})
    options.out.mkdir(parents=True, exist_ok=True)
    cap.save()  # a run from the start: --force may replace it, show explains it
    env = core_env(options.tracers)
    if options.mode in ("both", "run"):
        # client and server both traced (a program may be both): tie their RPCs together
        env[LINK_ENV] = "1"
    plain_env = {k: v for k, v in os.environ.items() if k not in ("GRPC_TRACE",)}
    entries = tracer_entries_for(options)
    if (options.python_layer and options.tracer_entries is None
            and options.rpcs * TRACER_ENTRIES_PER_RPC > entries):
        cap.diagnostics.append(f"viztracer's buffer is capped at {entries:,} entries by "
                               f"default, about {entries // TRACER_ENTRIES_PER_RPC:,} RPCs: "
                               "the Python layer of the oldest RPCs may be dropped (and "
                               "counted); raise --tracer-entries to keep it all")
    server: RunningServer | None = None
    timer: threading.Timer | None = None

    def when_started() -> None:
        """Once the processes are started: the versions on a thread while the caller's
        ``started`` runs, then the manifest with them."""
        from concurrent.futures import ThreadPoolExecutor  # here: once the processes started

        if cap.versions:
            return
        with ThreadPoolExecutor(1, thread_name_prefix="toygrpc-versions") as pool:
            versions = pool.submit(current_versions)
            if started is not None:
                started()
            cap.versions = versions.result()
        cap.save()

    try:
        if options.mode in ("client", "server", "both") and options.target is None:
            traced_server = options.mode in ("server", "both")
            status("starting the Hello server" + (" under capture" if traced_server else ""))
            target = ["-m", "toygrpc.server", "--bind", "localhost:0",
                      *(["--scenarios"] if options.scenario else [])]
            # Not waited for here: the Hello client starts beside it (see below), and
            # ``started`` runs meanwhile; it is waited for when its address is needed.
            if traced_server:
                server_dir = cap.process_dir("server")
                command = traced_command(server_dir, target, options.python_layer, entries,
                                         options.python_from_start, options.sample_threads_ms,
                                         own_program=True)
                server = RunningServer(command, env, cap.layout.process("server").core_log,
                                       stopper, traced=True, wait=False)
            else:
                command = [sys.executable, *target]
                server = RunningServer(command, plain_env, cap.layout.server_stderr, stopper,
                                       traced=False, wait=False)
            cap.processes.append(TracedProcess("server", server.process.pid, traced_server,
                                               traced_server and options.python_layer, command))
            cap.save()

        def server_address(server: RunningServer | None = server) -> str:
            """The address to call, once the server (if we started one) listens."""
            address = options.target or (server.wait_ready() if server else "")
            if options.scenario == "server-unavailable":
                address = closed_address()
            return address

        if stopper.reason:
            pass  # stopped while the server started: nothing more to run
        elif options.mode in ("client", "both"):
            status(f"tracing {options.rpcs} {options.method} RPC(s) from the client")
            role = "client"
            # The client starts now, beside the server: it imports grpc and the hooks
            # meanwhile, then reads the address on its standard input and calls; the
            # manifest records the address it was sent.
            command_target = client_target(options, TARGET_FROM_STDIN)
            proc = TracedProcess(role, 0, True, options.python_layer, command_target)
            cap.processes.append(proc)
            cap.save()  # listed before it runs: if toygrpc dies, `show` still finds it

            def send_address() -> str:
                when_started()  # while the client and the server start
                address = server_address()
                if ready is not None:
                    ready()
                proc.command = client_target(options, address)
                return address

            proc.exit_status = code = run_traced(
                cap.process_dir(role),
                traced_command(cap.process_dir(role), command_target, options.python_layer,
                               entries, options.python_from_start, options.sample_threads_ms,
                               quick_exit=True, own_program=True),
                {**env, PROGRESS_ENV: "1"}, stopper, proc, on_progress=progress,
                target_later=send_address)
            if options.scenario:
                outcome = cap.layout.process(role).stdout.read_text().strip()
                cap.diagnostics.append(f"scenario {options.scenario}: {outcome}")
            if code != 0 and not stopper.reason:
                cap.diagnostics.append(f"the client exited with status {code}: "
                                       f"{_last_foreign_line(cap.layout.process(role).core_log)}")
        elif options.mode == "server":
            status(f"driving the traced server with {options.rpcs} RPC(s) "
                   f"from the {options.driver} client")
            when_started()
            address = server_address()
            if ready is not None:
                ready()
            code = _drive(options, address, plain_env, stopper)
            if code != 0 and not stopper.reason:
                cap.diagnostics.append(f"the {options.driver} client exited with status {code}")
        elif options.mode == "run":
            status(f"tracing {' '.join(options.script)}")
            script, *args = options.script
            command_target = [script, *args]
            proc = TracedProcess("program", 0, True, options.python_layer, command_target)
            cap.processes.append(proc)
            cap.save()  # listed before it runs: if toygrpc dies, `show` still finds it
            # Before the program starts, not beside it: it may make its calls at once.
            when_started()
            if ready is not None:
                ready()
            if options.timeout_s is not None:
                timer = threading.Timer(options.timeout_s, stopper.stop,
                                        args=(f"--timeout {options.timeout_s:g}s",))
                timer.daemon = True
                timer.start()
            proc.exit_status = code = run_traced(
                cap.process_dir("program"),
                traced_command(cap.process_dir("program"), command_target,
                               options.python_layer, entries, options.python_from_start,
                               options.sample_threads_ms),
                env, stopper, proc, on_line=echo)
            if not options.keep_values:  # before any of it reaches the terminal
                redact_file(cap.layout.process("program").core_log)
            for line in program_stderr(cap.layout.process("program").core_log):
                print(line, file=sys.stderr)
            if code != 0 and not stopper.reason:
                cap.diagnostics.append(f"the program {describe_status(code)}")
    finally:
        if timer is not None:
            timer.cancel()
        if stopper.abandoned:
            stopper.kill_all()
        if server is not None:
            if not stopper.abandoned:
                status("stopping the server")
            code = server.stop()
            for traced in cap.processes:
                if traced.role == "server":
                    traced.exit_status = code
        stopper.kill_all()
        if not cap.versions:  # nothing was started
            cap.versions = current_versions()
        cap.finished_ns = time.time_ns()
        cap.stopped = stopper.reason
        if stopper.reason:
            cap.diagnostics.append(f"capture stopped early ({stopper.reason}): what ran "
                                   "until then was kept")
        for name in dict.fromkeys(stopper.killed):
            cap.diagnostics.append(f"{name} was killed: it had not exited "
                                   f"{stopper.grace_s:g}s after being asked to stop (what "
                                   "it had not written then is counted as lost)")
        _read_pids(cap)
        for traced in cap.processes:
            core_log = cap.layout.process(traced.role).core_log
            if traced.traced and core_log.is_file():
                if not options.keep_values:
                    redact_file(core_log)
                traced.core_log_bytes = core_log.stat().st_size  # a cut file is then seen
        cap.save()
    return cap


def current_versions() -> dict[str, str]:
    """The versions a capture depends on, recorded with it."""
    import platform  # here: a capture looks the versions up once its processes started
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


def _drive(options: CaptureOptions, address: str, env: dict[str, str],
           stopper: Stopper) -> int:
    if options.driver == "node":
        from toygrpc.interop import node

        node.check_node_ready()
        command = node.node_client_command(address, options.method, options.rpcs)
    else:
        command = [sys.executable, *client_target(options, address)]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=env, **child_options())
    stopper.adopt(driver, f"the {options.driver} client", traced=False)
    return driver.wait()


def _read_pids(cap: Manifest) -> None:
    """Take each traced process's pid from its hook report (the launcher saw only its own)."""
    import json

    for proc in cap.processes:
        report = cap.layout.process(proc.role).hook_report
        if proc.traced and report.is_file():
            try:
                data = json.loads(report.read_text())
                proc.pid = int(data["pid"])
                if not data.get("finished", True):
                    cap.diagnostics.append(f"the {proc.role} process did not finish cleanly "
                                           "(killed or crashed): what it recorded after its "
                                           "last write is lost")
            except (ValueError, KeyError, TypeError, json.JSONDecodeError):
                cap.diagnostics.append(f"{report} is damaged")
        elif proc.traced:
            cap.diagnostics.append(f"the {proc.role} process wrote no hook report: it did not "
                                   "start its hooks, only its core log is usable")

