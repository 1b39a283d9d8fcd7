"""`toygrpc view`'s server: loopback only, the endpoints the UI asks for, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from toygrpc.analysis.run import Run
from toygrpc.errors import UsageError
from toygrpc.render.perfetto import PerfettoRenderer
from toygrpc.viewer.server import PerfettoServer


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
        return body


def test_serves_the_ui_and_the_trace_on_loopback(both_run: Run) -> None:
    cap, _timeline, _analysis = both_run.manifest, both_run.timeline, both_run.analysis
    PerfettoRenderer().render(both_run)
    with PerfettoServer(cap.run_dir) as server:
        assert server.httpd.server_address[0] == "127.0.0.1"
        assert json.loads(get(server.url + "vizviewer_info")) == {}
        assert json.loads(get(server.url + "file_info")) == {}
        assert get(server.url + "localtrace") == (cap.run_dir / "trace.perfetto-trace").read_bytes()
        assert b"<html" in get(server.url + "index.html").lower()


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing", "no such trace"),
    (lambda d: d, "has no trace.perfetto-trace or trace.json"),
    (lambda d: (d / "bad.perfetto-trace").write_text("{}") and d / "bad.perfetto-trace",
     "is not a Perfetto protobuf trace"),
    (lambda d: (d / "bad.json").write_text("{nope") and d / "bad.json", "is not a JSON trace"),
])
def test_bad_paths_are_one_line_errors(tmp_path: Path, make: object, message: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(UsageError, match=message):
        PerfettoServer(path)
    result = subprocess.run([sys.executable, "-m", "toygrpc", "view", str(path),
                             "--no-browser"], capture_output=True, text=True, timeout=30,
                            check=False)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
