"""When the Python layer starts: at the program's first channel or server, or at start."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

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
