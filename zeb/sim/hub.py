"""A tiny fake Hugging Face Hub on loopback: enough of the API for huggingface_hub to tell whether a
weights file exists in a repo (HEAD .../resolve/main/FILE) and when a repo last received files
(GET /api/models/REPO). Point HF_ENDPOINT at it."""

from __future__ import annotations

import hashlib
import json
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote, urlsplit

from zeb.sim.serving import Background, LoopbackHTTPServer


class FakeHub(Background):
    thread_name = "zeb-fake-hub"

    def __init__(self, files: dict[str, dict[str, bytes]] | None = None, *, clock=None,
                 require_token: str | None = None) -> None:
        self.clock = clock or time.time
        self.require_token = require_token
        self.repos: dict[str, dict[str, tuple[bytes, float]]] = {}
        self.calls: list[tuple[str, str]] = []
        for repo, entries in (files or {}).items():
            for path, data in entries.items():
                self.add_file(repo, path, data)
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", headers=None, head=False):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _authorised(self, head=False) -> bool:
                if hub.require_token is None:
                    return True
                if self.headers.get("Authorization") == f"Bearer {hub.require_token}":
                    return True
                self._send(401, b'{"error": "Invalid credentials in Authorization header"}',
                           {"Content-Type": "application/json"}, head)
                return False

            def do_HEAD(self):
                self._file(head=True)

            def do_GET(self):
                path = unquote(urlsplit(self.path).path)
                hub.calls.append(("GET", path))
                if path.startswith("/api/models/"):
                    if not self._authorised():
                        return
                    repo = path[len("/api/models/"):].split("/revision/")[0].strip("/")
                    return self._info(repo)
                self._file(head=False)

            def _info(self, repo: str):
                entries = hub.repos.get(repo)
                if entries is None:
                    return self._send(404, b'{"error": "Repository not found"}',
                                      {"X-Error-Code": "RepoNotFound", "Content-Type": "application/json"})
                last = max((t for _, t in entries.values()), default=hub.clock())
                body = json.dumps({
                    "id": repo, "sha": "0" * 40,
                    "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(last)),
                    "siblings": [{"rfilename": p} for p in sorted(entries)],
                }).encode()
                self._send(200, body, {"Content-Type": "application/json"})

            def _file(self, head: bool):
                path = unquote(urlsplit(self.path).path)
                if head:
                    hub.calls.append(("HEAD", path))
                if not self._authorised(head):
                    return
                if "/resolve/" not in path:
                    return self._send(404, b"", {"X-Error-Code": "EntryNotFound"}, head)
                repo, _, rest = path.strip("/").partition("/resolve/")
                _, _, filename = rest.partition("/")
                entries = hub.repos.get(repo)
                if entries is None:
                    return self._send(404, b'{"error": "Repository not found"}',
                                      {"X-Error-Code": "RepoNotFound", "Content-Type": "application/json"}, head)
                if filename not in entries:
                    return self._send(404, b'{"error": "Entry not found"}',
                                      {"X-Error-Code": "EntryNotFound", "Content-Type": "application/json"}, head)
                data, _ = entries[filename]
                etag = hashlib.sha256(data).hexdigest()
                self._send(200, data, {"ETag": f'"{etag}"', "X-Repo-Commit": "0" * 40,
                                       "Content-Type": "application/octet-stream"}, head)

        self._httpd = LoopbackHTTPServer(("127.0.0.1", 0), Handler)

    def add_file(self, repo_id: str, path: str, data: bytes = b"", when: float | None = None) -> None:
        self.repos.setdefault(repo_id, {})[path] = (data, self.clock() if when is None else when)
