"""What the simulator's two loopback servers share: a threaded HTTP server with a deep listen backlog,
served from a background thread, usable as `with Server(...) as url:`."""

from __future__ import annotations

import socket
import sys
import threading
from http.server import ThreadingHTTPServer


class LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default listen backlog (5) drops concurrent connects, which then wait a 1 s SYN retry.
    request_queue_size = 256

    def get_request(self):
        # Handlers write headers and body separately; with Nagle on, a keep-alive client (a requests.Session,
        # huggingface_hub's httpx client) waits a delayed ACK, ~40 ms, for every answer.
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (a timeout against a slow or hung answer) is normal here, not a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Background:
    """Mixin: `self._httpd` is served on a daemon thread between start() and stop()."""

    _httpd: ThreadingHTTPServer
    thread_name = "zeb-loopback"

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
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
