"""What the simulator's two loopback servers share: a threaded HTTP server with a deep listen backlog,
served from a background thread, usable as `with Server(...) as url:`, and a request handler whose
per-request plumbing (header parsing, one write per answer) is cheap enough for a simulated day."""

from __future__ import annotations

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast


class LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default listen backlog (5) drops concurrent connects, which then wait a 1 s SYN retry.
    request_queue_size = 256
    connections_accepted = 0    # TCP connections taken, for tests of clients' keep-alive

    def get_request(self):
        # Handlers write headers and body separately; with Nagle on, a keep-alive client (a requests.Session,
        # huggingface_hub's httpx client) waits a delayed ACK, ~40 ms, for every answer.
        conn, addr = super().get_request()
        self.connections_accepted += 1     # one serving thread accepts: no lock needed
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (a timeout against a slow or hung answer) is normal here, not a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Headers(dict):
    """Request headers by lower-cased name; .get() as on an email.message.Message."""

    def get(self, name: str, default=None):
        return super().get(name.lower(), default)

    def __getitem__(self, name: str):
        return super().get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


class QuickHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler. The stdlib parses every request's headers with the email package and
    writes an answer's head and body as separate sends; over a simulated day that plumbing cost more than
    the model. Here plain HTTP/1.x requests are parsed directly (anything unusual goes the stdlib's way),
    and an answer is buffered and sent in one write when the request is done."""

    raw_requestline: bytes      # set by handle_one_request() before parse_request()
    protocol_version = "HTTP/1.1"
    # Answers are buffered up to this size; handle_one_request() flushes after each request.
    wbufsize = 1 << 16
    _MAX_HEADERS = 100      # http.client's limit

    def parse_request(self) -> bool:
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.1", "HTTP/1.0"):
            return super().parse_request()
        self.requestline = requestline
        self.command, path, self.request_version = words
        self.path = "/" + path.lstrip("/") if path.startswith("//") else path
        headers = _Headers()
        for _ in range(self._MAX_HEADERS + 1):
            line = self.rfile.readline(65537)
            if len(line) > 65536:
                self.send_error(431, "Line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = str(line, "iso-8859-1").partition(":")
            if sep:     # a repeated header keeps its first value, as Message.get() answers
                headers.setdefault(name.strip().lower(), value.strip())
        else:
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers      # type: ignore[assignment]
        conntype = headers.get("Connection", "").lower()
        self.close_connection = conntype == "close" or (self.request_version == "HTTP/1.0" and conntype != "keep-alive")
        if headers.get("Expect", "").lower() == "100-continue" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def handle_expect_100(self) -> bool:
        ok = super().handle_expect_100()
        self.wfile.flush()          # the client waits for the 100 before it sends the body
        return ok

    def answer(self, status: int, data: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class Background:
    """Mixin: `self._httpd` is served on a daemon thread between start() and stop()."""

    _httpd: ThreadingHTTPServer
    _thread: threading.Thread | None
    thread_name = "zeb-loopback"

    @property
    def url(self) -> str:
        host, port = cast("tuple[str, int]", self._httpd.server_address[:2])   # an AF_INET server
        return f"http://{host}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
