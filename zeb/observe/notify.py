"""Alerts to a webhook: the shell around zeb.plan.notify. It builds the facts from each monitor cycle,
keeps the planner's state in the store (notify.json, a versioned document of zeb.storage.codec), and
POSTs each alert from one
background thread with a bounded timeout, so a slow or hanging receiver never holds up a cycle. A send
that fails is one warning line; nothing here raises into the monitor."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from http.client import HTTPException
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from zeb.core.config import Notify, mask_url
from zeb.core.errors import ZebError
from zeb.plan.notify import Alert, Facts, NotifyState, alerts
from zeb.storage.codec import NOTIFY_DOC

# Values that must never leave in an alert, whatever text carried them in (an error, a strike reason).
SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "VAST_API_KEY", "ZEB_NOTIFY_WEBHOOK")
ALERT_VERSION = 1
MAX_TEXT = 300


def payload(alert: Alert, fmt: str, fleet: str, now: float) -> tuple[bytes, str]:
    """(body, content type) of one alert in the webhook's format."""
    if fmt == "ntfy":
        return alert.text.encode(), "text/plain; charset=utf-8"
    if fmt == "discord":
        doc: dict[str, Any] = {"content": alert.text}
    elif fmt == "json":
        doc = {"zeb_alert_version": ALERT_VERSION, "fleet": fleet, "kind": alert.kind, "machine": alert.machine,
               "time": now, "text": alert.text}
    else:
        doc = {"text": alert.text}
    return json.dumps(doc).encode(), "application/json"


class Notifier:
    """on_report(report, monitor) after every cycle, on_stop(error) once at the end. `warn` receives each
    warning line (from the sending thread too); they are also kept in `warnings`."""

    def __init__(self, cfg: Notify, fleet: str, clock: Callable[[], float] = time.time, *, store: Any = None,
                 env: Mapping[str, str] | None = None, secrets: Iterable[str] = (), timeout: float = 5.0,
                 warn: Callable[[str], None] | None = None, queue_size: int = 100) -> None:
        self.cfg, self.fleet, self.clock, self.store = cfg, fleet, clock, store
        self.timeout = timeout
        self.enabled = bool(cfg.webhook)
        env = os.environ if env is None else env
        found = [*secrets, *(env.get(name, "") for name in SECRET_ENV), cfg.webhook or "", _password(cfg.webhook)]
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)
        self._warn_to = warn
        self.warnings: list[str] = []
        self._queue: queue.Queue[tuple[Alert, float]] = queue.Queue(maxsize=queue_size)
        self._pending = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.state = self._load() if self.enabled else NotifyState()

    # -- the monitor's hooks ------------------------------------------------------------------------

    def on_report(self, report: Any, monitor: Any) -> None:
        if not self.enabled:
            return
        try:
            facts = Facts(self.fleet, producing=report.producing, target=monitor.target,
                          credit_wait=bool(report.credit_wait), held_back=report.short,
                          blocked=_blocked(monitor, report.now), hold=getattr(report, "hold", None),
                          hold_since=getattr(report, "hold_since", None), hold_line=getattr(report, "hold_line", ""),
                          hold_lifted=getattr(report, "hold_lifted", ""))
            self._decide(facts, report.now)
        except Exception as exc:  # an alert must never stop the monitor it reports on
            self._warn(f"notify: skipped this cycle's alerts: {self._scrub(str(exc) or type(exc).__name__)}")

    def on_stop(self, error: str | None, wait: float | None = None) -> None:
        """Decide the stop alert and give the queue up to `wait` seconds (default 2 x timeout) to go out."""
        if not self.enabled:
            return
        try:
            self._decide(Facts(self.fleet, stopped=True, error=error), self.clock())
        except Exception as exc:  # the monitor is stopping: warn, never raise over its own error
            self._warn(f"notify: skipped the stop alert: {self._scrub(str(exc) or type(exc).__name__)}")
        self.flush(2 * self.timeout if wait is None else wait)

    def flush(self, wait: float) -> bool:
        """Wait up to `wait` seconds for queued alerts to be sent (or fail); whether the queue emptied."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout=wait)

    # -- deciding -----------------------------------------------------------------------------------

    def _decide(self, facts: Facts, now: float) -> None:
        state, found = alerts(self.state, facts, self.cfg, now)
        if state != self.state:          # most cycles change nothing: no write, no fsync
            self.state = state
            self._save()
        for alert in found:
            self._enqueue(alert, now)

    def _load(self) -> NotifyState:
        if self.store is None:
            return NotifyState()
        try:
            return NotifyState.from_dict(self.store.fleet_doc(self.fleet, NOTIFY_DOC).read({}))
        except ValueError as exc:
            self._warn(f"notify: {NOTIFY_DOC} ignored ({exc}): alert state started afresh")
        except (OSError, ZebError) as exc:
            self._warn(f"notify: cannot read {NOTIFY_DOC} ({exc}): alert state started afresh")
        return NotifyState()

    def _save(self) -> None:
        if self.store is None:
            return
        try:
            self.store.fleet_doc(self.fleet, NOTIFY_DOC).write(self.state.to_dict())
        except (OSError, ZebError) as exc:
            self._warn(f"notify: cannot save {NOTIFY_DOC}: {exc}")

    # -- sending ------------------------------------------------------------------------------------

    def _enqueue(self, alert: Alert, now: float) -> None:
        alert = Alert(alert.kind, self._scrub(alert.text), alert.machine)
        with self._cond:
            try:
                self._queue.put_nowait((alert, now))
            except queue.Full:
                self._warn(f"notify: {alert.kind} alert dropped: the webhook is not keeping up")
                return
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"zeb-notify-{self.fleet}", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            alert, now = self._queue.get()
            try:
                self._send(alert, now)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def _send(self, alert: Alert, now: float) -> None:
        url = self.cfg.webhook or ""
        body, content_type = payload(alert, self.cfg.format, self.fleet, now)
        try:
            post(url, body, content_type, self.timeout)
        except (OSError, HTTPException, ValueError) as exc:
            why = getattr(exc, "reason", None) or exc
            self._warn(f"notify: {alert.kind} alert not sent to {mask_url(url)}: {self._scrub(str(why))}")

    # -- text ---------------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = " ".join(text.split())
        return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 3] + "..."

    def _warn(self, line: str) -> None:
        self.warnings.append(line)
        if self._warn_to is not None:
            # A broken warning sink must not take the sender thread down.
            with contextlib.suppress(Exception):
                self._warn_to(line)


MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib follows a POST's 301/302/303 with a GET and no body, so the alert is lost without a word:
    post() follows redirects itself instead."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _password(url: str | None) -> str:
    try:
        return unquote(urlsplit(url or "").password or "")
    except ValueError:
        return ""


def split_credentials(url: str) -> tuple[str, str | None]:
    """(the URL without user:password@, the Authorization header for them or None)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    user, password = unquote(parts.username), unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), f"Basic {token}"


def post(url: str, body: bytes, content_type: str, timeout: float) -> None:
    """POST `body` to the webhook: user:password in the URL as basic auth; a redirect (301, 302, 303, 307,
    308) gets the same POST again, at most MAX_REDIRECTS times, never from https down to http, and the
    credentials only on the same host. Raises OSError (urllib's HTTPError for an answer not 2xx) or
    ValueError; one timeout bounds the connect and every read of each request."""
    url, auth = split_credentials(url)
    host = urlsplit(url).hostname
    for _ in range(MAX_REDIRECTS + 1):
        headers = {"Content-Type": content_type, "User-Agent": "zeb-notify"}
        if auth is not None and urlsplit(url).hostname == host:
            headers["Authorization"] = auth
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                response.read(1024)
                return
        except urllib.error.HTTPError as exc:
            location = exc.headers.get("Location") if exc.code in REDIRECTS else None
            if not location:
                raise
            target = urljoin(url, location)
            if urlsplit(target).scheme not in ("http", "https") or (
                    urlsplit(url).scheme == "https" and urlsplit(target).scheme == "http"):
                raise ValueError(f"the webhook redirected ({exc.code}) to a URL zeb does not follow") from None
            url = target
    raise ValueError(f"the webhook redirected more than {MAX_REDIRECTS} times")


def _blocked(monitor: Any, now: float) -> dict[str, str]:
    """Machine id -> the reason of its last strike, for the machines blocked now."""
    hosts = monitor.hosts
    out: dict[str, str] = {}
    for machine in monitor.fleet.blocked(hosts, now):
        record = hosts.get(machine)
        strikes = getattr(record, "strikes", ()) or ()
        out[str(machine)] = strikes[-1].reason if strikes else ""
    return out
