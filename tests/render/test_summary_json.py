"""summary.json is written by orjson where it can be: the bytes are still json's."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from toygrpc.analysis.run import Run
from toygrpc.render.summary import build_summary, indented_json


def as_json_writes(data: Any) -> bytes:
    return (json.dumps(data, indent=1) + "\n").encode()


def test_a_real_runs_summary_is_written_as_json_writes_it(run_copy: Any) -> None:
    data = build_summary(Run.load(run_copy))
    assert data["rpcs"]  # a real run, with chains and stages
    assert indented_json(data) == as_json_writes(data)


@pytest.mark.parametrize("value", [
    "café", "\x7f", "tab\there", {1: "an int key"}, 2**70, 1e16, 1e-5, float("inf"),
    0.1, -0.0, 123456.789, [], {}, (1, "tuple"), None, True,
])
def test_what_orjson_would_spell_otherwise_is_spelled_as_json_does(value: Any) -> None:
    data = {"outer": [value, {"inner": value}], "after": 1}
    assert indented_json(data) == as_json_writes(data)


def test_floats_are_spelled_as_json_spells_them() -> None:
    draw = random.Random(3)
    values = [draw.uniform(-1e6, 1e6) for _ in range(2000)]
    values += [draw.random() * 10 ** draw.randint(-6, 18) for _ in range(2000)]
    assert indented_json({"values": values}) == as_json_writes({"values": values})
