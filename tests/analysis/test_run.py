"""``Run``: a saved run loaded back, its derived views computed once, damage said in words."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from toygrpc.analysis.run import Run, describe_damage
from toygrpc.errors import UsageError

SHAPES = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "shapes-both"


def copy_of(tmp_path: Path) -> Path:
    run = tmp_path / "shapes-both"
    shutil.copytree(SHAPES, run)
    return run


def test_a_saved_run_loads_with_its_views_computed_once(tmp_path: Path) -> None:
    run = Run.load(copy_of(tmp_path))
    assert run.run_dir == tmp_path / "shapes-both"
    assert run.layout.events == run.run_dir / "events.jsonl"
    assert len(run.analysis.rpcs) == 8 and run.analysis is run.analysis
    assert run.stage_stats is run.stage_stats and len(run.stage_stats) == 9
    assert run.stage_samples is run.stage_samples
    assert [s.count for s in run.hook_span_stats] == [1] * 5  # the one unary client RPC
    typical = run.swimlane()
    assert typical is run.swimlane() and typical.number == 3  # the median client RPC
    first = run.swimlane(1)
    assert first is run.swimlane(1) and first.number == 1 and first is not typical


@pytest.mark.parametrize(("content", "said"), [
    (b"", "it is empty"),
    (b"{not json\n", "JSONDecodeError: Expecting property name enclosed in double quotes: "
                     "line 1 column 2 (char 1)"),
])
def test_damage_to_the_timeline_is_one_usage_error_naming_the_file(
        tmp_path: Path, content: bytes, said: str) -> None:
    run_dir = copy_of(tmp_path)
    (run_dir / "events.jsonl").write_bytes(content)
    with pytest.raises(UsageError) as caught:
        Run.load(run_dir)
    assert str(caught.value) == (
        f"{run_dir / 'events.jsonl'} is damaged ({said}); delete it to rebuild it from the "
        "raw files, or capture the run again")


def test_damage_is_described_on_one_short_line() -> None:
    assert describe_damage(StopIteration()) == "it is empty"
    assert describe_damage(KeyError("ts")) == "KeyError: 'ts'"
    assert describe_damage(ValueError("two\n   lines")) == "ValueError: two lines"
    assert describe_damage(TypeError()) == "TypeError"
    assert describe_damage(ValueError("x" * 300)) == "ValueError: " + "x" * 200


def test_a_run_saves_its_manifest_and_timeline_into_its_directory(tmp_path: Path) -> None:
    """shapes-both's events.jsonl holds a header line and 901 events: saved again from
    the loaded run, it holds them all, and the run loads back the same."""
    run_dir = copy_of(tmp_path)
    run = Run.load(run_dir)
    (run_dir / "events.jsonl").unlink()
    (run_dir / "capture.json").unlink()
    run.save()
    assert (run_dir / "events.jsonl").read_text().count("\n") == 902
    again = Run.load(run_dir)
    assert len(again.timeline.events) == 901 and len(again.analysis.rpcs) == 8
    assert again.manifest.processes[0].pid == 29943  # the server, first in capture.json
