"""`toygrpc view`'s server: loopback only, the endpoints the UI asks for, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
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
     "is not a whole trace"),
    (lambda d: (d / "bad.json").write_text("{nope") and d / "bad.json", "is not a whole trace"),
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


def request(url: str, host: str | None = None) -> int:
    """The status of a GET, with the Host header a browser (or a rebinding page) sends."""
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_only_the_ui_and_the_one_trace_for_a_loopback_host(both_run: Run) -> None:
    PerfettoRenderer().render(both_run)
    with PerfettoServer(both_run.run_dir) as server:
        port = server.httpd.server_address[1]
        assert request(server.url + "localtrace", f"localhost:{port}") == 200
        assert request(server.url + "localtrace", f"127.0.0.1:{port}") == 200
        # DNS rebinding: a page at evil.example whose name now resolves to 127.0.0.1
        assert request(server.url + "localtrace", f"evil.example:{port}") == 403
        assert request(server.url + "index.html", f"evil.example:{port}") == 403
        # only the exact endpoints: no other path ending in localtrace, nothing outside the UI
        assert request(server.url + "summary.json/localtrace") == 404
        assert request(server.url + "../capture.json") == 404
        assert request(server.url + "capture.json") == 404


def test_a_run_directory_with_a_damaged_trace_is_refused(both_run: Run, tmp_path: Path) -> None:
    (written,) = PerfettoRenderer(trace_format="json").render(both_run)
    whole = written.read_bytes()
    (tmp_path / "trace.json").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UsageError, match="is not a whole trace"):
        PerfettoServer(tmp_path)


def test_a_protobuf_trace_is_checked_packet_by_packet(tmp_path: Path) -> None:
    from toygrpc.viewer.server import check_trace

    packet = b"\x0a\x03abc"
    whole = tmp_path / "t.pftrace"
    whole.write_bytes(packet * 3)
    assert check_trace(whole) == whole
    for damaged in (packet * 2 + packet[:3], b"", b"\x12\x01x"):
        whole.write_bytes(damaged)
        with pytest.raises(UsageError, match="is not a whole trace"):
            check_trace(whole)
