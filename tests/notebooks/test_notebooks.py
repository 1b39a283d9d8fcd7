"""Every notebook under notebooks/ runs top to bottom on a live capture, and what it
displays is real: a figure, a table, prose with numbers, and each run's own numbers in
the views (the notebooks' captures are loaded back from disk and checked against them).

``TOYGRPC_NOTEBOOK_OUT=DIR`` keeps the executed notebooks there (CI uploads them).
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

import pytest

import toygrpc
from tests.conftest import IN_CI

# Skipped on a machine without Jupyter's packages; in CI (where .ci/run installs the test
# extra) a missing one fails the run instead.
try:
    import nbclient
    import nbformat
except ImportError as missing:
    if IN_CI:
        raise
    pytest.skip(f"{missing.name} is not installed (pip install -e '.[test]')",
                allow_module_level=True)

pytestmark = pytest.mark.notebook

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def read_notebook(path: Path) -> Any:
    return nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]  # unannotated in nbformat


def write_notebook(notebook: Any, path: Path) -> None:
    nbformat.write(notebook, path)  # type: ignore[no-untyped-call]  # unannotated in nbformat


def visible_text(markup: str) -> str:
    text = re.sub(r"<style.*?</style>", " ", markup, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", text))


def outputs(notebook: Any) -> list[tuple[int, Any]]:
    return [(index, output) for index, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" for output in cell.get("outputs", [])]


def test_the_six_walkthroughs_are_there() -> None:
    assert [p.stem.split("-", 1)[0] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    """Outputs are made by running (README: a committed output would go stale)."""
    notebook = read_notebook(path)
    assert outputs(notebook) == []
    assert all(c.get("execution_count") is None for c in notebook.cells if c.cell_type == "code")


@pytest.fixture(scope="module", params=NOTEBOOKS, ids=lambda p: p.stem)
def executed(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Path]:
    path: Path = request.param
    workdir = tmp_path_factory.mktemp(path.stem)
    notebook = read_notebook(path)
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(workdir)}})
    client.execute()  # raises on the first failing cell, with its traceback
    keep = os.environ.get("TOYGRPC_NOTEBOOK_OUT")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        write_notebook(notebook, Path(keep) / path.name)
    return path, notebook, workdir


def test_it_shows_a_figure_a_table_and_prose_with_numbers(
        executed: tuple[Path, Any, Path]) -> None:
    _, notebook, _ = executed
    found = outputs(notebook)
    assert not [o for _, o in found if o.output_type == "error"]
    pages = [o.data["text/html"] for _, o in found if "text/html" in o.get("data", {})]
    assert pages and all(visible_text(page).strip() for page in pages), "an empty HTML view"
    figures = [o for _, o in found if "image/png" in o.get("data", {})]
    assert figures or any("<svg" in page for page in pages), "no figure"
    assert any("<table" in page or "(µs" in visible_text(page) for page in pages), "no table"
    prose = "".join(o.text for _, o in found if o.output_type == "stream")
    assert re.search(r"\d+\.\d µs", prose), "no numbers in the prose"


def test_each_view_is_displayed_once(executed: tuple[Path, Any, Path]) -> None:
    """A view that also printed itself through rich's Jupyter console would show twice."""
    _, notebook, _ = executed
    per_cell: dict[int, list[str]] = {}
    for index, output in outputs(notebook):
        text = output.get("data", {}).get("text/plain")
        if text and not text.startswith("<"):
            per_cell.setdefault(index, []).append(text)
    assert all(len(texts) == len(set(texts)) for texts in per_cell.values())


def test_the_views_hold_the_numbers_of_the_runs_it_captured(
        executed: tuple[Path, Any, Path]) -> None:
    path, notebook, workdir = executed
    runs = sorted(workdir.glob(f"runs/{path.stem}-*/*/capture.json"))
    assert runs, "the notebook captured nothing"
    shown = " ".join(visible_text(o.data["text/html"]) for _, o in outputs(notebook)
                     if "text/html" in o.get("data", {}))
    for manifest in runs:
        run = toygrpc.load(manifest.parent).run
        stats = [s for s in run.stage_stats if s.count] or [
            s for s in run.hook_span_stats if s.count]
        assert stats, f"{manifest.parent.name}: no stage measured"
        missing = [s.name for s in stats if f"{s.p50 / 1000:.1f}" not in shown]
        assert not missing, f"{manifest.parent.name}: p50 of {missing} not displayed"



def test_notebook_5_fails_calls_with_the_scenarios() -> None:
    """Notebook 5's deadline and cancellation are the Hello service's own scenarios
    (``--scenario``), not a program of its own."""
    (path,) = [p for p in NOTEBOOKS if p.stem.startswith("05-")]
    source = "\n".join(c.source for c in read_notebook(path).cells)
    assert 'scenario="deadline-exceeded"' in source and 'scenario="client-cancel"' in source
    assert "deadline_and_cancel" not in source
