"""The Vast adapter: zeb.core.domain.Marketplace over the official `vastai` SDK (imported lazily). The only
module that knows Vast's wire shapes: rows become zeb.core.domain's frozen dataclasses (everything else a row
carries is dropped: rows carry the creator's env, HF_TOKEN included), and Vast's errors become zeb.core.errors'.
"""

from __future__ import annotations

import random
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial, wraps
from pathlib import Path
from typing import Any, TypeVar, cast

from zeb.core.domain import Account, Instance, LaunchSpec, Offer, gpu_name
from zeb.core.errors import (
    AuthError,
    MarketError,
    NoCredit,
    NotFound,
    OfferUnavailable,
    RateLimited,
    Unreachable,
)

# -- row mapping -----------------------------------------------------------------------------------


def _int(value, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _float(value, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def instance_from_row(row: Mapping[str, Any]) -> Instance:
    """A Vast instance row -> Instance. Everything else is dropped (extra_env carries HF_TOKEN).
    Missing fields get neutral values; a null actual_status stays None (pending, never dead)."""
    port = row.get("ssh_port")
    return Instance(
        id=_int(row.get("id")), label=row.get("label") or None, status=row.get("actual_status") or None,
        intended_status=row.get("intended_status") or row.get("cur_state") or None,
        gpu_name=str(row.get("gpu_name") or "?"), num_gpus=_int(row.get("num_gpus"), 1),
        dph_total=_float(row.get("dph_total")), machine_id=_int(row.get("machine_id")),
        host_id=_int(row.get("host_id")), start_date=_float(row.get("start_date")),
        ssh_host=row.get("ssh_host") or None, ssh_port=_int(port) if port else None,
        status_msg=(row.get("status_msg") or None), image=row.get("image_uuid") or row.get("image") or None,
    )


def offer_from_row(row: Mapping[str, Any]) -> Offer:
    return Offer(
        id=_int(row.get("ask_contract_id") or row.get("id")), machine_id=_int(row.get("machine_id")),
        host_id=_int(row.get("host_id")), gpu_name=str(row.get("gpu_name") or "?"),
        num_gpus=_int(row.get("num_gpus"), 1), dph_total=_float(row.get("dph_total")),
        reliability=_float(row.get("reliability2", row.get("reliability")), 0.0),
        verified=bool(row.get("verified", True)), geolocation=row.get("geolocation"),
        gpu_ram_mb=_int(row.get("gpu_ram")) or None,
    )


# -- the client ----------------------------------------------------------------------------------


DEFAULT_URL = "https://console.vast.ai"
KEY_HOWTO = "export VAST_API_KEY=... or run `vastai set api-key YOUR_KEY`"
_PAGE_SIZE = 25          # what the SDK's show_instances asks for
_MAX_PAGES = 400         # 10,000 instances: a listing that pages on past that is a server fault, not a fleet
_LOG_FIRST_POLL = 0.3    # the SDK's interval between looks at a log's result_url
_LOG_MAX_POLL = 1.0
_POOL_SIZE = 64          # kept-alive connections to Vast: more than any poll_concurrency a fleet uses
# Connections idle longer than this are dropped before the next request: a server closes idle keep-alive
# connections (often after 60 s), and a create sent on one it just closed fails as "may have reached Vast".
# Within a command or a monitor cycle the calls come faster; between cycles (90 s and more) a fresh one.
_IDLE_S = 20.0
_GONE_WORDS = ("not found", "no such", "no_such", "does not exist", "already destroyed")


# `import vastai` runs the package's __init__, which loads the REST SDK (vastai.sdk, vastai.api.*: all zeb
# uses) and then, inside `try: ... except ImportError`, the serverless client, worker and deployment code and
# the sync/async clients (aiohttp, setuptools' pkg_resources: about 0.5 s of CPU per process). That except
# is the SDK's own path for an install without the serverless extras: it sets those names to None and the
# REST SDK works unchanged. zeb takes that path on purpose: while `vastai` is first imported, these
# subpackages are marked absent in sys.modules (Python's documented "None means not importable"), and the
# marks are removed straight after, so a later explicit `import vastai.serverless` in the same process
# still works. Only `vastai.Serverless`, `vastai.Worker`, ... stay None in this process; zeb uses none.
_SDK_OPTIONAL = ("vastai.serverless", "vastai.sync", "vastai.async_")
_sdk_import_lock = threading.Lock()


def _sdk_class() -> type:
    """The SDK's VastAI class, with the SDK's serverless half left unloaded when this process is the
    first to import `vastai`. If an SDK layout needs those modules to import (the except above gone),
    the import fails and is redone in full, so a different layout costs time, never correctness."""
    with _sdk_import_lock:
        if "vastai" not in sys.modules:
            marked = [name for name in _SDK_OPTIONAL if name not in sys.modules]
            for name in marked:
                sys.modules[name] = None  # type: ignore[assignment]  # "absent": the import raises ImportError
            try:
                import vastai  # noqa: F401
            except ImportError:
                pass  # a failed package import leaves no `vastai` behind: the full import below redoes it
            finally:
                for name in marked:
                    if name in sys.modules and sys.modules[name] is None:
                        del sys.modules[name]
    from vastai import VastAI

    return VastAI


def _show_page(sdk: Any, params: dict[str, Any], _timeout: float | None) -> Any:
    """One page of the instance listing (bound per page, so a retry asks for the same page)."""
    return sdk.show_instances_v1(params)


class _Transient(Exception):
    """A failure worth another attempt; carries the error to raise when the attempts run out."""

    def __init__(self, error: MarketError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class _Budget:
    """The time left for one logical call. An injected sleep counts as the time it stands for, so a
    test with a fake sleep sees the same bound (and the same number of requests) as production."""

    def __init__(self, seconds: float, sleep: Callable[[float], None]) -> None:
        self.total = max(0.0, seconds)
        self._sleep = sleep
        self._start = time.monotonic()
        self._virtual = 0.0   # requested minus really slept, summed

    def remaining(self) -> float:
        return self.total - (time.monotonic() - self._start + self._virtual)

    def sleep(self, seconds: float) -> None:
        seconds = max(0.0, min(seconds, self.remaining()))
        before = time.monotonic()
        self._sleep(seconds)
        self._virtual += seconds - (time.monotonic() - before)


def _key_files(env: Mapping[str, str]) -> list[Path]:
    """Where the vastai CLI keeps the key (`vastai set api-key`), in the SDK's order of preference."""
    home = Path(env.get("HOME") or Path.home())
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    paths = [xdg / "vastai" / "vast_api_key", home / ".config" / "vastai" / "vast_api_key", home / ".vast_api_key"]
    return list(dict.fromkeys(paths))


def _body(response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _message(response) -> str:
    body = _body(response)
    if isinstance(body, dict):
        for key in ("msg", "detail", "error", "message"):
            if body.get(key):
                return " ".join(str(body[key]).split())[:300]
    if body is not None:
        return str(body)[:300]
    return " ".join((response.text or "").split())[:300]


def _retry_after(response) -> float | None:
    try:
        value = float(response.headers.get("Retry-After"))
    except (TypeError, ValueError):
        return None     # absent, or an HTTP date: fall back to our own backoff
    return max(0.0, value)


def _never_sent(exc: Exception) -> bool:
    """True when the request cannot have reached the server (refused, DNS, connect timeout), so even
    a create is safe to send again. A read timeout or a dropped connection may have been processed."""
    import requests
    from urllib3.exceptions import (
        ConnectTimeoutError,  # NewConnectionError (refused, DNS) is a subclass
    )

    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    return isinstance(getattr(reason, "reason", reason), ConnectTimeoutError)


_F = TypeVar("_F", bound=Callable[..., Any])


def _endpoint(name: str) -> Callable[[_F], _F]:
    """Count each logical call of a VastClient method (retries and pages included) in `calls[name]`, and
    in `call_errors[name]` when it raises; the method itself is unchanged."""

    def wrap(method: _F) -> _F:
        @wraps(method)
        def counted(self, *args, **kwargs):
            self._tally(self.calls, name)
            try:
                return method(self, *args, **kwargs)
            except Exception:
                self._tally(self.call_errors, name)
                raise

        return cast(_F, counted)

    return wrap


class VastClient:
    """Every Vast call zeb makes, through the official `vastai` SDK (imported on construction only).

    Retries: the SDK's own retry loop is switched off (retry=1: one attempt, no inline sleeps) so its
    policy never multiplies with ours; ours is tenacity: `attempts` tries, a jittered exponential
    backoff (base_wait, 2x, 4x, ... capped at max_wait) for 5xx and connection errors/timeouts, and
    the server's Retry-After (plus a little jitter) for 429. A Retry-After over max_wait and a daily
    search-quota 429 are not waited out: RateLimited goes straight to the caller. Other 4xx are final.
    Every request carries an explicit timeout (the SDK client's `timeout`).

    Worst case of one HTTP request, all told: attempts x timeout + (attempts - 1) x max_wait
    (defaults: 4 x 30 s + 3 x 60 s = 300 s; a usual transient failure costs about a second). requests
    applies `timeout` to the connect and to each read, so a peer that trickles bytes can stretch one
    attempt; Vast's API answers in one piece.
    list_instances pays that per page of 25; logs() is bounded as a whole by its `timeout`.

    A create is never resent after a failure that may have reached Vast (read timeout, dropped
    connection, 500/502/504): that could rent two machines. It raises Unreachable and the caller
    reconciles through the instance list (labels are unique). 429, 503 and refused connections are
    answered before anything is rented, so those are retried.

    `on_retry(reason, seconds)`, when given, is called before each backoff pause with what failed and
    how long the pause is, so a command can say why it is waiting (issue 14: never silent on slow work).
    `on_request(method, path, status, seconds)`, when given, hears of every HTTP request sent, with the
    status it got (None: no answer) and how long it took (`zeb -v`); the path has no query, so no key.
    """

    # The scripts' labels (`zeb-worker-vast-3`): running fleets are adopted as they are, so never change it.
    label_word = "vast"

    def __init__(self, api_key: str, server_url: str = DEFAULT_URL, *, timeout: float = 30.0, attempts: int = 4,
                 max_wait: float = 60.0, base_wait: float = 0.5, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None,
                 on_retry: Callable[[str, float], None] | None = None,
                 on_request: Callable[[str, str, int | None, float], None] | None = None) -> None:
        if not api_key or not api_key.strip():
            raise AuthError("no Vast API key", hint=f"set one with {KEY_HOWTO}")
        VastAI = _sdk_class()  # imported here: paid only by commands that talk to Vast

        self.server_url = server_url.rstrip("/")
        self.timeout = float(timeout)
        self.attempts = max(1, int(attempts))
        self.max_wait = float(max_wait)
        self.base_wait = float(base_wait)
        self.requests_made = 0
        # Logical calls and failed ones per endpoint (list_instances, logs, ...), for `zeb monitor`'s metrics.
        self.calls: dict[str, int] = {}
        self.call_errors: dict[str, int] = {}
        self._tally_lock = threading.Lock()   # logs() is called from a pool of threads
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.on_retry = on_retry
        self.on_request = on_request
        self._sdk = VastAI(api_key=api_key.strip(), server_url=self.server_url, retry=1, quiet=True)
        self._sdk.client.timeout = self.timeout
        self._count_requests()

    def __repr__(self) -> str:
        return f"VastClient(server_url={self.server_url!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str], **kw) -> VastClient:
        """VAST_URL (else Vast's console) and VAST_API_KEY, else the vastai CLI's key file."""
        key = (env.get("VAST_API_KEY") or "").strip()
        for path in [] if key else _key_files(env):
            try:
                key = path.read_text().strip()
            except OSError:
                continue
            if key:
                break
        if not key:
            raise AuthError("no Vast API key", hint=f"set one with {KEY_HOWTO}")
        return cls(key, env.get("VAST_URL") or DEFAULT_URL, **kw)

    def _count_requests(self) -> None:
        """Every SDK request goes through the SDK client's _request, which (vastai 1.5-1.9) builds a new
        requests.Session for each one: a new TCP (and TLS) connection per page of the listing, and the
        proxy environment read again for each. With retry=1 that method is exactly: prepare the request
        on a fresh session, send it once, return the response. zeb's replacement does the same through one
        session for the client's life (keep-alive; of the SDK's own session class where it has one, so its
        redirect rule for the Authorization header holds), with the proxies resolved once for the server
        (every SDK request goes to server_url), and counts each request."""
        import requests
        import requests.adapters
        import requests.utils
        from vastai.api import client as sdk_module

        sdk_client = self._sdk.client
        session_class = getattr(sdk_module, "VastSession", None)
        session = session_class(self.server_url) if session_class is not None else requests.Session()
        # logs() runs from a pool of poll_concurrency threads: enough pooled connections for all of them.
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=_POOL_SIZE)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # resolve_proxies is what Session.send does per request; its answer depends only on the URL's scheme
        # and host (no_proxy), the same for every request here.
        probe = requests.PreparedRequest()
        probe.url = self.server_url
        proxies = requests.utils.resolve_proxies(probe, session.proxies, session.trust_env)
        self._session = session
        self._last_use = time.monotonic()

        def send(method: str, url: str, headers: dict, json_data=None, timeout: float | None = None):
            self._fresh_session()
            self.requests_made += 1
            prep = session.prepare_request(requests.Request(method=method, url=url, headers=headers, json=json_data))
            if self.on_request is None:
                return session.send(prep, timeout=sdk_client.timeout if timeout is None else timeout, proxies=proxies)
            started, status = time.monotonic(), None
            try:
                response = session.send(prep, timeout=sdk_client.timeout if timeout is None else timeout,
                                        proxies=proxies)
                status = response.status_code
                return response
            finally:
                path = self._scrub(urllib.parse.urlsplit(prep.url or url).path)
                self.on_request(method.upper(), path, status, time.monotonic() - started)

        sdk_client._request = send

    def _fresh_session(self):
        """The kept-alive session, its pooled connections dropped first if they sat idle past _IDLE_S."""
        now = time.monotonic()
        with self._tally_lock:
            idle, self._last_use = now - self._last_use, now
        if idle > _IDLE_S:
            self._session.close()       # closes the pooled connections; the session opens new ones
        return self._session

    def _tally(self, counts: dict[str, int], name: str) -> None:
        with self._tally_lock:
            counts[name] = counts.get(name, 0) + 1

    def _scrub(self, text: str) -> str:
        key = self._sdk.client.api_key
        return text.replace(key, "***") if key else text

    # -- the retry/error envelope -------------------------------------------------------------

    def _call(self, what: str, send: Callable[[float | None], Any], *, create: bool = False,
              not_found: type[MarketError] = NotFound, budget: _Budget | None = None) -> Any:
        """Run `send(timeout)` under the retry policy; timeout is None (the client's) unless a budget is set."""
        from tenacity import Retrying, retry_if_exception_type

        def stop(state) -> bool:
            return state.attempt_number >= self.attempts or (budget is not None and budget.remaining() <= 0)

        def wait(state) -> float:
            exc = state.outcome.exception()
            if isinstance(exc, _Transient) and exc.retry_after is not None:
                pause = exc.retry_after + self._rng.uniform(0.0, min(0.5, exc.retry_after * 0.1))
            else:
                ceiling = min(self.max_wait, self.base_wait * 2 ** (state.attempt_number - 1))
                pause = ceiling / 2 + self._rng.uniform(0.0, ceiling / 2)
            pause = min(pause, self.max_wait)
            return min(pause, max(0.0, budget.remaining())) if budget is not None else pause

        def before_sleep(state) -> None:
            exc = state.outcome.exception()
            if self.on_retry is not None and isinstance(exc, _Transient):
                self.on_retry(str(exc.error), state.next_action.sleep)

        try:
            for attempt in Retrying(stop=stop, wait=wait, sleep=budget.sleep if budget else self._sleep,
                                    retry=retry_if_exception_type(_Transient), reraise=True,
                                    before_sleep=before_sleep):
                with attempt:
                    return self._once(what, send, create=create, not_found=not_found, budget=budget)
        except _Transient as exc:
            raise exc.error from None

    def _once(self, what: str, send: Callable[[float | None], Any], *, create: bool,
              not_found: type[MarketError], budget: _Budget | None) -> Any:
        import requests

        timeout = None
        if budget is not None:
            timeout = min(self.timeout, budget.remaining())
            if timeout <= 0:
                raise Unreachable(f"{what}: the Vast API at {self.server_url} gave no answer within {budget.total:g}s")
        try:
            return send(timeout)
        except requests.HTTPError as exc:
            if exc.response is None:
                raise Unreachable(f"{what}: the Vast API at {self.server_url} failed") from None
            error = self._http_error(what, exc.response, create=create, not_found=not_found)
            (error.error if isinstance(error, _Transient) else error).answered_status = exc.response.status_code
            raise error from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            never_sent = _never_sent(exc)
            if never_sent:
                kind = "could not be reached (connection refused or timed out)"
            elif isinstance(exc, requests.Timeout):
                kind = f"gave no answer within {timeout or self.timeout:g}s"
            else:
                kind = "dropped the connection"
            error = Unreachable(f"{what}: the Vast API at {self.server_url} {kind}")
            if create and not never_sent:
                raise Unreachable(f"{error.message}; the create may have gone through, so it is not resent",
                                  hint="the instance list shows whether it did") from None
            raise _Transient(error) from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # requests' JSONDecodeError is a ValueError. A garbled answer is usually a proxy or a cut
            # connection, so a read (and a destroy, label or state change: doing them twice is harmless)
            # is tried again like a 5xx. A create is not: it may have rented a machine.
            shape = "an unreadable answer" if isinstance(exc, ValueError) else "an answer of an unexpected shape"
            error = Unreachable(f"{what}: the Vast API at {self.server_url} sent {shape} ({type(exc).__name__})")
            if create:
                raise Unreachable(f"{error.message}; the create may have gone through, so it is not resent",
                                  hint="the instance list shows whether it did") from None
            raise _Transient(error) from None

    def _http_error(self, what: str, response, *, create: bool,
                    not_found: type[MarketError]) -> MarketError | _Transient:
        """The exception for an HTTP error answer: a final zeb error, or a _Transient to retry."""
        status = response.status_code
        message = self._scrub(_message(response))
        low = message.lower()
        if "lacks credit" in low:   # the text, not the status, is what Vast keeps stable
            return NoCredit(f"{what}: the Vast account lacks credit ({message})")
        if status in (401, 403):
            return AuthError(f"{what}: Vast rejected the API key (HTTP {status})",
                             hint=f"set a valid one with {KEY_HOWTO}")
        if create and (status in (404, 410) or "no_such_ask" in low or "not available" in low):
            return OfferUnavailable(f"{what}: the offer is taken or gone ({message or status})")
        if status in (404, 410):
            return not_found(f"{what}: not found ({message or status})")
        if status == 429:
            wait = _retry_after(response)
            limited = RateLimited(f"{what}: rate limited by Vast" + (f" (retry after {wait:g}s)" if wait else ""),
                                  retry_after=wait)
            body = _body(response)
            quota = isinstance(body, dict) and body.get("error") == "search_quota_exceeded"
            if quota or (wait is not None and wait > self.max_wait):
                return limited  # waiting it out here would block for longer than any caller wants
            return _Transient(limited, wait)
        if status >= 500:
            error = Unreachable(f"{what}: the Vast API at {self.server_url} answered HTTP {status}"
                                + (f" ({message})" if message else ""))
            if create and status != 503:
                return Unreachable(f"{error.message}; the create may have gone through, so it is not resent",
                                   hint="the instance list shows whether it did")
            return _Transient(error)
        return MarketError(f"{what}: Vast refused the request (HTTP {status}): {message or 'no message'}")

    def _get_json(self, path: str, query: dict | None, timeout: float | None) -> Any:
        r = self._sdk.client.get(path, query_args=query, timeout=timeout)
        r.raise_for_status()
        return r.json()

    # -- calls ------------------------------------------------------------------------------------

    @_endpoint("list_instances")
    def list_instances(self) -> list[Instance]:
        """Every instance on the account, 25 per request. Pages are fetched one SDK call
        (show_instances_v1) at a time so a failure retries one page, not the whole listing, and a
        row without start_date or extra_env (which the SDK's show_instances chokes on) still maps."""
        params: dict[str, Any] = {"select_filters": {}, "order_by": [{"col": "id", "dir": "asc"}],
                                  "limit": _PAGE_SIZE}
        found: list[Instance] = []
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            page_params = dict(params)
            data = self._call("list instances", partial(_show_page, self._sdk, page_params))
            if not isinstance(data, dict):
                raise Unreachable(f"list instances: the Vast API at {self.server_url} sent an answer of an "
                                  "unexpected shape")
            found.extend(instance_from_row(row) for row in data.get("instances") or [] if isinstance(row, dict))
            token = data.get("next_token")
            if not token:
                return found
            if str(token) in seen:
                break
            seen.add(str(token))
            params["after_token"] = token
        # A partial listing would look like missing workers and start a double launch: refuse it.
        raise Unreachable(f"list instances: the Vast API at {self.server_url} kept paging without end")

    @_endpoint("get_instance")
    def get_instance(self, instance_id: int) -> Instance | None:
        """One instance, or None when the account has no such instance."""
        iid = int(instance_id)
        try:
            data = self._call(f"show instance {iid}",
                              lambda t: self._get_json(f"/instances/{iid}/", {"owner": "me"}, t))
        except NotFound:
            return None
        row = data.get("instances") if isinstance(data, dict) else None
        return instance_from_row(row) if isinstance(row, dict) and row.get("id") is not None else None

    @_endpoint("search_offers")
    def search_offers(self, gpus: Sequence[str], *, max_dph: float | None = None, num_gpus: int = 1,
                      limit: int = 500, exclude_machines: Collection[int] = ()) -> list[Offer]:
        """ONE search for the whole GPU list, cheapest first. Values go as strings, as the SDK's query
        parser sends them; Vast's defaults (verified, rentable, not rented, not external) stay on."""
        names = list(dict.fromkeys(gpu_name(g) for g in gpus if g.strip()))
        if not names:
            return []
        excluded = {int(m) for m in exclude_machines}
        query: dict[str, Any] = {"gpu_name": {"in": names}, "num_gpus": {"eq": str(int(num_gpus))},
                                 "rented": {"eq": False}}
        if max_dph is not None:
            query["dph_total"] = {"lte": str(float(max_dph))}  # a ceiling, as ranking treats it
        if excluded:
            query["machine_id"] = {"notin": [str(m) for m in sorted(excluded)]}
        rows = self._call("search offers", lambda _t: self._sdk.search_offers(
            query=query, order="dph_total", limit=max(1, int(limit))))
        # The server filters and sorts already; again here because a blocked host must never be rented.
        offers = [offer_from_row(r) for r in rows or [] if isinstance(r, dict)]
        return sorted((o for o in offers if o.machine_id not in excluded), key=lambda o: o.dph_total)

    @_endpoint("create_instance")
    def create_instance(self, spec: LaunchSpec) -> int:
        """Rent `spec.offer_id`; returns the new instance id (Vast's new_contract)."""
        what = f"create {spec.label} on offer {spec.offer_id}"

        def send(_t):
            return self._sdk.create_instance(
                spec.offer_id, image=spec.image, disk=spec.disk_gb, env=dict(spec.env), label=spec.label,
                onstart_cmd=spec.onstart, ssh=True, direct=True,
            )

        answer = self._call(what, send, create=True, not_found=OfferUnavailable)
        if isinstance(answer, dict) and answer.get("success") and answer.get("new_contract"):
            return int(answer["new_contract"])
        message = self._scrub(str(answer.get("msg") or answer.get("error") or "") if isinstance(answer, dict) else "")
        if "lacks credit" in message.lower():
            raise NoCredit(f"{what}: the Vast account lacks credit ({message})")
        raise OfferUnavailable(f"{what}: Vast did not rent it ({message or 'no new instance in the answer'})")

    @_endpoint("destroy_instance")
    def destroy_instance(self, instance_id: int) -> bool:
        """True when it was destroyed now, False when it was already gone. Safe to repeat."""
        iid = int(instance_id)
        try:
            answer = self._call(f"destroy instance {iid}", lambda _t: self._sdk.destroy_instance(iid))
        except NotFound:
            return False
        if isinstance(answer, dict) and answer.get("success") is False:
            message = self._scrub(str(answer.get("msg") or answer.get("error") or ""))
            if any(word in message.lower() for word in _GONE_WORDS):
                return False
            raise MarketError(f"destroy instance {iid}: Vast refused ({message or 'no message'})")
        return True

    @_endpoint("label_instance")
    def label_instance(self, instance_id: int, label: str) -> None:
        iid = int(instance_id)
        self._call(f"label instance {iid}", lambda _t: self._sdk.label_instance(iid, label))

    @_endpoint("account")
    def account(self) -> Account:
        row = self._call("show account", lambda _t: self._sdk.show_user())
        if not isinstance(row, dict):
            raise Unreachable(f"show account: the Vast API at {self.server_url} sent an answer of an unexpected shape")
        return Account(id=row.get("id"), email=row.get("email"), credit=_float(row.get("credit")),
                       balance=_float(row.get("balance")))

    @_endpoint("logs")
    def logs(self, instance_id: int, tail: int = 200, timeout: float | None = None) -> str:
        """The container's last `tail` lines; "" while it has written nothing. The whole call (the
        request, its retries and the polls of the result_url) ends within `timeout` (default: the
        client's), raising Unreachable if the log is not ready by then. The SDK's logs() is not used:
        it sleeps and polls on its own clock for up to ~9 s with a 10 s timeout per poll."""
        import requests

        iid = int(instance_id)
        what = f"logs of instance {iid}"
        budget = _Budget(self.timeout if timeout is None else float(timeout), self._sleep)

        def send(t):
            r = self._sdk.client.put(f"/instances/request_logs/{iid}/", json_data={"tail": str(int(tail))}, timeout=t)
            r.raise_for_status()
            return r.json()

        answer = self._call(what, send, budget=budget)
        url = answer.get("result_url") if isinstance(answer, dict) else None
        if not url:
            return ""
        # The result_url is on Vast's log store, not its API: looking at once costs no API quota and
        # often finds the log there; after that, back off from the SDK's 0.3 s up to 1 s.
        delay = _LOG_FIRST_POLL
        while True:
            remaining = budget.remaining()
            if remaining <= 0:
                raise Unreachable(f"{what}: the log was not ready within {budget.total:g}s")
            self.requests_made += 1
            try:
                r = self._fresh_session().get(url, timeout=min(self.timeout, remaining))   # kept alive too
            except requests.RequestException:
                r = None  # keep polling until the budget says stop
            if r is not None and r.status_code == 200:
                return r.content.decode("utf-8", errors="replace")
            budget.sleep(delay)
            delay = min(delay * 1.5, _LOG_MAX_POLL)
