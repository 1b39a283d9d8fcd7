"""The committed real runs the offline analysis tests read, loaded once per module."""

from __future__ import annotations

import pytest

from tests.analysis.recorded import BOTH_3, HOOKS_ONLY_CLIENT
from toygrpc.analysis.run import Run


@pytest.fixture(scope="module")
def both_3() -> Run:
    return Run.load(BOTH_3)


@pytest.fixture(scope="module")
def hooks_only() -> Run:
    return Run.load(HOOKS_ONLY_CLIENT)
