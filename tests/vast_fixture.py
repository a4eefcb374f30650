"""A small Vast API on 127.0.0.1 for the client's tests: the endpoints zeb.adapters.vast uses, in the shapes the
`vastai` SDK expects, plus scripted faults (status codes with Retry-After, hangs, malformed JSON, dropped
connections) and a record of every request. Not the simulated marketplace (zeb/sim/): no time, no hosts.
"""

from __future__ import annotations

import contextlib
import json
import operator
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

KEY = "fixture-key-0123456789abcdef"


@dataclass
class Fault:
    kind: str                    # "429", "500", ... (any status), "hang", "malformed", "drop"
    count: int                   # -1: forever
    path: str = ""               # path prefix it applies to ("" = every path)
    method: str = ""
    retry_after: str | None = None
    body: dict | None = None
    delay: float = 5.0           # for "hang"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, Any]
    body: Any
    authorization: str | None


@dataclass(repr=False)
class VastFixture:
    key: str = KEY
    instances: dict[int, dict] = field(default_factory=dict)
    offers: list[dict] = field(default_factory=list)
    user: dict = field(default_factory=lambda: {"id": 7, "email": "op@example.com", "credit": 25.0,
                                                "balance": -1.5, "api_key": KEY})
    log_text: dict[int, str] = field(default_factory=dict)
    log_not_ready: int = 0       # the result_url answers 404 this many times before the log is there
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    next_id: int = 1000

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # -- control ----------------------------------------------------------------------------

    def start(self) -> str:
        fixture = self

        class Handler(_Handler):
            pass

        Handler.fixture = fixture
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        self._stopping.set()    # releases hung handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def fail(self, kind: str | int, count: int = 1, *, path: str = "", method: str = "",
             retry_after: float | str | None = None, body: dict | None = None, delay: float = 5.0) -> None:
        ra = None if retry_after is None else (f"{retry_after:g}" if isinstance(retry_after, (int, float))
                                               else retry_after)
        self.faults.append(Fault(str(kind), count, path, method, ra, body, delay))

    def count(self, method: str = "", path: str = "") -> int:
        return sum(1 for s in self.seen if (not method or s.method == method) and s.path.startswith(path))

    def add_instance(self, **row: Any) -> int:
        iid = row.pop("id", None) or self._new_id()
        base = {"id": iid, "label": None, "actual_status": "running", "intended_status": "running",
                "gpu_name": "RTX 3070", "num_gpus": 1, "dph_total": 0.08, "machine_id": 100 + iid % 50,
                "host_id": 9, "start_date": 1_700_000_000.0, "ssh_host": "ssh5.vast.ai", "ssh_port": 20000 + iid % 1000,
                "image_uuid": "ghcr.io/zeb/worker:latest", "status_msg": None,
                "extra_env": [["HF_TOKEN", "hf_fixture_secret"], ["WORKER_ID", f"w{iid}"]]}
        base.update(row)
        self.instances[iid] = base
        return iid

    def add_offer(self, **row: Any) -> int:
        oid = row.pop("id", None) or self._new_id()
        base = {"id": oid, "ask_contract_id": oid, "machine_id": 500 + len(self.offers), "host_id": 11,
                "gpu_name": "RTX 3070", "num_gpus": 1, "dph_total": 0.07, "reliability2": 0.99,
                "verified": True, "rented": False, "geolocation": "Norway, NO", "gpu_ram": 8192}
        base.update(row)
        self.offers.append(base)
        return oid

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    # -- serving ----------------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.count == 0 or not path.startswith(fault.path) or fault.method not in ("", method):
                    continue
                if fault.count > 0:
                    fault.count -= 1
                return fault
        return None

    def handle(self, h: _Handler, method: str) -> None:
        parts = urlsplit(h.path)
        path = parts.path
        query = {k: _maybe_json(v) for k, v in parse_qsl(parts.query)}
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        self.seen.append(Seen(method, path, query, body, h.headers.get("Authorization")))

        fault = self._take_fault(method, path)
        if fault is not None:
            if fault.kind == "hang":
                self._stopping.wait(fault.delay)
            elif fault.kind == "drop":
                h.close_connection = True
                h.connection.shutdown(2)
                return
            elif fault.kind == "malformed":
                return h.send(200, b'{"instances": [', ctype="application/json")
            else:
                status = int(fault.kind)
                default = {"detail": "Too many requests"} if status == 429 else {"success": False, "msg": "boom"}
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                return h.reply(status, fault.body or default, headers)

        if path.startswith("/_logs/"):
            return self._result(h, int(path.rsplit("/", 1)[1]))
        if h.headers.get("Authorization") != f"Bearer {self.key}":
            return h.reply(401, {"success": False, "error": "auth_error", "msg": "Invalid user key"})
        for pattern, want, route in _ROUTES:
            m = re.fullmatch(pattern, path)
            if m and want == method:
                return route(self, h, query, body, *m.groups())
        h.reply(404, {"success": False, "error": "not_found", "msg": f"no route {method} {path}"})

    def _list(self, h, query, body):
        limit = int(query.get("limit") or 25)
        after = int(query.get("after_token") or 0)
        rows = [r for i, r in sorted(self.instances.items()) if i > after]
        page = rows[:limit]
        more = len(rows) > limit
        h.reply(200, {"instances": page, "next_token": str(page[-1]["id"]) if more else None,
                      "total_instances": len(self.instances)})

    def _show(self, h, query, body, iid):
        h.reply(200, {"instances": self.instances.get(int(iid))})

    def _search(self, h, query, body):
        rows = [o for o in self.offers if all(_match(o, f, c) for f, c in body.items() if isinstance(c, dict))]
        for col, direction in reversed(body.get("order") or []):
            rows.sort(key=lambda o: o.get(col, 0), reverse=direction == "desc")
        h.reply(200, {"offers": rows[: int(body.get("limit") or 64)]})

    def _create(self, h, query, body, oid):
        offer = next((o for o in self.offers if o["id"] == int(oid) and not o["rented"]), None)
        if offer is None:
            return h.reply(404, {"success": False, "error": "no_such_ask",
                                 "msg": f"Instance type/ask no_such_ask {oid} is not available."})
        if self.user["credit"] <= 0:
            return h.reply(400, {"success": False, "error": "insufficient_credit",
                                 "msg": "Your account lacks credit; please add funds."})
        offer["rented"] = True
        iid = self.add_instance(label=body.get("label"), actual_status=None, intended_status="running",
                                gpu_name=offer["gpu_name"], machine_id=offer["machine_id"],
                                dph_total=offer["dph_total"], extra_env=[list(kv) for kv in body["env"].items()])
        h.reply(200, {"success": True, "new_contract": iid})

    def _destroy(self, h, query, body, iid):
        if self.instances.pop(int(iid), None) is None:
            return h.reply(404, {"success": False, "error": "no_such_instance", "msg": f"Instance {iid} not found."})
        h.reply(200, {"success": True})

    def _label(self, h, query, body, iid):
        row = self.instances.get(int(iid))
        if row is None:
            return h.reply(404, {"success": False, "error": "no_such_instance", "msg": f"Instance {iid} not found."})
        row["label"] = body["label"]
        h.reply(200, {"success": True})

    def _request_logs(self, h, query, body, iid):
        if int(iid) not in self.instances:
            return h.reply(404, {"success": False, "error": "no_such_instance", "msg": f"Instance {iid} not found."})
        h.reply(200, {"success": True, "result_url": f"{self.url}/_logs/{iid}?tail={body.get('tail')}"})

    def _result(self, h, iid):
        with self._lock:
            if self.log_not_ready:
                if self.log_not_ready > 0:
                    self.log_not_ready -= 1
                return h.send(404, b"<Error><Code>NoSuchKey</Code></Error>", ctype="application/xml")
        tail = int(self.seen[-1].query.get("tail") or 0)
        lines = self.log_text.get(iid, "").splitlines(keepends=True)
        h.send(200, "".join(lines[-tail:] if tail else lines).encode(), ctype="text/plain")

    def _user(self, h, query, body):
        h.reply(200, self.user)


_ROUTES = [
    (r"/api/v1/instances/", "GET", VastFixture._list),
    (r"/api/v0/instances/request_logs/(\d+)/", "PUT", VastFixture._request_logs),
    (r"/api/v0/instances/(\d+)/", "GET", VastFixture._show),
    (r"/api/v0/instances/(\d+)/", "DELETE", VastFixture._destroy),
    (r"/api/v0/instances/(\d+)/", "PUT", VastFixture._label),
    (r"/api/v0/bundles/", "POST", VastFixture._search),
    (r"/api/v0/asks/(\d+)/", "PUT", VastFixture._create),
    (r"/api/v0/users/current", "GET", VastFixture._user),
]


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


_OPS = {"eq": operator.eq, "neq": operator.ne, "lt": operator.lt, "lte": operator.le, "gt": operator.gt,
        "gte": operator.ge}


def _match(row: dict, field_name: str, cond: dict) -> bool:
    """Enough of Vast's filter operators for these tests; values arrive as strings, as the SDK sends them."""
    if field_name not in row:
        return True
    have = row[field_name]

    def cast(v):
        return type(have)(v) if not isinstance(have, bool) and isinstance(have, (int, float)) else v

    for op, value in cond.items():
        if op in ("in", "notin"):
            inside = have in [cast(v) for v in value]
            if inside != (op == "in"):
                return False
        elif not _OPS[op](have, cast(value)):
            return False
    return True


class _Handler(BaseHTTPRequestHandler):
    fixture: VastFixture

    def log_message(self, *args) -> None:
        pass

    def reply(self, status: int, payload: Any, headers: dict | None = None) -> None:
        self.send(status, json.dumps(payload).encode(), headers=headers)

    def send(self, status: int, data: bytes, *, ctype: str = "application/json", headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(OSError):   # the client gave up (a timeout test): nothing to tell it
            self.wfile.write(data)

    def do_GET(self) -> None:
        self.fixture.handle(self, "GET")

    def do_PUT(self) -> None:
        self.fixture.handle(self, "PUT")

    def do_POST(self) -> None:
        self.fixture.handle(self, "POST")

    def do_DELETE(self) -> None:
        self.fixture.handle(self, "DELETE")
