"""Alerts: the pure decisions (zeb.plan.notify), the [notify] config, and the sender against local receivers."""

from __future__ import annotations

import base64
import http.server
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeb.core.config import Notify, resolve
from zeb.core.errors import ConfigError
from zeb.observe.notify import NOTIFY_DOC, Notifier, payload
from zeb.plan.notify import EVENTS, Alert, Facts, NotifySettings, NotifyState, alerts
from zeb.storage import codec
from zeb.storage.store import Store

CFG = NotifySettings(below_target_minutes=30, cooldown_minutes=60)
T0 = 1_000_000.0


def run(steps, cfg=CFG, state=None):
    """Feed (now, facts) steps through alerts(); every alert sent, as (now, kind, machine, text)."""
    state = state or NotifyState()
    sent = []
    for now, facts in steps:
        state, found = alerts(state, facts, cfg, now)
        state = NotifyState.from_dict(json.loads(json.dumps(state.to_dict())))   # as the store round-trips it
        sent += [(now, a.kind, a.machine, a.text) for a in found]
    return state, sent


def facts(**kw) -> Facts:
    return Facts("zeb-large", **{"producing": 4, "target": 4, **kw})


# -- pure decisions ------------------------------------------------------------------------------


def test_credit_exhausted_then_back():
    _, sent = run([(T0, facts(credit_wait=True, held_back=3)), (T0 + 60, facts(credit_wait=True)),
                   (T0 + 120, facts(credit_wait=False))])
    assert [(k, t) for _, k, _, t in sent] == [
        ("credit_exhausted", "[zeb fleet zeb-large] credit exhausted: 3 launch(es) held back"),
        ("credit_back", "[zeb fleet zeb-large] credit is back: launches resume"),
    ]


def test_credit_flapping_is_held_to_one_alert_per_cooldown():
    steps = [(T0 + i * 60, facts(credit_wait=i % 2 == 0, held_back=1)) for i in range(10)]
    _, sent = run(steps)
    assert [k for _, k, _, _ in sent] == ["credit_exhausted", "credit_back"]


def test_below_target_after_the_threshold_once_then_back_at_target():
    steps = [(T0 + m * 60, facts(producing=2)) for m in range(0, 50, 5)] + [(T0 + 3600, facts(producing=4))]
    _, sent = run(steps)
    assert [(n - T0, k, t) for n, k, _, t in sent] == [
        (35 * 60, "below_target", "[zeb fleet zeb-large] below target: 2/4 producing for 35 min"),
        (3600, "back_at_target", "[zeb fleet zeb-large] back at target: 4/4 producing"),
    ]


def test_a_short_dip_sends_nothing():
    _, sent = run([(T0, facts(producing=3)), (T0 + 600, facts(producing=3)), (T0 + 900, facts(producing=4))])
    assert sent == []


def test_machine_blocked_only_when_newly_blocked_and_not_on_the_first_cycle():
    _, sent = run([(T0, facts(blocked={"11": "stalled"})), (T0 + 60, facts(blocked={"11": "stalled"})),
                   (T0 + 120, facts(blocked={"11": "stalled", "22": "CUDA error: no device"}))])
    text = "[zeb fleet zeb-large] machine 22 blocked: CUDA error: no device"
    assert sent == [(T0 + 120, "machine_blocked", "22", text)]


def test_monitor_stopped_only_on_an_error():
    _, sent = run([(T0, facts(stopped=True, error=None))])
    assert sent == []
    _, sent = run([(T0, facts(stopped=True, error="Vast API unreachable"))])
    assert [t for _, _, _, t in sent] == ["[zeb fleet zeb-large] monitor stopped: Vast API unreachable"]


def test_events_not_listed_are_not_sent():
    cfg = NotifySettings(events=("machine_blocked",))
    _, sent = run([(T0, facts(credit_wait=True)), (T0 + 3 * 3600, facts(producing=0, credit_wait=False)),
                   (T0 + 6 * 3600, facts(producing=0, stopped=True, error="boom"))], cfg=cfg)
    assert sent == []


def test_state_from_a_wrong_shape_is_refused():
    with pytest.raises(ValueError):
        NotifyState.from_dict({"sent": {"x": "yesterday"}})
    assert NotifyState.from_dict({}) == NotifyState()


fact_steps = st.lists(st.tuples(
    st.floats(min_value=0, max_value=7200),
    st.builds(facts, producing=st.integers(0, 4), credit_wait=st.booleans(),
              blocked=st.dictionaries(st.sampled_from(["1", "2", "3"]), st.just("x"), max_size=3),
              stopped=st.booleans(), error=st.sampled_from([None, "boom"])),
), max_size=40)


@settings(max_examples=200, deadline=None)
@given(fact_steps, st.floats(min_value=1, max_value=120))
def test_no_alert_is_sent_twice_within_a_cooldown(steps, cooldown):
    cfg = NotifySettings(below_target_minutes=5, cooldown_minutes=cooldown)
    now, timed = T0, []
    for gap, f in steps:
        now += gap
        timed.append((now, f))
    _, sent = run(timed, cfg=cfg)
    last: dict = {}
    for when, kind, machine, text in sent:
        assert "\n" not in text
        key = (kind, machine)
        assert key not in last or when - last[key] >= cooldown * 60
        last[key] = when


# -- config --------------------------------------------------------------------------------------


def _config(tmp_path, text: str) -> dict:
    path = tmp_path / "fleets.toml"
    path.write_text(text)
    return {"ZEB_CONFIG": str(path)}


HOOK = "https://hooks.slack.com/services/T000/B000/SECRETPATH"


def test_notify_defaults_and_fleet_override(tmp_path):
    env = _config(tmp_path, f'[defaults.notify]\nwebhook = "{HOOK}"\ncooldown_minutes = 10\n'
                            '[fleets.big.notify]\nformat = "discord"\nevents = ["credit_exhausted"]\n')
    cfg = resolve("big", {}, env)
    assert cfg.notify == Notify(webhook=HOOK, events=("credit_exhausted",), cooldown_minutes=10.0, format="discord")
    assert cfg.sources["notify.webhook"] == "fleets.toml [defaults]"
    assert cfg.sources["notify.format"] == "fleets.toml [fleets.big]"
    assert resolve("other", {}, env).notify.format == "slack"
    assert resolve("other", {}, {}).notify == Notify()


def test_notify_webhook_from_env_and_masked_when_shown(tmp_path):
    cfg = resolve("zeb", {}, {"ZEB_CONFIG": str(tmp_path / "none.toml"), "ZEB_NOTIFY_WEBHOOK": HOOK})
    assert cfg.notify.webhook == HOOK and cfg.sources["notify.webhook"] == "env ZEB_NOTIFY_WEBHOOK"
    assert "SECRETPATH" not in repr(cfg.notify) and "https://hooks.slack.com/***" in str(cfg.notify)


def test_config_show_never_prints_the_webhook(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from zeb.cli import app
    monkeypatch.setenv("ZEB_NOTIFY_WEBHOOK", HOOK)
    for args in (["config", "show"], ["config", "show", "--json"]):
        result = CliRunner().invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0
        # The human table folds long values: the masked host may be cut across lines.
        assert "SECRETPATH" not in result.output and "hooks.slack." in result.output
    assert "https://hooks.slack.com/***" in result.output


@pytest.mark.parametrize(("text", "where"), [
    ('[defaults.notify]\nformat = "teams"', "defaults.notify.format: must be one of slack, discord, ntfy, json"),
    ('[fleets.a.notify]\nevents = ["credit_gone"]', "fleets.a.notify.events: unknown event 'credit_gone'"),
    ('[defaults.notify]\ncooldown_minutes = -1', "defaults.notify.cooldown_minutes: must be a number of minutes"),
    ('[defaults.notify]\nbelow_target_minutes = "x"', "defaults.notify.below_target_minutes: must be a number"),
    ('[defaults.notify]\nwebhok = "https://x.example"', "defaults.notify.webhok: unknown key"),
    ('[defaults.notify]\nwebhook = "ftp://secret-host/SECRETPATH"', "defaults.notify.webhook: must be an http"),
    ('[defaults]\nnotify = 3', "defaults.notify: must be a table"),
])
def test_bad_notify_config_names_file_and_key(tmp_path, text, where):
    env = _config(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        resolve("a", {}, env)
    assert str(tmp_path / "fleets.toml") in err.value.message and where in err.value.message
    assert "SECRETPATH" not in err.value.message


def test_bad_webhook_in_env_is_refused_without_echoing_it(tmp_path):
    with pytest.raises(ConfigError) as err:
        resolve("zeb", {}, {"ZEB_CONFIG": str(tmp_path / "none"), "ZEB_NOTIFY_WEBHOOK": "not a url SECRETPATH"})
    assert "ZEB_NOTIFY_WEBHOOK" in err.value.message and "SECRETPATH" not in err.value.message


# -- the sender ----------------------------------------------------------------------------------


class _Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.got.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def _serving(handler):
    """A local HTTP server with `handler` on a thread, its requests in `.got`; stopped after the test."""
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    server.got = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver():
    yield from _serving(_Receiver)


@pytest.fixture
def hanging():
    """Accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture(autouse=True)
def _secrets(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("ZEB_NOTIFY_WEBHOOK", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_SECRETTOKEN123")
    monkeypatch.setenv("VAST_API_KEY", "vast-SECRETKEY456")


@dataclass
class _Monitor:
    target: int = 4
    hosts: dict = field(default_factory=dict)
    blocked: frozenset = frozenset()

    @property
    def fleet(self):
        return SimpleNamespace(blocked=lambda hosts, now: self.blocked)


def _report(now, **kw):
    return SimpleNamespace(**{"now": now, "producing": 4, "credit_wait": False, "short": 0, **kw})


def _notifier(url, fmt="slack", **kw):
    return Notifier(Notify(webhook=url, format=fmt, cooldown_minutes=60), "zeb-large", lambda: T0, timeout=0.3, **kw)


MSG = "[zeb fleet zeb-large] credit exhausted: 3 launch(es) held back"


@pytest.mark.parametrize(("fmt", "shape"), [
    ("slack", lambda b: json.loads(b) == {"text": MSG}),
    ("discord", lambda b: json.loads(b) == {"content": MSG}),
    ("ntfy", lambda b: b == MSG.encode()),
    ("json", lambda b: json.loads(b) == {"zeb_alert_version": 1, "fleet": "zeb-large", "kind": "credit_exhausted",
                                         "machine": None, "time": T0,
                                         "text": MSG}),
])
def test_each_format_reaches_the_receiver(receiver, fmt, shape):
    notifier = _notifier(f"http://127.0.0.1:{receiver.server_port}/hook/x", fmt)
    notifier.on_report(_report(T0, credit_wait=True, short=3), _Monitor())
    assert notifier.flush(5)
    [(path, content_type, body)] = receiver.got
    assert path == "/hook/x" and shape(body), body
    assert content_type.startswith("text/plain" if fmt == "ntfy" else "application/json")
    assert notifier.warnings == []


def test_a_hanging_receiver_costs_the_cycle_nothing(hanging):
    lines = []
    notifier = _notifier(f"http://127.0.0.1:{hanging}/SECRETPATH", warn=lines.append)
    start = time.monotonic()
    notifier.on_report(_report(T0, credit_wait=True, short=1), _Monitor())
    assert time.monotonic() - start < 0.1
    assert notifier.flush(5)          # the send thread gave up after its timeout
    assert len(lines) == 1 and lines == notifier.warnings
    assert lines[0].startswith("notify: credit_exhausted alert not sent to http://127.0.0.1/***: ")
    assert "SECRETPATH" not in lines[0]


def test_a_refused_connection_is_one_warning():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    notifier = _notifier(f"http://127.0.0.1:{port}/SECRETPATH")
    notifier.on_report(_report(T0, credit_wait=True), _Monitor())
    assert notifier.flush(5)
    assert len(notifier.warnings) == 1 and "refused" in notifier.warnings[0].lower()
    assert "SECRETPATH" not in notifier.warnings[0]


def test_no_secret_reaches_a_message(receiver, tmp_path):
    url = f"http://127.0.0.1:{receiver.server_port}/SECRETPATH"
    notifier = _notifier(url, "json", secrets=["api-SECRETPASSED"])
    mon = _Monitor(blocked=frozenset({7}), hosts={7: SimpleNamespace(strikes=(
        SimpleNamespace(reason="login failed with hf_SECRETTOKEN123 and vast-SECRETKEY456"),))})
    notifier.on_report(_report(T0, producing=0), _Monitor())
    notifier.on_report(_report(T0 + 60, producing=0, credit_wait=True), mon)
    notifier.on_report(_report(T0 + 3600, producing=0, credit_wait=True), mon)
    notifier.on_stop(f"HTTP 500 from {url} (token hf_SECRETTOKEN123, api-SECRETPASSED)\nsecond line", wait=5)
    kinds = [json.loads(b)["kind"] for _, _, b in receiver.got]
    assert kinds == ["credit_exhausted", "machine_blocked", "below_target", "monitor_stopped"]
    for _, _, body in receiver.got:
        text = body.decode()
        for secret in ("SECRETTOKEN", "SECRETKEY", "SECRETPATH", "SECRETPASSED", "\\n"):
            assert secret not in text


def test_state_is_kept_in_the_store(receiver, tmp_path):
    store = Store(tmp_path / "home")
    url = f"http://127.0.0.1:{receiver.server_port}/h"
    first = _notifier(url, store=store)
    first.on_report(_report(T0, credit_wait=True), _Monitor())
    assert first.flush(5) and len(receiver.got) == 1
    assert store.fleet_doc("zeb-large", NOTIFY_DOC).read()["credit_wait"] is True
    again = _notifier(url, store=store)       # a restarted monitor: the credit wait is not news
    again.on_report(_report(T0 + 60, credit_wait=True), _Monitor())
    assert again.flush(5) and len(receiver.got) == 1
    # A cycle that changes nothing writes nothing: the document is not rewritten every cycle.
    path = store.fleet_doc("zeb-large", NOTIFY_DOC).path
    before = path.stat().st_mtime_ns
    again.on_report(_report(T0 + 120, credit_wait=True), _Monitor())
    assert path.stat().st_mtime_ns == before and again.warnings == []
    on_disk = json.loads(path.read_text())
    assert on_disk["format"] == "zeb.notify" and on_disk["version"] == codec.DOCS[NOTIFY_DOC].version


def test_without_a_webhook_nothing_happens(tmp_path):
    store = Store(tmp_path / "home")
    notifier = Notifier(Notify(), "zeb", lambda: T0, store=store)
    notifier.on_report(_report(T0, credit_wait=True), _Monitor())
    notifier.on_stop("boom")
    assert notifier.warnings == [] and not (store.fleet_dir("zeb") / NOTIFY_DOC).exists()


def test_a_broken_report_is_a_warning_not_an_exception():
    notifier = _notifier("http://127.0.0.1:9/x")
    notifier.on_report(SimpleNamespace(now=T0), _Monitor())
    assert len(notifier.warnings) == 1 and notifier.warnings[0].startswith("notify: skipped this cycle's alerts")


def test_payload_has_every_kind_in_one_line():
    for kind in EVENTS:
        body, _ = payload(Alert(kind, "x"), "slack", "zeb", T0)
        assert b"\n" not in body


# -- wired into `zeb monitor` ------------------------------------------------------------------------


def test_monitor_sends_credit_exhausted_to_the_webhook(tmp_path, receiver):
    """End to end: `zeb monitor` on an empty account posts one "credit exhausted" alert to the fleet's
    webhook, with no secret in it, and a --dry-run of the same posts nothing."""
    from tests.simenv import start_sim

    sim, server = start_sim(tmp_path, "no-credit")
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        sim.config.write_text(sim.config.read_text() + f'\n[defaults.notify]\nwebhook = "{url}"\nformat = "json"\n')
        dry = sim.run("monitor", "2", "--dry-run")
        assert dry.exit_code == 0 and receiver.got == []
        result = sim.run("monitor", "2", "--max-cycles", "2")
        assert result.exit_code == 0, result.output
        bodies = [body.decode() for _, _, body in receiver.got]
        assert len(bodies) == 1 and "credit" in bodies[0] and json.loads(bodies[0])
        assert all(secret not in body for body in bodies for secret in ("hf_", "sim-key", "/hook"))
    finally:
        server.stop()
        sim.hub.stop()


# -- issue 20: one webhook rule for file and env, basic auth, redirects ------------------------------------

BAD_HOOKS = ["http://exa mple.com/x", "http://example.com/a\tb", "http://exa_mple.com/x", "http://-x.com/",
             "http://example.com:99999/x", "http://example.com:0/x", "ftp://example.com/x", "http:///x", ""]


@pytest.mark.parametrize("hook", BAD_HOOKS)
def test_a_webhook_is_checked_the_same_in_fleets_toml_and_in_the_environment(tmp_path, hook):
    from zeb.core.config import webhook_problem

    assert webhook_problem(hook) is not None
    if hook.strip():
        with pytest.raises(ConfigError) as env_err:
            resolve("zeb", {}, {"ZEB_CONFIG": str(tmp_path / "none"), "ZEB_NOTIFY_WEBHOOK": hook})
        assert "ZEB_NOTIFY_WEBHOOK" in env_err.value.message and hook not in env_err.value.message
    with pytest.raises(ConfigError) as file_err:
        resolve("a", {}, _config(tmp_path, f'[defaults.notify]\nwebhook = "{hook}"'))
    assert "defaults.notify.webhook" in file_err.value.message


@pytest.mark.parametrize("hook", ["https://hooks.slack.com/services/T/B/x", "http://127.0.0.1:8080/hook",
                                  "http://[::1]:9/h", "https://u:p%40ss@ntfy.example.com/topic",
                                  "https://example.com./x"])
def test_good_webhooks_pass(hook):
    from zeb.core.config import webhook_problem

    assert webhook_problem(hook) is None


class _Redirecting(http.server.BaseHTTPRequestHandler):
    """/old answers with the status in the query (302 by default) pointing to /new; /new takes the alert;
    /loop redirects to itself."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.got.append((self.command, self.path, self.headers.get("Authorization"), body))
        if self.path.startswith(("/old", "/loop")):
            code = int(self.path.partition("=")[2] or 302)
            self.send_response(code)
            self.send_header("Location", "/loop" if self.path.startswith("/loop") else "/new")
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args):
        pass


@pytest.fixture
def redirecting():
    yield from _serving(_Redirecting)


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirected_alert_is_posted_again_with_its_body(redirecting, code):
    from zeb.observe.notify import post

    port = redirecting.server_address[1]
    post(f"http://127.0.0.1:{port}/old?code={code}", b'{"text": "hi"}', "application/json", 2.0)
    assert [(m, p.split("?")[0], b) for m, p, _, b in redirecting.got] == [
        ("POST", "/old", b'{"text": "hi"}'), ("POST", "/new", b'{"text": "hi"}')]


def test_a_redirect_loop_is_a_warning_not_a_lost_alert(redirecting):
    port = redirecting.server_address[1]
    warned = []
    n = Notifier(Notify(webhook=f"http://127.0.0.1:{port}/loop", format="json", cooldown_minutes=60),
                 "zeb", lambda: T0, timeout=2.0, warn=warned.append)
    n._send(Alert("credit_exhausted", "x"), T0)
    assert len(warned) == 1 and "not sent" in warned[0] and "redirected more than 3 times" in warned[0]
    assert len(redirecting.got) == 4 and all(m == "POST" and b for m, _, _, b in redirecting.got)


def test_user_and_password_in_the_webhook_are_basic_auth_and_never_shown(redirecting):
    port = redirecting.server_address[1]
    warned = []
    hook = f"http://zeb:s3cr%40t@127.0.0.1:{port}/new"
    n = Notifier(Notify(webhook=hook, format="json", cooldown_minutes=60), "zeb", lambda: T0, timeout=2.0,
                 warn=warned.append)
    n._send(Alert("credit_exhausted", "x"), T0)
    [(_, path, auth, _)] = redirecting.got
    assert path == "/new" and auth == "Basic " + base64.b64encode(b"zeb:s3cr@t").decode() and not warned
    # A failure names the host only, never the user or the password.
    dead = Notifier(Notify(webhook="http://zeb:s3cr%40t@127.0.0.1:9/h", format="json", cooldown_minutes=60),
                    "zeb", lambda: T0, timeout=1.0, warn=warned.append)
    dead._send(Alert("credit_exhausted", "x"), T0)
    assert warned and all("s3cr" not in w and "zeb:" not in w for w in warned)
