"""Screenshots of a real trace in the real Perfetto UI, for docs/reading-the-trace.md.

``python -m toygrpc.testing.screenshots RUN_DIR [--out docs/img]`` loads the run's trace
into the UI in headless Chromium and saves what the UI shows: an RPC selected, and a
core completion selected with its arrows. The docs' pictures come from a
``toygrpc trace both --rpcs 3`` run (docs/reading-the-trace.md has the command); the
test suite runs the same code on its own capture.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from toygrpc.errors import UsageError
from toygrpc.testing.perfetto_ui import PerfettoBrowser, PerfettoUI
from toygrpc.viewer.server import resolve_trace

DOCS_IMAGES = Path("docs") / "img"
RPC_SLICES = "s.category = 'rpc.call' and s.depth = 0"  # toygrpc.render.perfetto.RPC_CATEGORY
SETTLE_S = 1.5  # the UI draws after its last query: let it finish before the picture
EXPAND_ALL = """() => {
  const walk = (node) => { node.expand(); for (const child of node.children) walk(child); };
  for (const child of window.app.trace.workspace.children) walk(child);
}"""
# Tracks register a while after the trace loads: select until the UI takes it.
SELECT = """(id) => {
  const s = window.app.trace.selection;
  if (s.selection.kind !== 'empty' && s.selection.eventId === id) return true;
  s.selectSqlEvent('slice', id, {scrollToSelection: true});
  return false;
}"""


def select(ui: PerfettoUI, slice_id: int, zoom: bool = True) -> None:
    """Select a slice as a click would, and zoom the timeline onto it."""
    ui.page.evaluate(EXPAND_ALL)
    ui.page.wait_for_function(SELECT, arg=slice_id, polling=300)
    if zoom:
        ui.page.evaluate("() => window.app.trace.selection.zoomOnSelection()")
    time.sleep(SETTLE_S)


# A flow whose two ends are in different processes.
CROSS = ("(select upid from thread_track tt join thread using(utid) join slice a "
         "on a.track_id = tt.id where a.id = f.slice_out) != (select upid from thread_track "
         "tt join thread using(utid) join slice b on b.track_id = tt.id "
         "where b.id = f.slice_in)")


def enlarge_details(ui: PerfettoUI, top: float = 0.55) -> None:
    """Drag the details panel's tab bar up, so that a slice's arguments show whole."""
    tab = ui.page.get_by_text("Current Selection").first
    box = tab.bounding_box()
    viewport = ui.page.viewport_size
    if box is None or viewport is None:
        return  # nothing to drag: the picture shows the panel at its usual height
    x, y = box["x"] + box["width"] + 200, box["y"] + box["height"] / 2
    ui.page.mouse.move(x, y)
    ui.page.mouse.down()
    ui.page.mouse.move(x, viewport["height"] * top, steps=10)
    ui.page.mouse.up()
    ui.page.evaluate("() => window.app.trace.selection.scrollToSelection()")
    time.sleep(SETTLE_S)


def first_slice(ui: PerfettoUI, where: str) -> int:
    rows = ui.query("select s.id from slice s join track t on s.track_id = t.id "
                    f"where {where} order by s.ts limit 1")
    if not rows:
        raise RuntimeError(f"the trace has no slice where {where}")
    return int(rows[0]["id"])


def take_screenshots(trace: Path, out: Path, browser: PerfettoBrowser) -> list[Path]:
    """The pictures docs/reading-the-trace.md shows, from a ``trace both`` run's trace."""
    out.mkdir(parents=True, exist_ok=True)
    with browser.open(trace) as ui:
        ui.page.wait_for_function("() => window.app.trace.workspace.children.length > 0")
        # The server's side of the first RPC: its track is at the top of the page.
        rpc = first_slice(ui, f"{RPC_SLICES} and "
                          "s.arg_set_id in (select arg_set_id from args where "
                          "key = 'debug.side' and string_value = 'server')")
        select(ui, rpc)
        enlarge_details(ui)
        shots = [ui.screenshot(out / "trace-rpc.png")]
        # A completion the other process caused: the arrow in from the other side's
        # batch start, the one out to the poller's RETURN_EVENT.
        completion = first_slice(ui, "s.name like 'cq_end_op_for_next%' and s.id in "
                                 f"(select slice_in from flow f where {CROSS})")
        select(ui, completion, zoom=False)
        enlarge_details(ui, top=0.5)
        shots.append(ui.screenshot(out / "trace-flows.png"))
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toygrpc.testing.screenshots",
                                     description="Screenshots of a run's trace in the real "
                                     "Perfetto UI (headless Chromium).")
    parser.add_argument("run", type=Path, metavar="RUN_DIR_OR_TRACE",
                        help="a `toygrpc trace both` run directory, or its trace file")
    parser.add_argument("--out", type=Path, default=DOCS_IMAGES,
                        help=f"folder for the PNGs (default {DOCS_IMAGES})")
    options = parser.parse_args(argv)
    try:
        trace = resolve_trace(options.run)
    except UsageError as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    with PerfettoBrowser() as browser:
        for path in take_screenshots(trace, options.out, browser):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
