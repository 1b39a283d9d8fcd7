"""The bootstrap: when the Python layer starts (at the program's first channel or server,
or at start), its quick exit, and the buffer it keeps the core's trace in."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from toygrpc.analysis.run import Run
from toygrpc.capture.launch import CaptureOptions
from toygrpc.model.events import PythonSlice, RpcStarted
from toygrpc.pipeline import capture_run

IMPORTING = "_find_and_load"  # importlib's frame for every import


def _python_slices(tmp_path: Path, from_start: bool) -> tuple[list[PythonSlice], int]:
    run = capture_run(CaptureOptions(mode="client", out=tmp_path / str(from_start), rpcs=1,
                                     python_from_start=from_start))
    slices = list(run.timeline.of(PythonSlice))
    first_rpc = min(e.ts for e in run.timeline.of(RpcStarted))
    return slices, first_rpc


def test_by_default_the_python_layer_starts_at_the_first_channel(tmp_path: Path) -> None:
    slices, first_rpc = _python_slices(tmp_path, from_start=False)
    names = {s.name.split(" (")[0] for s in slices}
    assert "UnaryUnaryMultiCallable.__call__" in names  # the RPC itself is recorded
    assert IMPORTING not in names  # start-up is not
    assert "Channel.__init__" in names  # from the first channel on
    assert min(s.ts for s in slices) < first_rpc


def test_python_from_start_records_start_up(tmp_path: Path) -> None:
    slices, _ = _python_slices(tmp_path, from_start=True)
    assert any(s.name.startswith(IMPORTING) for s in slices)


def test_python_from_start_needs_the_python_layer(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "toygrpc", "trace", "client", "--no-python",
                             "--python-from-start", "--out", str(tmp_path / "x")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--python-from-start" in result.stderr
    assert not (tmp_path / "x").exists()


def test_the_clock_sample_keeps_whole_nanoseconds() -> None:
    """The realtime midpoint (about 1.8e18 ns) and the offset stay integers: as floats
    they would be rounded to a multiple of 256 ns."""
    from toygrpc.capture.bootstrap import sample_clock

    before = time.time_ns()
    sample = sample_clock(lambda: 1234.5678)  # viztracer's clock, in µs
    after = time.time_ns()
    assert isinstance(sample["realtime_ns"], int) and isinstance(sample["offset_ns"], int)
    assert before <= sample["realtime_ns"] <= after
    assert sample["offset_ns"] == sample["realtime_ns"] - 1_234_568
    assert 0 <= sample["width_ns"] <= after - before


def test_viztracer_is_imported_without_trio_which_stays_importable() -> None:
    """viztracer's C module would import trio (a quarter of a second of every traced
    start-up) for a feature never used here; a traced program can still import it."""
    program = ("import sys\n"
               "from toygrpc.capture.bootstrap import import_viztracer\n"
               "tracer = import_viztracer()\n"
               "print(tracer.__name__, 'trio' in sys.modules)\n"
               "try:\n"
               "    import trio\n"
               "    print(trio.__name__)\n"
               "except ImportError:\n"
               "    print('trio not installed')\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() in (["VizTracer False", "trio"],
                                          ["VizTracer False", "trio not installed"])


def test_quick_exit_freezes_the_heap_once_the_files_are_written(tmp_path: Path) -> None:
    """``--quick-exit`` (the Hello client's): the program's exit handlers see the heap
    frozen, after the hook report is written; without it the program ends as it would
    alone (the launcher passes it to the Hello client only: test_capture.py)."""
    from toygrpc.capture.launch import traced_command

    script = tmp_path / "program.py"
    script.write_text("import atexit, gc, sys\n"
                      "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n")
    seen = {}
    for quick in (False, True):
        out = tmp_path / f"out-{quick}"
        command = traced_command(out, [str(script)], python_layer=False, quick_exit=quick)
        assert ("--quick-exit" in command) is quick
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
        seen[quick] = done.stdout.strip()
        assert '"finished": true' in (out / "hooks.hooks.json").read_text()
    assert seen == {False: "frozen False", True: "frozen True"}


C_WRITER = """\
import atexit, ctypes, os, sys
import grpc
libc = ctypes.CDLL(None)
stderr = ctypes.c_void_p(ctypes.c_void_p.in_dll(libc, "stderr").value)
def c_line(text):  # C's stdio, on stderr
    libc.fputs(text.encode(), stderr)
def grew(write):
    before = os.fstat(2).st_size
    write()
    return "grew" if os.fstat(2).st_size > before else "held"
core = grew(lambda: grpc.insecure_channel("localhost:1").close())  # the core's api lines
ours = grew(lambda: c_line("line while running\\n"))
print(core, ours, flush=True)
atexit.register(c_line, "line at exit\\n")
if sys.argv[1] == "interrupt":
    raise KeyboardInterrupt
"""


def _run_c_writer(tmp_path: Path, mode: str, buffered: bool = True
                  ) -> tuple[int, str, str, int]:
    """A program writing through C's stderr, traced (``buffered``: as the launcher traces
    its own programs): (exit status, what it printed, the core log, the core log's size
    in the hook report)."""
    import json

    from toygrpc.capture.launch import DEFAULT_TRACERS, core_env, traced_command
    from toygrpc.model.layout import ProcessLayout

    script = tmp_path / "program.py"
    script.write_text(C_WRITER)
    out = tmp_path / f"out-{mode}-{buffered}"
    layout = ProcessLayout(out)
    out.mkdir()
    command = traced_command(out, [str(script), mode], python_layer=False,
                             own_program=buffered)
    with layout.core_log.open("w") as stderr:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                              timeout=60, env=core_env(DEFAULT_TRACERS))
    report = json.loads(layout.hook_report.read_text())
    assert "core.log buffer" not in report["failed"]
    return done.returncode, done.stdout.strip(), layout.core_log.read_text(), \
        report["core_log_bytes"]


def test_the_core_log_is_buffered_while_the_program_runs(tmp_path: Path) -> None:
    """The core writes its trace through C's stderr, which holds its lines while the
    program runs (no system call each); the hook report's size counts them, and the
    teardown's lines still follow."""
    status, printed, core_log, size = _run_c_writer(tmp_path, "return")
    assert (status, printed) == (0, "held held")
    assert "grpc_channel_create(target=localhost:1" in core_log[:size]
    assert core_log.index("line while running\n") < core_log.index("line at exit\n")
    assert "line while running" in core_log[:size]


def test_a_program_stopped_by_ctrl_c_loses_no_buffered_line(tmp_path: Path) -> None:
    status, printed, core_log, size = _run_c_writer(tmp_path, "interrupt")
    assert (status, printed) == (130, "held held")
    assert "grpc_channel_create(target=localhost:1" in core_log[:size]
    assert "line while running\n" in core_log[:size]


def test_another_program_keeps_c_stderr_unbuffered(tmp_path: Path) -> None:
    """Without ``--buffer-core-log`` (a program of the user's, whose own stderr lines
    take their time from the core line before them) C's stderr stays as C leaves it."""
    status, printed, core_log, _ = _run_c_writer(tmp_path, "return", buffered=False)
    assert (status, printed) == (0, "grew grew")
    assert core_log.index("line while running\n") < core_log.index("line at exit\n")


def test_the_launcher_buffers_the_core_log_of_its_own_programs_only(
        both_run: Run, tmp_path: Path) -> None:
    """The Hello server (and client: ``test_capture.py``) write nothing to stderr
    themselves: their core trace is buffered; a program of the user's (``trace run``),
    whose own stderr lines take their time from the core line before them, is not."""
    from toygrpc.capture.launch import BUFFER_CORE_LOG, CaptureOptions

    [server] = [p for p in both_run.manifest.processes if p.role == "server"]
    assert BUFFER_CORE_LOG in server.command
    assert all("core.log buffer" not in report["failed"]
               for report in both_run.timeline.hooks.values())
    program = tmp_path / "program.py"
    program.write_text(C_WRITER)
    run = capture_run(CaptureOptions(mode="run", out=tmp_path / "run", python_layer=False,
                                     script=(str(program), "return")))
    stdout = run.manifest.layout.process("program").stdout.read_text()
    assert stdout.strip() == "grew grew"
