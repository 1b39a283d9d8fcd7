"""Apply each mutation listed in issue 17 by hand, run the offline tests, and say which fail.

Run ``python scripts/check_listed_mutations.py`` from the repository's root (about a
minute). Each mutation is applied to a scratch copy of the repository (the work tree is
never touched), the offline tests that mutmut runs are run on that copy, and the failing
tests are printed: every mutation must make at least one test fail. The table in
docs/mutation-testing.md ("mutation -> killing test") comes from this output.

The render mutations of the issue (the swimlane's stage test, the Jupyter HTML, ``show``
in the command) are checked by the render tests; this script covers the numbers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ["tests/analysis/test_chain_fixtures.py", "tests/analysis/test_fixtures.py",
         "tests/analysis/test_stages.py", "tests/analysis/test_stream_oracle.py",
         "tests/capture/test_corelog.py", "tests/capture/test_merge.py",
         "tests/capture/test_hooks.py"]
REPLY_SENT = ('reply = next((c.core_call for c in server.chains\n'
              '                  if "SEND_STATUS_FROM_SERVER" in getattr(c.core_call, "ops", ())),'
              ' None)')
REPLY_RECEIVED = ('received = next((c.completed for c in client.chains\n'
                  '                     if "RECV_STATUS_ON_CLIENT" in getattr(c.core_call, "ops",'
                  ' ())), None)')
# (what the mutation does, the file, [(text, replacement)...])
MUTATIONS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("stage labels of completed/returned swapped", "toygrpc/analysis/chains.py",
     [('"completed": ("core_and_network",', '"completed": ("core_to_poller",'),
      ('"returned": ("core_to_poller",', '"returned": ("core_and_network",')]),
    ("percentile off by one (the rank after)", "toygrpc/analysis/stages.py",
     [("return sorted_values[min(rank, len(sorted_values)) - 1]",
       "return sorted_values[min(rank + 1, len(sorted_values)) - 1]")]),
    ("percentile off by one (the rank before)", "toygrpc/analysis/stages.py",
     [("return sorted_values[min(rank, len(sorted_values)) - 1]",
       "return sorted_values[max(min(rank, len(sorted_values)) - 2, 0)]")]),
    ("reply link from the server's first batch", "toygrpc/analysis/chains.py",
     [(REPLY_SENT, "reply = server.chains[1].core_call if len(server.chains) > 1 else None")]),
    ("reply link to the client's first chain", "toygrpc/analysis/chains.py",
     [(REPLY_RECEIVED, "received = client.chains[0].completed")]),
    ("UTC offset sign flipped", "toygrpc/capture/corelog.py",
     [("seconds = calendar.timegm((self.year, month, day, hh, mm, ss)) - self.utc_offset_s",
       "seconds = calendar.timegm((self.year, month, day, hh, mm, ss)) + self.utc_offset_s")]),
    ("cq_end_op ok flag inverted", "toygrpc/capture/corelog.py",
     [("ERROR_OK.search(args) is not None)", "ERROR_OK.search(args) is None)")]),
    ("viztracer drift slope sign flipped", "toygrpc/capture/merge.py",
     [('slope = (end["offset_ns"] - start["offset_ns"]) / (t1 - t0)',
       'slope = (start["offset_ns"] - end["offset_ns"]) / (t1 - t0)')]),
    ("clock bracket lower bound: truncation's sign flipped", "toygrpc/capture/merge.py",
     [("lows.append(future.ts - start.ts - TRUNCATION_NS)",
       "lows.append(future.ts - start.ts + TRUNCATION_NS)")]),
    ("clock bracket lower bound: difference's sign flipped", "toygrpc/capture/merge.py",
     [("lows.append(future.ts - start.ts - TRUNCATION_NS)",
       "lows.append(start.ts - future.ts - TRUNCATION_NS)")]),
    ("set_exception loses its drain id (the hook)", "toygrpc/capture/hooks.py",
     [("future_id, False, drain, type(exception).__name__)",
       "future_id, False, 0, type(exception).__name__)")]),
    ("set_exception loses its drain id (the analysis)", "toygrpc/analysis/chains.py",
     [("chain.drain = drains.get(resolved.in_drain)",
       "chain.drain = drains.get(resolved.in_drain) if resolved.ok else None")]),
]
SKIP = shutil.ignore_patterns("mutants", ".git", "__pycache__", "node_modules", ".mypy_cache",
                              ".ruff_cache")


def check(name: str, path: str, edits: list[tuple[str, str]], scratch: Path) -> list[str]:
    """The tests that fail with this mutation applied to a fresh copy."""
    copy = scratch / "copy"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(ROOT, copy, ignore=SKIP)
    target = copy / path
    text = target.read_text()
    for old, new in edits:
        if text.count(old) != 1:
            raise SystemExit(f"{name}: the text to mutate is not in {path} once; update me")
        text = text.replace(old, new)
    target.write_text(text)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-rf", *TESTS], cwd=copy, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(copy)}, check=False)
    return sorted({line.split(" ")[1].split("[")[0] for line in run.stdout.splitlines()
                   if line.startswith("FAILED ")})


def main() -> int:
    survivors = 0
    with tempfile.TemporaryDirectory() as scratch:
        baseline = check("no mutation", "toygrpc/__init__.py", [], Path(scratch))
        if baseline:
            print(f"the tests fail without a mutation: {baseline}")
            return 1
        for name, path, edits in MUTATIONS:
            failed = check(name, path, edits, Path(scratch))
            print(f"{name} ({path}): {len(failed) or 'NO'} failing test(s)")
            for test in failed:
                print(f"    {test}")
            survivors += not failed
            sys.stdout.flush()
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
