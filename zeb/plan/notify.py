"""Which alerts to send after a monitor cycle: (state, facts, config, now) -> (state, alerts). No I/O.

Rules (README "Alerts"):
- credit_exhausted when the monitor's credit wait turns on (also on the first cycle seen if it is on);
  credit_back when it turns off again, only after a credit_exhausted alert went out.
- below_target once producing has stayed under the target for more than below_target_minutes (one
  alert per episode); back_at_target (enabled by "below_target") when it recovers, only after a
  below_target alert went out.
- machine_blocked for each machine newly in the blocked set. The first cycle after a start records
  the set without alerting: a restart must not announce every machine blocked in the past.
- fleet_fault once per episode when the fleet is held for one cause outside the hosts (zeb.plan.fleetfault:
  a bad commit, Hugging Face down, a refused token, missing weights, an unpullable image), with the cause,
  its evidence and commit and what zeb does; fleet_fault_cleared when the hold lifts, only after a
  fleet_fault alert went out.
- monitor_stopped when the monitor stops on an error (a clean stop or Ctrl-C sends nothing). The stop's
  facts carry nothing else: they change no other rule's state.
An alert kind (per machine for machine_blocked) is sent at most once per cooldown; one held back by
the cooldown is dropped, except below_target, which goes out later if the fleet is still short.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from zeb.core.alerts import EVENTS, FORMATS, NotifySettings  # noqa: F401  (re-exported)

# back_at_target is the other half of below_target: the config's event name enables both.
_ENABLED_BY = {"back_at_target": "below_target"}


@dataclass(frozen=True)
class Facts:
    fleet: str
    producing: int = 0
    target: int = 0
    credit_wait: bool = False
    held_back: int = 0                                  # launches the credit wait holds back
    blocked: Mapping[str, str] = field(default_factory=dict)  # machine id -> why (may be "")
    stopped: bool = False
    error: str | None = None                            # why the monitor stopped, when it was an error
    hold: str | None = None                             # the cause of a fleet hold, None when launches flow
    hold_since: float | None = None                     # when that hold began (an episode's identity)
    hold_line: str = ""                                 # its evidence line and what zeb does about it
    hold_lifted: str = ""                               # why a hold lifted, in the cycle it does


@dataclass(frozen=True)
class Alert:
    kind: str
    text: str                                           # one line, no secrets
    machine: str | None = None

    @property
    def key(self) -> str:
        return self.kind if self.machine is None else f"{self.kind}:{self.machine}"


@dataclass(frozen=True)
class NotifyState:
    sent: Mapping[str, float] = field(default_factory=dict)   # alert key -> when last sent
    credit_wait: bool | None = None                     # None: never observed
    credit_alerted: bool = False
    below_since: float | None = None
    below_alerted: bool = False
    blocked: tuple[str, ...] | None = None              # None: never observed
    hold_since: float | None = None                     # the fleet hold episode last seen
    hold_alerted: bool = False                          # a fleet_fault alert went out for it

    def to_dict(self) -> dict[str, Any]:
        return {"sent": dict(self.sent), "credit_wait": self.credit_wait, "credit_alerted": self.credit_alerted,
                "below_since": self.below_since, "below_alerted": self.below_alerted,
                "blocked": None if self.blocked is None else list(self.blocked),
                "hold_since": self.hold_since, "hold_alerted": self.hold_alerted}

    @classmethod
    def from_dict(cls, data: Any) -> NotifyState:
        """ValueError on a wrong shape (the caller starts afresh)."""
        if not isinstance(data, dict):
            raise ValueError("expected an object")
        sent = data.get("sent", {})
        if not isinstance(sent, dict) or not all(_is_time(v) for v in sent.values()):
            raise ValueError("sent: expected an object of times")
        blocked = data.get("blocked")
        if blocked is not None and not isinstance(blocked, list):
            raise ValueError("blocked: expected a list")
        below_since = data.get("below_since")
        if below_since is not None and not _is_time(below_since):
            raise ValueError("below_since: expected a time")
        credit_wait = data.get("credit_wait")
        if credit_wait is not None and not isinstance(credit_wait, bool):
            raise ValueError("credit_wait: expected true, false or null")
        hold_since = data.get("hold_since")
        if hold_since is not None and not _is_time(hold_since):
            raise ValueError("hold_since: expected a time")
        return cls(sent={str(k): float(v) for k, v in sent.items()}, credit_wait=credit_wait,
                   credit_alerted=bool(data.get("credit_alerted", False)),
                   below_since=None if below_since is None else float(below_since),
                   below_alerted=bool(data.get("below_alerted", False)),
                   blocked=None if blocked is None else tuple(str(m) for m in blocked),
                   hold_since=None if hold_since is None else float(hold_since),
                   hold_alerted=bool(data.get("hold_alerted", False)))


def _is_time(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _enabled(kind: str, cfg: NotifySettings) -> bool:
    return _ENABLED_BY.get(kind, kind) in cfg.events


Send = Callable[[Alert], bool]


def _cooled(sent: Mapping[str, float], key: str, cfg: NotifySettings, now: float) -> bool:
    last = sent.get(key)
    return last is None or now - last >= cfg.cooldown_minutes * 60.0


def alerts(state: NotifyState, facts: Facts, cfg: NotifySettings, now: float) -> tuple[NotifyState, list[Alert]]:
    out: list[Alert] = []
    sent = dict(state.sent)

    def send(alert: Alert) -> bool:
        """Queue `alert` if its kind is enabled and out of cooldown; whether it was."""
        if not _enabled(alert.kind, cfg) or not _cooled(sent, alert.key, cfg, now):
            return False
        sent[alert.key] = now
        out.append(alert)
        return True

    tag = f"[zeb fleet {facts.fleet}]"
    state = _credit(state, facts, tag, send)
    state = _below(state, facts, tag, cfg, now, send)
    state = _blocked(state, facts, tag, send)
    state = _hold(state, facts, tag, send)
    if facts.stopped and facts.error is not None:
        send(Alert("monitor_stopped", f"{tag} monitor stopped: {facts.error}"))
    return replace(state, sent=sent), out


def _credit(state: NotifyState, facts: Facts, tag: str, send: Send) -> NotifyState:
    if facts.stopped:
        return state
    alerted = state.credit_alerted
    if facts.credit_wait and not state.credit_wait:
        alerted = send(Alert("credit_exhausted", f"{tag} credit exhausted: {facts.held_back} launch(es) held back"))
    elif not facts.credit_wait and state.credit_wait:
        if alerted:
            send(Alert("credit_back", f"{tag} credit is back: launches resume"))
        alerted = False
    return replace(state, credit_wait=facts.credit_wait, credit_alerted=alerted)


def _below(state: NotifyState, facts: Facts, tag: str, cfg: NotifySettings, now: float, send: Send) -> NotifyState:
    if facts.stopped:
        return state
    if facts.producing >= facts.target:
        if state.below_alerted:
            send(Alert("back_at_target", f"{tag} back at target: {facts.producing}/{facts.target} producing"))
        return replace(state, below_since=None, below_alerted=False)
    since = now if state.below_since is None else state.below_since
    alerted = state.below_alerted
    if not alerted and now - since > cfg.below_target_minutes * 60.0:
        minutes = int((now - since) // 60)
        alerted = send(Alert("below_target", f"{tag} below target: {facts.producing}/{facts.target} producing "
                                             f"for {minutes} min"))
    return replace(state, below_since=since, below_alerted=alerted)


def _blocked(state: NotifyState, facts: Facts, tag: str, send: Send) -> NotifyState:
    if facts.stopped:
        return state
    now_blocked = tuple(sorted(facts.blocked))
    if state.blocked is not None:
        for machine in now_blocked:
            if machine not in state.blocked:
                why = facts.blocked[machine]
                send(Alert("machine_blocked", f"{tag} machine {machine} blocked" + (f": {why}" if why else ""),
                           machine=machine))
    return replace(state, blocked=now_blocked)


def _hold(state: NotifyState, facts: Facts, tag: str, send: Send) -> NotifyState:
    if facts.stopped:
        return state
    if facts.hold is not None and facts.hold_since != state.hold_since:
        alerted = send(Alert("fleet_fault", f"{tag} fleet fault ({facts.hold}): {facts.hold_line}"))
        return replace(state, hold_since=facts.hold_since, hold_alerted=alerted)
    if facts.hold is None and state.hold_since is not None:
        if state.hold_alerted:
            why = f": {facts.hold_lifted}" if facts.hold_lifted else ""
            send(Alert("fleet_fault_cleared", f"{tag} fleet fault cleared{why}; launches resume"))
        return replace(state, hold_since=None, hold_alerted=False)
    return state
