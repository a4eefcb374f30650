"""A tiny fake Hugging Face Hub on loopback, for tests and the demo (point HF_ENDPOINT at it).

It answers what huggingface_hub 2.x sends to tell whether a file exists and when a repo last received
files: HEAD/GET /{repo}/resolve/{rev}/{file} (file_exists, get_hf_file_metadata, hf_hub_download),
GET /api/models/{repo}[/revision/{rev}] (repo_info, model_info), GET /api/models/{repo}/commits/{rev}
(list_repo_commits), POST /api/models/{repo}/paths-info/{rev} (get_paths_info) and
GET /api/models/{repo}/tree/{rev}[/{path}] (list_repo_tree: one level or recursive, pages linked by a
Link header). Repo types share one namespace. Every added file is one commit. Files can also come from
`examples_source` (repo id -> [(time, path)]): the simulated market's workers uploading their batches.

With `world` (a callable giving the simulator's onstart.World, the market's), the hub fails as that world
says at the clock's time, the same world the simulated workers pull their weights from: while the hub is
down every request gets 503; a revoked token gets 401 "Invalid credentials in Authorization header"; a
removed file's resolve gets 404 EntryNotFound."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from zeb.sim.serving import Background, LoopbackHTTPServer

# huggingface_hub reads a 401 carrying this exact message as "bad token", not as "repo not found".
BAD_TOKEN_MESSAGE = "Invalid credentials in Authorization header"
_API_PREFIXES = ("/api/models/", "/api/datasets/", "/api/spaces/")
_TYPE_PREFIXES = ("datasets/", "spaces/", "models/")


@dataclass
class _Commit:
    oid: str
    when: float
    title: str


@dataclass
class _Repo:
    created: float
    files: dict[str, tuple[bytes, _Commit]] = field(default_factory=dict)
    commits: list[_Commit] = field(default_factory=list)  # oldest first


def _iso(t: float) -> str:
    seconds, ms = divmod(round(t * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


def _commit_json(c: _Commit) -> dict:
    return {"id": c.oid, "title": c.title, "date": _iso(c.when)}


class FakeHub(Background):
    thread_name = "zeb-fake-hub"

    TREE_PAGE = 1000   # entries per tree page, as the hub serves them (50 with expand)

    def __init__(self, files: dict[str, dict[str, bytes]] | None = None, clock: Any = None, *,
                 require_token: str | None = None,
                 examples_source: Callable[[str], list[tuple[float, str]]] | None = None,
                 world: Callable[[], Any] | None = None) -> None:
        # A clock is either a callable or an object with .now() (the sim's ManualClock / ScaledClock).
        self._now: Callable[[], float] = (clock if callable(clock) else clock.now) if clock is not None else time.time
        self.require_token = require_token
        # Uploads that are not stored here but fed from outside (the sim's workers); the listing shows them.
        self.examples_source = examples_source
        self.world = world
        self.tree_page = self.TREE_PAGE
        self.repos: dict[str, _Repo] = {}
        self.calls: list[dict] = []
        self._failures: list[int] = []
        self._lock = threading.Lock()
        for repo, entries in (files or {}).items():
            self.add_repo(repo)
            for path, data in entries.items():
                self.add_file(repo, path, data)
        self._httpd = LoopbackHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread: threading.Thread | None = None

    # -- state, for tests -------------------------------------------------------------------------

    def add_repo(self, repo_id: str, when: float | None = None) -> None:
        with self._lock:
            self.repos.setdefault(repo_id, _Repo(created=self._now() if when is None else when))

    def add_file(self, repo_id: str, path: str, data: bytes = b"", when: float | None = None) -> None:
        when = self._now() if when is None else when
        with self._lock:
            repo = self.repos.setdefault(repo_id, _Repo(created=when))
            seed = f"{repo_id}\0{path}\0{len(repo.commits)}\0{when}".encode()
            commit = _Commit(hashlib.sha1(seed).hexdigest(), when, f"Upload {path}")
            repo.commits.append(commit)
            repo.files[path] = (data, commit)

    def fail_next(self, status: int, times: int = 1) -> None:
        """The next `times` requests get `status` (e.g. 500, 503) whatever they ask."""
        with self._lock:
            self._failures.extend([status] * times)

    def stop(self) -> None:
        if self._thread is None:  # shutdown() would wait forever for a loop that never ran
            self._httpd.server_close()
            return
        super().stop()

    # -- answers (called from handler threads) ----------------------------------------------------

    def outside_fault(self, token: str | None, repo_id: str = "", path: str = "") -> str | None:
        """The world's fault for this request now (onstart.HUB_FAULTS), None when there is no world."""
        return self.world().hub_fault(self._now(), token=token, repo_id=repo_id, path=path) if self.world else None

    def _take_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _find(self, segments: list[str]) -> tuple[str | None, list[str]]:
        """Split path segments into (known repo id, rest); ids may be `name` or `namespace/name`."""
        with self._lock:
            for n in (2, 1):
                repo = "/".join(segments[:n])
                if len(segments) >= n and repo in self.repos:
                    return repo, segments[n:]
        return None, segments

    def _head_oid(self, repo: _Repo) -> str:
        return repo.commits[-1].oid if repo.commits else "0" * 40

    def _last_modified(self, repo: _Repo) -> float:
        return max((c.when for c in repo.commits), default=repo.created)

    def info(self, repo_id: str, expand: list[str] | None = None) -> dict:
        with self._lock:
            repo = self.repos[repo_id]
            full = {"_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id, "modelId": repo_id,
                    "sha": self._head_oid(repo), "private": self.require_token is not None,
                    "createdAt": _iso(repo.created), "lastModified": _iso(self._last_modified(repo)),
                    "siblings": [{"rfilename": p} for p in sorted(repo.files)]}
        # Like the hub: ?expand=... returns the ids plus only the fields asked for.
        return {k: v for k, v in full.items() if k in ("_id", "id") or k in expand} if expand else full

    def commits(self, repo_id: str) -> list[dict]:
        with self._lock:
            repo = self.repos[repo_id]
            return [{**_commit_json(c), "message": "", "authors": [{"user": "zeb-sim"}]}
                    for c in reversed(repo.commits)]

    def paths_info(self, repo_id: str, paths: list[str], expand: bool) -> list[dict]:
        out = []
        with self._lock:
            repo = self.repos[repo_id]
            for p in (p.strip("/") for p in paths):
                if p in repo.files:
                    data, commit = repo.files[p]
                    entry = {"type": "file", "path": p, "oid": hashlib.sha1(data).hexdigest(), "size": len(data)}
                else:
                    inside = [c for path, (_, c) in repo.files.items() if path.startswith(p + "/")]
                    if not inside:
                        continue
                    commit = max(inside, key=lambda c: c.when)
                    entry = {"type": "directory", "path": p, "oid": hashlib.sha1(p.encode()).hexdigest()}
                if expand:
                    entry["lastCommit"] = _commit_json(commit)
                out.append(entry)
        return out

    def tree(self, repo_id: str, path: str, recursive: bool) -> list[dict] | None:
        """The entries under `path` (files and, unless recursive, its direct sub-folders), sorted by path;
        None when `path` is neither the root nor a folder (the hub answers 404 EntryNotFound)."""
        source = self.examples_source
        fed = list(source(repo_id)) if source is not None else []
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        with self._lock:
            repo = self.repos[repo_id]
            files = {p: (len(data), hashlib.sha1(data).hexdigest()) for p, (data, _) in repo.files.items()}
        for _, p in fed:
            files.setdefault(p.strip("/"), (0, hashlib.sha1(p.encode()).hexdigest()))
        entries: dict[str, dict] = {}
        for p, (size, oid) in files.items():
            if not p.startswith(prefix):
                continue
            rest = p[len(prefix):]
            if recursive or "/" not in rest:
                entries[p] = {"type": "file", "oid": oid, "size": size, "path": p}
            else:
                folder = prefix + rest.split("/", 1)[0]
                entries.setdefault(folder, {"type": "directory", "oid": hashlib.sha1(folder.encode()).hexdigest(),
                                            "size": 0, "path": folder})
        if prefix and not entries:
            return None
        return [entries[k] for k in sorted(entries)]

    def file(self, repo_id: str, path: str) -> tuple[bytes, str] | None:
        with self._lock:
            repo = self.repos[repo_id]
            found = repo.files.get(path)
            return (found[0], self._head_oid(repo)) if found else None


class _HubHandler(BaseHTTPRequestHandler):
    """Answers as huggingface.co does, from `hub` (set on the subclass _handler makes)."""

    protocol_version = "HTTP/1.1"
    hub: FakeHub

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self._serve("HEAD")

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        # Logged before answering, so a client that has its answer always finds its call in the log.
        # The log keeps whether a token came and was right, never the token itself.
        with self.hub._lock:
            self.hub.calls.append({**self._call, "status": status})
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: int, code: str | None, message: str) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._json(status, {"error": message}, headers)

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization")
        if self.hub.require_token is None:
            token_state = "sent" if auth else "none"
        else:
            token_state = "ok" if auth == f"Bearer {self.hub.require_token}" else ("wrong" if auth else "none")
        self._call = {"method": method, "path": unquote(split.path), "query": split.query, "token": token_state}
        self._token = auth.removeprefix("Bearer ").strip() if auth else None
        self._route(method, unquote(split.path), split.query, body, token_state)

    def _route(self, method: str, path: str, query: str, body: bytes, token_state: str) -> None:
        failure = self.hub._take_failure()
        if failure is not None:
            return self._error(failure, None, f"simulated failure {failure}")
        outside = self.hub.outside_fault(self._token)
        if outside == "down":
            return self._error(503, None, "Service Unavailable")
        if outside == "token":
            return self._error(401, None, BAD_TOKEN_MESSAGE)
        if token_state in ("wrong", "none") and self.hub.require_token is not None:
            return self._error(401, None, BAD_TOKEN_MESSAGE)
        api = next((p for p in _API_PREFIXES if path.startswith(p)), None)
        if api is not None:
            return self._api(method, path[len(api):].strip("/").split("/"), query, body)
        if method in ("HEAD", "GET") and "/resolve/" in path:
            return self._resolve(path.strip("/"))
        self._error(404, None, "Not found")

    def _api(self, method: str, segments: list[str], query: str, body: bytes) -> None:
        repo_id, rest = self.hub._find(segments)
        if repo_id is None:
            return self._error(404, "RepoNotFound", "Repository not found")
        if method == "GET" and (not rest or rest[0] == "revision"):
            expand = parse_qs(query).get("expand") or parse_qs(query).get("expand[]")
            return self._json(200, self.hub.info(repo_id, expand))
        if method == "GET" and rest[0] == "commits":
            return self._json(200, self.hub.commits(repo_id))
        if method == "GET" and rest[0] == "tree" and len(rest) >= 2:
            return self._tree(repo_id, "/".join(rest[2:]), parse_qs(query))
        if method == "POST" and rest[0] == "paths-info":
            form = parse_qs(body.decode(errors="replace"))
            expanded = (form.get("expand") or ["false"])[0].lower() in ("1", "true")
            return self._json(200, self.hub.paths_info(repo_id, form.get("paths", []), expanded))
        self._error(404, None, "Not found")

    def _tree(self, repo_id: str, path: str, params: dict) -> None:
        recursive = (params.get("recursive") or ["false"])[0].lower() in ("1", "true")
        entries = self.hub.tree(repo_id, path, recursive)
        if entries is None:
            return self._error(404, "EntryNotFound", f"{path} does not exist on \"main\"")
        # Cursor pagination like the hub's: the next page's link carries the cursor.
        start = int((params.get("cursor") or ["0"])[0] or 0)
        page = entries[start:start + self.hub.tree_page]
        headers = {}
        if start + self.hub.tree_page < len(entries):
            host = self.headers.get("Host") or "127.0.0.1"
            quoted = "/".join(quote(seg, safe="") for seg in path.split("/")) if path else ""
            nxt = (f"http://{host}/api/models/{repo_id}/tree/main{'/' + quoted if quoted else ''}"
                   f"?recursive={str(recursive).lower()}&expand=false&cursor={start + self.hub.tree_page}")
            headers["Link"] = f'<{nxt}>; rel="next"'
        return self._json(200, page, headers)

    def _resolve(self, path: str) -> None:
        for prefix in _TYPE_PREFIXES:
            if path.startswith(prefix):
                path = path[len(prefix):]
        head, _, tail = path.partition("/resolve/")
        repo_id, _ = self.hub._find(head.split("/"))
        if repo_id is None:
            return self._error(404, "RepoNotFound", "Repository not found")
        _, _, filename = tail.partition("/")  # drop the revision
        if self.hub.outside_fault(self._token, repo_id, filename) == "missing":
            return self._error(404, "EntryNotFound", "Entry not found")
        found = self.hub.file(repo_id, filename)
        if found is None:
            return self._error(404, "EntryNotFound", "Entry not found")
        data, commit = found
        self._send(200, data, {"ETag": f'"{hashlib.sha256(data).hexdigest()}"', "X-Repo-Commit": commit,
                               "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"})


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_HubHandler,), {"hub": hub})
