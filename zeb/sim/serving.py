"""What the simulator's two loopback servers share: a threaded HTTP server with a deep listen backlog,
served from a background thread, usable as `with Server(...) as url:`."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer


class LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default listen backlog (5) drops concurrent connects, which then wait a 1 s SYN retry.
    request_queue_size = 256


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
