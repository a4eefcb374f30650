"""The one Vast client. Wraps the official `vastai` SDK (imported lazily); callers get small
frozen dataclasses, never raw rows (rows carry the creator's env, HF_TOKEN included).

INTERFACE CONTRACT (shared with plan/, cli/, monitor, sim tests) -- keep these names and fields.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection, Mapping, Sequence

from zeb.errors import AuthError, NoCredit, NotFound, OfferUnavailable, RateLimited, Unreachable, VastError


@dataclass(frozen=True)
class Instance:
    id: int
    label: str | None
    status: str | None          # Vast's actual_status: None (pending), loading, running, exited, stopped, ...
    intended_status: str | None  # Vast's intended_status / cur_state ("running", "stopped")
    gpu_name: str               # Vast spelling, with spaces: "RTX 4070 Ti"
    num_gpus: int
    dph_total: float
    machine_id: int
    host_id: int
    start_date: float           # epoch seconds
    ssh_host: str | None = None
    ssh_port: int | None = None
    status_msg: str | None = None
    image: str | None = None

    @property
    def ssh_command(self) -> str | None:
        if not self.ssh_host or not self.ssh_port:
            return None
        return f"ssh -p {self.ssh_port} root@{self.ssh_host}"


@dataclass(frozen=True)
class Offer:
    id: int
    machine_id: int
    host_id: int
    gpu_name: str               # Vast spelling, with spaces
    num_gpus: int
    dph_total: float
    reliability: float
    verified: bool = True
    geolocation: str | None = None
    gpu_ram_mb: int | None = None


@dataclass(frozen=True)
class Account:
    id: int | None
    email: str | None
    credit: float
    balance: float

    @property
    def exhausted(self) -> bool:
        return self.credit + max(self.balance, 0.0) <= 0.0


@dataclass(frozen=True)
class LaunchSpec:
    """Everything one create call needs. env carries HF_TOKEN: never log or store a LaunchSpec."""

    offer_id: int
    label: str
    image: str
    disk_gb: float
    env: dict[str, str]
    onstart: str

    def __repr__(self) -> str:  # keep secrets out of tracebacks and debug prints
        return f"LaunchSpec(offer_id={self.offer_id}, label={self.label!r}, image={self.image!r})"


# -- the client ----------------------------------------------------------------------------------


DEFAULT_URL = "https://console.vast.ai"
_RETRY_STATUS = {429, 500, 502, 503, 504}
_KEY_HELP = "set it with `export VAST_API_KEY=...` or `vastai set api-key YOUR_KEY`"


class _Transient(Exception):
    """A failure worth another attempt (rate limit, 5xx, connection error, timeout)."""

    def __init__(self, error: VastError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def _key_files(env: Mapping[str, str]) -> list[Path]:
    xdg = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path(xdg) / "vastai" / "vast_api_key", Path.home() / ".config" / "vastai" / "vast_api_key",
            Path.home() / ".vast_api_key"]


def _msg(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or "").strip()[:200]
    if isinstance(body, dict):
        for key in ("msg", "detail", "error", "message"):
            if body.get(key):
                return str(body[key])
    return str(body)[:200]


def _retry_after(response) -> float | None:
    try:
        return float(response.headers.get("Retry-After"))
    except (TypeError, ValueError):
        return None


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
    """A Vast instance row -> Instance. Drops everything else (extra_env carries HF_TOKEN)."""
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


class VastClient:
    """Every Vast call zeb makes. One logical call has one bounded worst case:
    attempts x timeout + (attempts - 1) x max_wait; with the defaults 4 x 30 s + 3 x 60 s at the very
    worst, and a few seconds for the usual transient failure. The SDK's own retries are switched off
    (retry=1) so the two policies never multiply."""

    def __init__(self, api_key: str, server_url: str = DEFAULT_URL, *, timeout: float = 30.0, attempts: int = 4,
                 max_wait: float = 60.0, base_wait: float = 0.5, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        from vastai import VastAI

        self.server_url = server_url.rstrip("/")
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.max_wait = max_wait
        self.base_wait = base_wait
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._sdk = VastAI(api_key=api_key, server_url=self.server_url, retry=1, quiet=True)
        self._sdk.client.timeout = timeout
        self.requests_made = 0
        self._count_requests()

    def __repr__(self) -> str:
        return f"VastClient(server_url={self.server_url!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str], **kw) -> "VastClient":
        key = (env.get("VAST_API_KEY") or "").strip()
        if not key:
            for path in _key_files(env):
                try:
                    key = path.read_text().strip()
                except OSError:
                    continue
                if key:
                    break
        if not key:
            raise AuthError(f"no Vast API key: {_KEY_HELP}")
        return cls(key, env.get("VAST_URL") or DEFAULT_URL, **kw)

    def _count_requests(self) -> None:
        # Count every HTTP request the SDK sends, for the benchmarks' API-call figures.
        sdk_client = self._sdk.client
        original = sdk_client._request

        def counted(*args, **kwargs):
            self.requests_made += 1
            return original(*args, **kwargs)

        sdk_client._request = counted

    # -- the retry/error envelope -------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], Any], *, idempotent: bool = True, not_found=NotFound) -> Any:
        from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

        def wait(state) -> float:
            exc = state.outcome.exception()
            if isinstance(exc, _Transient) and exc.retry_after is not None:
                return min(exc.retry_after, self.max_wait)
            ceiling = min(self.max_wait, self.base_wait * (2 ** (state.attempt_number - 1)))
            return self._rng.uniform(0, ceiling)

        try:
            for attempt in Retrying(stop=stop_after_attempt(self.attempts), wait=wait, sleep=self._sleep,
                                    retry=retry_if_exception_type(_Transient), reraise=False):
                with attempt:
                    return self._once(what, fn, idempotent=idempotent, not_found=not_found)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise last.error if isinstance(last, _Transient) else last from None
        except _Transient as exc:  # pragma: no cover (reraise=False wraps it)
            raise exc.error from None

    def _once(self, what: str, fn: Callable[[], Any], *, idempotent: bool, not_found) -> Any:
        import requests

        where = f"Vast API at {self.server_url}"
        try:
            return fn()
        except requests.HTTPError as exc:
            response = exc.response
            status = response.status_code if response is not None else 0
            message = _msg(response) if response is not None else str(exc)
            if "lacks credit" in message.lower() or "insufficient credit" in message.lower():
                raise NoCredit(f"{what}: the Vast account lacks credit ({message})") from None
            if status in (401, 403):
                raise AuthError(f"{what}: Vast rejected the API key ({status}): {_KEY_HELP}") from None
            if status in (404, 410) or "no_such_ask" in message:
                raise not_found(f"{what}: {message or 'not found'}") from None
            if status in _RETRY_STATUS:
                if status == 429:
                    error: VastError = RateLimited(f"{what}: rate limited by Vast", retry_after=_retry_after(response))
                    raise _Transient(error, _retry_after(response)) from None
                error = Unreachable(f"{what}: {where} answered {status}: {message}")
                if idempotent or status in (502, 503):
                    raise _Transient(error) from None
                raise error from None
            raise VastError(f"{what}: Vast answered {status}: {message}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            kind = "timed out" if isinstance(exc, requests.Timeout) else "refused or dropped the connection"
            error = Unreachable(f"{what}: {where} {kind}")
            if idempotent:
                raise _Transient(error) from None
            # A create that may have reached Vast is never retried blindly: the caller reconciles.
            raise error from None
        except ValueError as exc:  # malformed JSON (requests' JSONDecodeError is a ValueError)
            raise Unreachable(f"{what}: {where} sent an unreadable answer ({type(exc).__name__})") from None
        except (KeyError, TypeError) as exc:
            raise Unreachable(f"{what}: {where} sent an answer of an unexpected shape ({exc})") from None

    # -- calls ------------------------------------------------------------------------------------

    def list_instances(self) -> list[Instance]:
        rows = self._call("list instances", self._sdk.show_instances)
        return [instance_from_row(r) for r in rows]

    def get_instance(self, instance_id: int) -> Instance | None:
        try:
            row = self._call(f"show instance {instance_id}", lambda: self._sdk.show_instance(int(instance_id)))
        except NotFound:
            return None
        return instance_from_row(row) if row else None

    def search_offers(self, gpus: Sequence[str], *, max_dph: float | None = None, num_gpus: int = 1,
                      limit: int = 500, exclude_machines: Collection[int] = ()) -> list[Offer]:
        """ONE search for the whole GPU list, cheapest first."""
        names = ",".join(g.replace(" ", "_") for g in gpus)
        query = f"gpu_name in [{names}] num_gpus={int(num_gpus)} rented=False"
        if max_dph is not None:
            query += f" dph_total<={max_dph}"
        rows = self._call("search offers",
                          lambda: self._sdk.search_offers(query=query, order="dph_total", limit=int(limit)))
        excluded = set(exclude_machines)
        offers = [offer_from_row(r) for r in rows or []]
        return [o for o in offers if o.machine_id not in excluded]

    def create_instance(self, spec: LaunchSpec) -> int:
        def create():
            return self._sdk.create_instance(
                spec.offer_id, image=spec.image, disk=spec.disk_gb, env=dict(spec.env), label=spec.label,
                onstart_cmd=spec.onstart, ssh=True, direct=True,
            )

        answer = self._call(f"create {spec.label} on offer {spec.offer_id}", create, idempotent=False,
                            not_found=OfferUnavailable)
        if not isinstance(answer, dict) or not answer.get("success") or not answer.get("new_contract"):
            message = answer.get("msg") if isinstance(answer, dict) else answer
            if message and "lacks credit" in str(message).lower():
                raise NoCredit(f"create {spec.label}: the Vast account lacks credit")
            raise OfferUnavailable(f"create {spec.label} on offer {spec.offer_id}: {message or 'refused'}")
        return int(answer["new_contract"])

    def destroy_instance(self, instance_id: int) -> bool:
        """True when it was destroyed now, False when it was already gone (idempotent)."""
        try:
            self._call(f"destroy instance {instance_id}", lambda: self._sdk.destroy_instance(int(instance_id)))
        except NotFound:
            return False
        return True

    def label_instance(self, instance_id: int, label: str) -> None:
        self._call(f"label instance {instance_id}", lambda: self._sdk.label_instance(int(instance_id), label))

    def account(self) -> Account:
        row = self._call("show user", self._sdk.show_user)
        return Account(id=row.get("id"), email=row.get("email"), credit=_float(row.get("credit")),
                       balance=_float(row.get("balance")))

    def logs(self, instance_id: int, tail: int = 200, timeout: float | None = None) -> str:
        """The container log tail; "" while a container has not written anything. Bounded by `timeout`."""
        import requests

        budget = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        sdk_client = self._sdk.client

        def request():
            r = sdk_client.put(f"/instances/request_logs/{int(instance_id)}/", json_data={"tail": str(int(tail))},
                               timeout=min(self.timeout, budget))
            r.raise_for_status()
            return r.json()

        answer = self._call(f"logs of instance {instance_id}", request)
        url = answer.get("result_url") if isinstance(answer, dict) else None
        if not url:
            return ""
        delay = 0.3
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Unreachable(f"logs of instance {instance_id}: not ready within {budget:g}s")
            try:
                self.requests_made += 1
                r = requests.get(url, timeout=max(0.05, min(10.0, remaining)))
            except requests.RequestException:
                r = None
            if r is not None and r.status_code == 200:
                return r.text
            self._sleep(min(delay, max(0.0, deadline - time.monotonic())))
