"""The HTTP face of the simulated marketplace, in exactly the shapes the `vastai` SDK (1.9) sends and
expects, plus a small control API under /_sim/ for tests that run zeb out of process."""

from __future__ import annotations

import base64
import functools
import json
import secrets
import time
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from zeb.sim import onstart
from zeb.sim.market import LACKS_CREDIT, Market
from zeb.sim.serving import Background, LoopbackHTTPServer, QuickHandler

PAGE = 25


def _coerce(value: Any, like: Any, field: str = "") -> Any:
    """The SDK's query parser sends numbers as strings ("1", "0.09"); compare in the field's type. GPU names
    are also accepted in the CLI's underscore spelling."""
    if isinstance(like, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value)
    if isinstance(like, (int, float)) and not isinstance(like, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            return value
    if field == "gpu_name" and isinstance(value, str):
        return value.replace("_", " ")
    return value


def _match(row: dict, field: str, cond: Any) -> bool:
    if field not in row:
        return True  # unknown fields do not filter (Vast ignores what it does not know)
    have = row[field]
    if not isinstance(cond, dict):
        cond = {"eq": cond}
    for op, value in cond.items():
        if op in ("in", "notin"):
            items = value if isinstance(value, list) else [value]
            inside = any(have == _coerce(v, have, field) for v in items)
            if inside != (op == "in"):
                return False
            continue
        v = _coerce(value, have, field)
        try:
            ok = {"eq": have == v, "neq": have != v, "gt": have > v, "gte": have >= v,
                  "lt": have < v, "lte": have <= v}[op]
        except (KeyError, TypeError):
            ok = True
        if not ok:
            return False
    return True


def search(market: Market, q: dict) -> list[dict]:
    q = dict(q)
    order = q.pop("order", [["score", "desc"]]) or []
    limit = int(q.pop("limit", 0) or 0)
    for key in ("type", "allocated_storage", "disable_bundling"):
        q.pop(key, None)
    with market.lock:
        market.tick()
        rows = [market.offer_row(o) for o in market.offers.values()]
    rows = [r for r in rows if all(_match(r, f, c) for f, c in q.items())]
    for field, direction in reversed([tuple(o) if isinstance(o, (list, tuple)) else (o, "asc") for o in order]):
        rows.sort(key=lambda r: (r.get(field) is None, r.get(field)), reverse=str(direction).lower() == "desc")
    return rows[:limit] if limit else rows


def _order_spec(order_by: Any) -> list[tuple[str, bool]]:
    """[{"col": c, "dir": d}] (the SDK) or [[c, d]] -> [(col, descending)], id last as the tiebreak."""
    spec: list[tuple[str, bool]] = []
    for o in order_by if isinstance(order_by, list) else []:
        if isinstance(o, dict):
            col, direction = o.get("col"), o.get("dir", "asc")
        elif isinstance(o, (list, tuple)) and o:
            col, direction = o[0], o[1] if len(o) > 1 else "asc"
        else:
            col, direction = o, "asc"
        spec.append((str(col), str(direction).lower() == "desc"))
    if "id" not in [c for c, _ in spec]:
        spec.append(("id", False))
    return spec


def _cmp(a: Any, b: Any) -> int:
    if a == b:
        return 0
    if a is None or b is None:     # nulls last, as Postgres sorts them ascending
        return 1 if a is None else -1
    try:
        return -1 if a < b else 1
    except TypeError:
        return -1 if str(a) < str(b) else 1


def _cmp_keys(spec: list[tuple[str, bool]], ka: list, kb: list) -> int:
    for va, vb, (_, desc) in zip(ka, kb, spec):
        c = _cmp(va, vb)
        if c:
            return -c if desc else c
    return 0


def _token(key: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _untoken(token: str) -> list:
    key = json.loads(base64.urlsafe_b64decode(token.encode()))
    if not isinstance(key, list):
        raise ValueError(token)
    return key


def list_instances(market: Market, query: dict) -> dict:
    """One page of GET /api/v1/instances/: select_filters, order_by, limit and a keyset after_token, so a
    destroy between two page fetches neither skips nor repeats a row. O(instances) per page."""
    filters = query.get("select_filters") or {}
    if not isinstance(filters, dict):
        raise ValueError("select_filters must be a JSON object")
    spec = _order_spec(query.get("order_by") or [{"col": "id", "dir": "asc"}])
    limit = max(1, int(query.get("limit") or PAGE))
    after = query.get("after_token")
    after_key = _untoken(str(after)) if after not in (None, "") else None
    with market.lock:
        market.tick()
        now = market.clock.now()
        insts = list(market.instances.values())
        if filters or spec != [("id", False)]:
            rows = [market.row(i, now) for i in insts]
            rows = [r for r in rows if all(_match(r, f, c) for f, c in filters.items())]
        else:   # the SDK's default listing: order by id without building rows that are not on the page
            rows = [{"id": i.id, "_inst": i} for i in insts]
        keyed = [([r.get(col) for col, _ in spec], r) for r in rows]

        def by_spec(a: tuple[list, dict], b: tuple[list, dict]) -> int:
            return _cmp_keys(spec, a[0], b[0])

        keyed.sort(key=functools.cmp_to_key(by_spec))
        if after_key is not None:
            keyed = [kr for kr in keyed if _cmp_keys(spec, kr[0], after_key) > 0]
        page = keyed[:limit]
        out = [market.row(r["_inst"], now) if "_inst" in r else r for _, r in page]
        labels: dict[str, int] = {}
        for _, r in keyed if after_key is None else []:
            label = r.get("label") if "_inst" not in r else r["_inst"].label
            labels[label or ""] = labels.get(label or "", 0) + 1
        return {"instances": out, "total_instances": len(rows),
                "next_token": _token(page[-1][0]) if len(keyed) > limit else None,
                "label_counts": labels}


def _delay(market: Market, fault) -> None:
    """Real seconds: a slow answer waits `delay`; a hung one waits until the server stops (or `delay`, if
    longer than an hour)."""
    market.unhang.wait(fault.delay if fault.kind == "slow" else max(fault.delay, 3600.0))


class _SimHTTPServer(LoopbackHTTPServer):
    market: Market
    pending_logs: dict[str, tuple[int, int | None]]     # request_logs token -> (instance id, tail), until read


class _Handler(QuickHandler):
    server: _SimHTTPServer
    server_version = "zeb-sim/1"

    def log_message(self, *args) -> None:  # quiet; the call log is the record
        pass

    @property
    def market(self) -> Market:
        return self.server.market

    # -- plumbing -----------------------------------------------------------------------------------

    def _send(self, status: int, body: Any, *, headers: dict | None = None, raw: bytes | None = None,
              content_type: str = "application/json") -> None:
        self.answer(status, raw if raw is not None else json.dumps(body).encode(), content_type, headers)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except ValueError:
            return {}

    def _query(self) -> dict:
        out = {}
        for k, v in parse_qsl(urlsplit(self.path).query, keep_blank_values=True):
            if k == "after_token":      # opaque
                out[k] = v
                continue
            try:
                out[k] = json.loads(v)
            except ValueError:
                out[k] = v
        return out

    def do_GET(self):
        self._dispatch("GET")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        body = self._body()
        query = self._query()
        if path.startswith("/_sim/"):
            return self._control(method, path, body, query)
        if path.startswith("/_logs/"):
            return self._log_result(path)
        if path.startswith(GIT_PREFIX):
            return self._git_refs(method, path, query)
        self.market.record_call(method, path, query, body)
        if self.headers.get("Authorization") != f"Bearer {self.market.api_key}":
            return self._send(401, {"success": False, "error": "invalid_api_key", "msg": "Invalid API key"})
        fault = self.market.take_fault(method, path)
        if fault is not None and self._apply_fault(fault, path):
            return
        try:
            self._route(method, path, query, body)
        except Exception as exc:  # a bug in the sim must answer, not hang the client
            self._send(500, {"success": False, "msg": f"sim error: {type(exc).__name__}: {exc}"})

    def _apply_fault(self, fault, path: str) -> bool:
        if fault.kind == "429":
            self._send(429, {"detail": "API requests too frequent"},
                       headers={"Retry-After": f"{fault.retry_after:g}"})
            return True
        if fault.kind in ("500", "502", "503", "504"):
            self._send(int(fault.kind), {"success": False, "msg": "upstream error"})
            return True
        if fault.kind == "malformed":
            self._send(200, None, raw=b'{"instances": [ {"id": 1,', content_type="application/json")
            return True
        if fault.kind == "rented":
            offer_id = path.rstrip("/").rsplit("/", 1)[-1]
            if offer_id.isdigit() and int(offer_id) in self.market.offers:
                self.market.take_offer(int(offer_id))
            return False    # the create goes on and finds the offer taken
        if fault.kind in ("slow", "hang"):
            _delay(self.market, fault)
        return False

    # -- git: the branch heads of the world's repositories, over git's smart HTTP ------------------------

    def _git_refs(self, method: str, path: str, query: dict) -> None:
        """`GET /git/<host>/<owner>/<repo>/info/refs?service=git-upload-pack`: the ref advertisement (protocol
        v0) of the repository `https://<host>/<owner>/<repo>` as the world holds it now: enough for `git
        ls-remote`. Fetching objects is not served (the workers' clones run in the onstart model)."""
        head, _, tail = path[len(GIT_PREFIX):].partition("/info/")
        if method != "GET" or tail != "refs" or query.get("service") != "git-upload-pack":
            return self._send(403, None, raw=b"zeb sim: only git ls-remote is served\n", content_type="text/plain")
        world, url = self.market.world, f"https://{head}"
        with self.market.lock:
            now = self.market.clock.now()
            repo = world.repos.get(onstart.repo_key(url))
            heads = [] if repo is None else [(b, world.head(url, b, now)) for b in sorted(repo.branches)]
        if repo is None:
            return self._send(404, None, raw=b"Repository not found.\n", content_type="text/plain")
        refs = [(c.sha, f"refs/heads/{b}") for b, c in heads if c is not None]
        body = _pkt("# service=git-upload-pack\n") + b"0000"
        caps = "\0multi_ack side-band-64k ofs-delta agent=zeb-sim/1"
        for k, (sha, ref) in enumerate(refs):
            body += _pkt(f"{sha} {ref}{caps if k == 0 else ''}\n")
        if not refs:
            body += _pkt(f"{'0' * 40} capabilities^{{}}{caps}\n")
        self._send(200, None, raw=body + b"0000", content_type="application/x-git-upload-pack-advertisement",
                   headers={"Cache-Control": "no-cache"})

    # -- Vast's API -------------------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict, body: dict) -> None:
        m = self.market
        parts = [p for p in path.split("/") if p]
        if method == "GET" and path.rstrip("/") == "/api/v1/instances":
            return self._list(query)
        if parts[:2] == ["api", "v0"]:
            rest = parts[2:]
            if method == "GET" and rest == ["users", "current"]:
                return self._send(200, {"id": 4242, "email": "sim@example.com", "username": "sim",
                                        "credit": round(m.credit, 4), "balance": 0.0, "api_key": m.api_key,
                                        "can_pay": True})
            if method in ("POST", "PUT") and rest in (["bundles"], ["search", "asks"]):
                q = body.get("q", body) if rest == ["search", "asks"] else body
                return self._send(200, {"offers": search(m, q)})
            if method == "PUT" and len(rest) == 2 and rest[0] == "asks" and rest[1].isdigit():
                return self._create(int(rest[1]), body)
            if rest and rest[0] == "instances":
                return self._instances(method, rest[1:], query, body)
        self._send(404, {"success": False, "msg": f"no such endpoint: {method} {path}"})

    def _list(self, query: dict) -> None:
        try:
            out = list_instances(self.market, query)
        except (ValueError, TypeError) as exc:
            return self._send(400, {"success": False, "error": "invalid_args",
                                    "msg": f"invalid listing arguments ({exc})"})
        self._send(200, out)

    def _create(self, offer_id: int, body: dict) -> None:
        try:
            new = self.market.create(offer_id, body)
        except KeyError:
            return self._send(404, {"success": False, "error": "no_such_ask",
                                    "msg": f"error 404/3603: no_such_ask  Instance type by id {offer_id} is not "
                                           f"available."})
        except PermissionError:
            return self._send(402, {"success": False, "error": "insufficient_credit", "msg": LACKS_CREDIT})
        self._send(200, {"success": True, "new_contract": new})

    def _instances(self, method: str, rest: list[str], query: dict, body: dict) -> None:
        m = self.market
        if method == "DELETE" and not rest:
            ids = [int(i) for i in body.get("instance_ids", [])]
            done = [i for i in ids if m.destroy(i)]
            return self._send(200, {"success": True, "destroyed": done})
        if method == "PUT" and not rest and "state" in body:
            ids = [int(i) for i in body.get("ids", [])]
            done = [i for i in ids if m.set_state(i, str(body["state"]))]
            return self._send(200, {"success": True, "ids": done})
        if method == "GET" and rest == ["filters"]:
            return self._send(200, {"success": True, "filters": []})
        if method == "PUT" and len(rest) == 2 and rest[0] == "reboot" and rest[1].isdigit():
            instance_id = int(rest[1])
            if not (m.set_state(instance_id, "stopped") and m.set_state(instance_id, "running")):
                return self._send(404, {"success": False, "msg": f"Instance {instance_id} not found."})
            return self._send(200, {"success": True})
        if method == "PUT" and len(rest) == 2 and rest[0] == "request_logs" and rest[1].isdigit():
            instance_id = int(rest[1])
            if instance_id not in m.instances:
                return self._send(404, {"success": False, "msg": f"no instance {instance_id}"})
            if m.log_request_fails(instance_id):
                return self._send(500, {"success": False, "msg": "ssh: connect to host: Connection refused"})
            token = secrets.token_hex(8)
            tail = str(body.get("tail") or "")
            self.server.pending_logs[token] = (instance_id, int(tail) if tail.isdigit() else None)
            host, port = cast("tuple[str, int]", self.server.server_address[:2])   # an AF_INET server
            return self._send(200, {"success": True, "result_url": f"http://{host}:{port}/_logs/{token}"})
        if len(rest) == 1 and rest[0].isdigit():
            instance_id = int(rest[0])
            if method == "GET":
                with m.lock:
                    inst = m.instances.get(instance_id)
                    row = m.row(inst, m.clock.now()) if inst else None
                return self._send(200, {"instances": row})
            if method == "DELETE":
                if m.destroy(instance_id):
                    return self._send(200, {"success": True})
                return self._send(404, {"success": False, "error": "no_such_instance",
                                        "msg": f"Instance {instance_id} not found."})
            if method == "PUT":
                ok = True
                if "label" in body:
                    ok = m.set_label(instance_id, str(body["label"]))
                if "state" in body:
                    ok = m.set_state(instance_id, str(body["state"]))
                if not ok:
                    return self._send(404, {"success": False, "msg": f"Instance {instance_id} not found."})
                return self._send(200, {"success": True})
        self._send(404, {"success": False, "msg": "no such endpoint"})

    def _log_result(self, path: str) -> None:
        token = path.rsplit("/", 1)[-1]
        entry = self.server.pending_logs.pop(token, None)
        if entry is None:
            return self._send(404, None, raw=b"<Error>NoSuchKey</Error>", content_type="application/xml")
        fault = self.market.take_fault("GET", "/_logs/")
        if fault is not None and fault.kind in ("slow", "hang"):
            _delay(self.market, fault)
        if self.market.log_latency is not None:
            time.sleep(self.market.log_latency())
        text = self.market.logs(*entry)
        self._send(200, None, raw=(text or "").encode(), content_type="text/plain")

    # -- control API ---------------------------------------------------------------------------------------

    def _control(self, method: str, path: str, body: dict, query: dict) -> None:
        try:
            self._control_route(method, path, body, query)
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            self._send(400, {"ok": False, "msg": f"{type(exc).__name__}: {exc}"})

    def _control_route(self, method: str, path: str, body: dict, query: dict) -> None:
        m = self.market
        what = path[len("/_sim/"):].strip("/")
        if what == "advance" and method == "POST":
            m.clock.advance(float(body.get("seconds", 0)))
            m.tick()
            return self._send(200, {"now": m.clock.now()})
        if what == "fault" and method == "POST":
            m.inject(str(body["kind"]), int(body.get("count", 1)), path=body.get("path", ""),
                     method=body.get("method", ""), retry_after=float(body.get("retry_after", 1)),
                     delay=float(body.get("delay", 0)))
            return self._send(200, {"ok": True})
        if what == "machine-fault" and method == "POST":
            m.set_fault(int(body["machine_id"]), body.get("fault"), body.get("after_s"))
            return self._send(200, {"ok": True})
        if what == "credit" and method == "POST":
            if "set" in body:
                m.set_credit(float(body["set"]))
            else:
                m.top_up(float(body.get("amount", 0)))
            return self._send(200, {"credit": m.credit})
        if what == "take-offer" and method == "POST":
            m.take_offer(int(body["offer_id"]))
            return self._send(200, {"ok": True})
        if what == "state-change" and method == "POST":
            return self._send(200, {"ok": m.set_state(int(body["instance_id"]), str(body["state"]))})
        if what == "calls":
            if method == "DELETE":
                with m.lock:
                    m.calls.clear()
                return self._send(200, {"ok": True})
            calls = m.calls_to(query.get("method") or None, str(query.get("prefix") or ""))
            return self._send(200, {"calls": calls, "count": len(calls)})
        if what == "state":
            with m.lock:
                now = m.clock.now()
                return self._send(200, {"now": now, "credit": m.credit,
                                        "instances": [m.row(i, now) for i in m.instances.values()],
                                        "offers": len(m.offers)})
        self._send(404, {"ok": False, "msg": f"no control endpoint {path}"})


def _pkt(line: str) -> bytes:
    data = line.encode()
    return b"%04x" % (len(data) + 4) + data


GIT_PREFIX = "/git/"


def git_env(url: str) -> dict[str, str]:
    """Environment that sends a real `git` (zeb's `git ls-remote` of the branch head) for github.com to the
    simulator's repositories: git's own url.<base>.insteadOf, through GIT_CONFIG_COUNT (git 2.31+)."""
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.{url.rstrip('/')}{GIT_PREFIX}github.com/.insteadOf",
            "GIT_CONFIG_VALUE_0": "https://github.com/"}


class SimServer(Background):
    """`with SimServer(market) as url:` serves the market on 127.0.0.1 in a background thread."""

    thread_name = "zeb-sim"

    def __init__(self, market: Market, host: str = "127.0.0.1", port: int = 0) -> None:
        self.market = market
        httpd = _SimHTTPServer((host, port), _Handler)
        httpd.market = market
        httpd.pending_logs = {}
        self._httpd = httpd
        market.unhang.clear()

    @property
    def connections_accepted(self) -> int:
        """TCP connections the server has accepted (a keep-alive client makes one for many requests)."""
        return cast("LoopbackHTTPServer", self._httpd).connections_accepted

    def stop(self) -> None:
        self.market.unhang.set()    # release hung requests so their threads end with the server
        super().stop()

    def serve_forever(self) -> None:
        """In the foreground (zeb sim serve); Ctrl-C ends it."""
        self._httpd.serve_forever(poll_interval=0.2)
