"""summary.json is written by orjson where it can be: the bytes are still json's."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from toygrpc.analysis.run import Run
from toygrpc.render.summary import build_summary, indented_json, indented_json_blocks


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


def test_a_plain_summary_never_goes_through_jsons_encoder(run_copy: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The real run's summary (str keys, ints, strings, a float) is written by orjson: json's
    pure-Python indenting encoder takes minutes on a 100,000-RPC run."""
    data = build_summary(Run.load(run_copy))
    data["a float"] = [0.5, 123456.789]
    expected = as_json_writes(data)

    def no_json(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("json's encoder used for plain data")

    monkeypatch.setattr("toygrpc.render.summary.json.dumps", no_json)
    assert indented_json(data) == expected
    with pytest.raises(AssertionError, match="json's encoder used"):
        indented_json({1: "an int key"})


def test_the_summary_comes_in_blocks_of_whole_lines(run_copy: Any) -> None:
    """Each block ends at the first line end after ``block_bytes`` of orjson's output (so
    that a writer never holds the whole file twice); the last block is the final newline."""
    data = build_summary(Run.load(run_copy))
    expected = as_json_writes(data)
    blocks = list(indented_json_blocks(data, block_bytes=4000))
    assert b"".join(blocks) == expected
    assert blocks[-1] == b"\n" and len(blocks) >= 10  # 37 kB written
    longest = max(len(line) for line in expected.splitlines(keepends=True))
    assert blocks[-2].endswith(b"\n}")
    for block in blocks[:-2]:  # 4000 bytes of orjson's lines, at most halved by the indents
        assert block.endswith(b"\n"), block[-40:]
        assert 2000 <= len(block) < 4000 + 2 * longest
    assert list(indented_json_blocks({"a": [1, 2]})) == [b'{\n "a": [\n  1,\n  2\n ]\n}',
                                                          b"\n"]
