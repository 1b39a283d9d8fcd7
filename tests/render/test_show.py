"""``toygrpc show``: a saved run re-rendered, its JSON, its errors; and one fresh run end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from matplotlib.image import imread

from tests.commands import toygrpc_script
from tests.conftest import require
from tests.render import oracle
from toygrpc.analysis.chains import STEPS
from toygrpc.cli import main

PICTURES = ("swimlane.svg", "swimlane.png", "stages.svg", "stages.png")


def show(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``toygrpc show ARGS`` in this process: ``toygrpc.cli.main`` is the function the
    console script runs ([project.scripts])."""
    code = main(["show", *args])
    out, err = capsys.readouterr()
    return code, out, err


def widest(text: str, run: Path) -> int:
    """The widest line, but for the ones naming files: paths are never broken."""
    return max(len(line) for line in text.splitlines() if str(run) not in line)


def toygrpc_argv(*args: str) -> list[str]:
    """``toygrpc ARGS``, through the installed console script the README documents (never a
    module's own ``__main__``: a command missing from ``toygrpc`` must fail here)."""
    script = toygrpc_script()
    require(script is not None, "the toygrpc console script is not installed")
    assert script is not None
    return [script, *args]


def show_argv() -> list[str]:
    return toygrpc_argv("show")


def test_show_prints_swimlane_stage_table_files_and_view_command(
        capsys: pytest.CaptureFixture[str], run_copy: Path) -> None:
    code, out, err = show(capsys, str(run_copy), "--width", "120")
    assert code == 0, err
    call = oracle.MEDIAN_CLIENT  # the default: the client call of median latency
    assert out.startswith(f"RPC {call.index}: client /HelloService/Hello OK, "
                          f"{oracle.us(call.latency)} µs")
    for text in ("#1 created", "#5 resumed", "RPC end", "Stages over the run (µs, captured with",
                 "core_and_network", f"toygrpc view {run_copy}",
                 f"{run_copy / 'events.jsonl'}", f"{run_copy / 'swimlane.svg'}"):
        assert text in out
    assert out.index("RPC end") < out.index("Stages over the run") < out.index("toygrpc view")
    assert widest(out, run_copy) <= 120
    assert all((run_copy / name).is_file() for name in PICTURES)


def test_show_another_rpc_and_width(capsys: pytest.CaptureFixture[str], run_copy: Path) -> None:
    code, out, _ = show(capsys, str(run_copy), "--rpc", "2", "--width", "100", "--no-plots")
    assert code == 0
    assert out.startswith("RPC 2: server /HelloService/Hello OK")
    assert widest(out, run_copy) <= 100
    assert not (run_copy / "swimlane.svg").exists()
    code, wide, _ = show(capsys, str(run_copy), "--width", "160", "--no-plots")
    assert code == 0 and widest(wide, run_copy) > 120


def test_show_json(capsys: pytest.CaptureFixture[str], run_copy: Path) -> None:
    """``show --json --rpc 1``: the first client call as read by hand from the raw events
    (tests/render/oracle.py): its start, latency and stages, every step of its batch at its
    time on its thread, the server call it reached."""
    code, out, err = show(capsys, str(run_copy), "--json", "--rpc", "1", "--no-plots")
    assert code == 0, err
    data = json.loads(out)
    call = oracle.CLIENT_CALLS[0]
    rpc = data["rpc"]
    assert (rpc["index"], rpc["side"], rpc["start"], rpc["latency"], rpc["peer_index"]) == (
        1, "client", call.start, call.latency, 2)
    assert rpc["stages"] == call.rpc_stages()
    assert [s["name"] for s in data["stages"]] == oracle.STAGE_NAMES
    client = [s for s in rpc["steps"] if s["chain"] == 2]
    assert [(s["step"], s["ts"], s["tid"], s["thread"]) for s in client] == [
        (step, ts, tid, {oracle.CLIENT_MAIN: "main", oracle.CLIENT_POLLER: "poller"}.get(
            tid, "event_engine")) for step, (_, _, ts, tid) in call.steps.items()]
    server_start, server_tid = oracle.SERVER_CALL_STARTS[0][1:]
    request = [s for s in rpc["steps"] if s["chain"] == 1 and s["step"] == "completed"]
    assert [(s["ts"], s["tid"]) for s in request] == [(server_start, server_tid)]
    assert len([s for s in rpc["steps"] if s["chain"]]) == 5 * len(STEPS)  # 5 chains of 8
    assert len([link for link in rpc["links"] if link["label"] == "handoff"]) == 35
    assert data["view_command"] == f"toygrpc view {run_copy}"


def test_show_rebuilds_the_timeline_from_the_raw_files(
        capsys: pytest.CaptureFixture[str], run_copy: Path) -> None:
    (run_copy / "events.jsonl").unlink()
    code, out, err = show(capsys, str(run_copy), "--json", "--no-plots")
    assert code == 0, err
    assert json.loads(out)["complete_rpcs"] == 6
    assert (run_copy / "events.jsonl").is_file()


def _damage(kind: str, run: Path) -> str:
    """Damage a copy of the run one way; return what the error line must mention."""
    if kind == "not a directory":
        (run.parent / "file").write_text("x")
        shutil.rmtree(run)
        (run.parent / "file").rename(run)
        return "is not a directory"
    if kind == "not a run":
        (run / "capture.json").unlink()
        return "is not a toygrpc run"
    if kind == "capture.json truncated":
        (run / "capture.json").write_text('{"mode": "both", "proc')
        return "capture.json is damaged"
    if kind == "capture.json not an object":
        (run / "capture.json").write_text("null\n")
        return "capture.json is damaged"
    if kind.startswith("events.jsonl") and kind.endswith(", no raw files"):
        for role in ("client", "server"):  # nothing to rebuild it from
            shutil.rmtree(run / role)
    if kind.startswith("events.jsonl truncated"):
        text = (run / "events.jsonl").read_text()
        (run / "events.jsonl").write_text(text[: len(text) // 2])
        return "events.jsonl is damaged"
    if kind.startswith("events.jsonl empty"):
        (run / "events.jsonl").write_text("")
        return "events.jsonl is damaged (it is empty)"
    if kind.startswith("events.jsonl unknown event"):
        with (run / "events.jsonl").open("a") as out:
            out.write('{"kind": "no.such.event", "ts": 1}\n')
        return "damaged lines (events.jsonl): 1"
    if kind.startswith("events.jsonl binary"):
        (run / "events.jsonl").write_bytes(bytes(range(256)) * 10)
        return "events.jsonl is damaged"
    if kind == "no events, no raw files":
        (run / "events.jsonl").unlink()
        shutil.rmtree(run / "server")
        return "the raw files of server are missing"
    if kind == "rpc out of range":
        return "--rpc 7 is out of range: this run has 6 RPCs (1-6)"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", [
    "not a directory", "not a run", "capture.json truncated", "capture.json not an object",
    "events.jsonl empty, no raw files", "events.jsonl binary, no raw files",
    "no events, no raw files", "rpc out of range",
])
def test_a_bad_run_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], run_copy: Path,
                                          kind: str) -> None:
    expected = _damage(kind, run_copy)
    extra = ["--rpc", "7"] if kind == "rpc out of range" else []
    code, out, err = show(capsys, str(run_copy), *extra)
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("toygrpc show: ")
    assert "Traceback" not in err and not out
    if run_copy.is_dir():
        assert not any((run_copy / name).exists() for name in PICTURES)


@pytest.mark.parametrize("kind", [
    "events.jsonl truncated", "events.jsonl empty", "events.jsonl binary",
    "events.jsonl unknown event",
])
def test_a_damaged_timeline_is_rebuilt_from_the_raw_files(
        capsys: pytest.CaptureFixture[str], run_copy: Path, kind: str) -> None:
    expected = _damage(kind, run_copy)
    code, out, err = show(capsys, str(run_copy))
    assert code == 0, err
    assert "events.jsonl is damaged" in err and "rebuilt from the raw files" in err
    assert "6/6 RPCs with complete chains" in out and "partial run" not in err
    assert expected


@pytest.mark.parametrize("kind", ["events.jsonl unknown event, no raw files",
                                  "events.jsonl truncated, no raw files"])
def test_a_damaged_event_is_counted_and_the_run_said_partial(
        capsys: pytest.CaptureFixture[str], run_copy: Path, kind: str) -> None:
    expected = _damage(kind, run_copy)
    code, _out, err = show(capsys, str(run_copy))
    assert code == 0, err
    assert "partial run" in err and "damaged lines (events.jsonl): 1" in err
    assert expected


def test_fresh_client_run_end_to_end(tmp_path: Path) -> None:
    """``toygrpc trace`` prints the views and draws no plots (it says how to get them);
    ``show`` re-renders the run and draws them."""
    out = tmp_path / "run"
    trace = subprocess.run(
        toygrpc_argv("trace", "client", "--rpcs", "5", "--no-python", "--out", str(out)),
        capture_output=True, text=True, timeout=300, check=False)
    assert trace.returncode == 0, trace.stderr
    assert "#1 completed" in trace.stdout and f"toygrpc view {out}" in trace.stdout
    hint = [line for line in trace.stdout.splitlines() if "--plots" in line]
    assert hint == [f"pictures: toygrpc show {out} draws swimlane.svg/.png and "
                    "stages.svg/.png (or trace with --plots)"]
    for name in PICTURES:
        assert not (out / name).exists()

    result = subprocess.run([*show_argv(), str(out), "--width", "100"], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "RPC start" in text and "RPC end" in text and "5/5 RPCs with complete chains" in text
    for step in STEPS:
        assert f"#1 {step}" in text
    assert widest(text, out) <= 100
    assert f"toygrpc view {out}" in text
    for name in PICTURES:
        assert (out / name).stat().st_size > 0
    height, width = imread(out / "swimlane.png").shape[:2]
    assert width > height > 0
    assert (out / "swimlane.svg").read_text().count('id="link-') == 7

    as_json = subprocess.run([*show_argv(), str(out), "--json", "--rpc", "5", "--no-plots"],
                             capture_output=True, text=True, timeout=300, check=False)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["rpc"]["index"] == 5 and data["rpc_count"] == 5
    assert [s["step"] for s in data["rpc"]["steps"]] == ["RPC start", *STEPS, "RPC end"]

    bad = subprocess.run([*show_argv(), str(tmp_path)], capture_output=True, text=True,
                         timeout=300, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("output", ["--quiet", "--json", "report"])
def test_trace_with_plots_draws_them(tmp_path: Path, output: str) -> None:
    """``--plots``: the pictures are drawn whatever the output, and the report does not
    say how to get them."""
    out = tmp_path / "run"
    trace = subprocess.run(
        toygrpc_argv("trace", "client", "--rpcs", "3", "--no-python", "--plots", "--out",
                     str(out), *([output] if output != "report" else [])),
        capture_output=True, text=True, timeout=300, check=False)
    assert trace.returncode == 0, trace.stderr
    for name in PICTURES:
        assert (out / name).stat().st_size > 0
    assert "--plots" not in trace.stdout
    if output == "--json":
        assert json.loads(trace.stdout)["rpc_count"] == 3


def test_show_without_matplotlib_still_renders(capsys: pytest.CaptureFixture[str],
                                               run_copy: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import toygrpc.render.plots as plots

    monkeypatch.setattr(plots, "MATPLOTLIB_ERROR", "the plots need matplotlib: pip install it")
    code, out, _ = show(capsys, str(run_copy), "--width", "120")
    assert code == 0 and "plots not written: the plots need matplotlib" in out
    assert "Stages over the run" in out and not (run_copy / "swimlane.svg").exists()
