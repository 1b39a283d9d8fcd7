"""The GitHub workflow: valid against GitHub's workflow schema (shipped offline with
check-jsonschema), no medium or high finding from zizmor's offline audits, and it does
what the project's CI promises (.ci/run on 3.11-3.13, traces/ci uploaded, stage tables
in the job summary)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed (pip install -e '.[test]')")
    assert path is not None
    return path


def schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("check-jsonschema"), "--builtin-schema",
                           "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def workflow() -> Any:
    return YAML(typ="safe").load(WORKFLOW.read_text())


def test_the_workflow_matches_githubs_schema(tmp_path: Path) -> None:
    done = schema_check(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "ci.yml"  # the check can fail: a job without runs-on
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:"))
    assert schema_check(broken).returncode != 0


def test_zizmor_finds_nothing_medium_or_high() -> None:
    done = subprocess.run([tool("zizmor"), "--offline", "--format", "json",
                           str(WORKFLOW.parent)], capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 10, 11, 12, 13, 14), done.stderr  # 1x: findings exist
    findings = json.loads(done.stdout)
    serious = [f"{f['ident']}: {f['determinations']['severity']}" for f in findings
               if f["determinations"]["severity"] in ("Medium", "High")]
    assert serious == []


def test_it_runs_ci_run_on_three_pythons(workflow: Any) -> None:
    (job,) = workflow["jobs"].values()
    assert job["strategy"]["matrix"]["python"] == ["3.11", "3.12", "3.13"]
    runs = [step.get("run", "") for step in job["steps"]]
    assert "bash .ci/run" in runs
    assert all("${{" not in run for run in runs)  # no expression expanded into a shell


def test_it_uploads_traces_ci_and_writes_the_stage_tables(workflow: Any) -> None:
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"].rstrip("/") == "traces/ci"
    summary = next(s for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert "traces/ci/stage-tables.md" in summary["run"]
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert "traces/ci/stage-tables.md" in ci_run and "traces/ci/samples" in ci_run
    assert all(len(s["uses"].split("@")[1]) == 40 for s in steps if "uses" in s)  # pinned


def test_ci_run_calls_the_readmes_test_command_before_anything_it_adds() -> None:
    readme, ci_run = (ROOT / "README.md").read_text(), (ROOT / ".ci" / "run").read_text()
    command = "pip install -e '.[test]' && python -m pytest"
    assert command in readme
    lines = ci_run.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.startswith(command)]
    assert "set -euo pipefail" in ci_run  # a failing test run stops the script there
    assert not [ln for ln in lines[:at] if "toygrpc" in ln and not ln.startswith("#")]
