"""The self-healing loop: observe -> decide -> act -> record -> report.

Observe: one instance listing, log tails polled concurrently with a per-call deadline, classified by
zeb.core.lifecycle. Decide: zeb.plan.monitor.decide, one pure function. Act: destroys and slow-start
launch batches under the fleet's mutation lock; a failed action is recorded and re-planned next
cycle, never a crash. Record: transitions, strikes, observed games/s, the ledger, the policy state.
Report: one line per cycle (or a live dashboard) and one per action."""

from __future__ import annotations

import dataclasses
import functools
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from zeb.adapters.hub import examples_lister as make_lister
from zeb.core.config import FleetConfig
from zeb.core.domain import NOT_STARTED, Account
from zeb.core.errors import MarketError
from zeb.core.lifecycle import (
    Event,
    Observation,
    WorkerState,
    apply_observation,
    classify,
    mark_destroying,
    mark_gone,
    new_record,
    record_to_dict,
)
from zeb.plan import fleetfault as ff
from zeb.plan.cadence import error_backoff, is_due, next_interval, next_poll_at
from zeb.plan.fleet import launching as in_flight_rows
from zeb.plan.hosts import add_strike, block_now, withdraw_strikes
from zeb.plan.launch import fleet_upload_interval, worker_id
from zeb.plan.monitor import (
    CheckCredit,
    CycleFacts,
    Destroy,
    Launch,
    PolicyState,
    Snapshot,
    WithdrawStrikes,
    check_examples,
    credit_probe_due,
    decide,
    destroy_verdict,
    examples_folder,
    is_hardware_fault,
    learn,
    on_launch_failed,
)
from zeb.plan.types import Strike
from zeb.service.fleet import Fleet, FleetView
from zeb.service.ops import poll_pool_size, poll_tails
from zeb.storage import state as st
from zeb.storage.codec import encode_events, event_row


@dataclass
class Counters:
    cycles: int = 0
    launches: int = 0
    launch_failures: int = 0
    destroys: int = 0
    replacements: int = 0
    strikes: int = 0
    api_errors: int = 0
    poll_failures: int = 0


@dataclass
class CycleReport:
    number: int
    now: float
    producing: int = 0
    live: int = 0
    games_per_s: float = 0.0
    dph: float = 0.0
    actions: list[str] = field(default_factory=list)
    error: str | None = None
    interval: float = 0.0
    credit_wait: bool = False
    rows: list[dict] = field(default_factory=list)
    done: int = 0            # actions that went through (destroys, launches)
    failed: int = 0          # actions Vast refused or that could not be sent
    short: int = 0           # workers missing from the target after this cycle (live + launching)
    launching: int = 0       # creates sent that Vast does not list yet (the in-flight ledger)
    launching_rows: list[dict] = field(default_factory=list)   # those launches (zeb.plan.fleet.launching)
    duration_s: float = 0.0  # how long the cycle took (time.monotonic: a duration, not a time of day)
    hold: str | None = None  # the fleet-level cause launches are held for (zeb.plan.fleetfault), if any
    hold_since: float | None = None
    hold_line: str = ""      # its evidence, commit and what zeb does about it
    hold_why: str = ""       # what the cause means and what zeb does, for the dashboard and status
    hold_lifted: str = ""    # in the cycle a hold lifts: why (the hub answers, the canary produces on <sha>)


class Monitor:
    def __init__(
        self,
        cfg: FleetConfig,
        target: int,
        client,
        store,
        token: str,
        *,
        clock: Callable[[], float] = time.time,
        emit_event: Callable[[dict], None] | None = None,
        dry_run: bool = False,
        rng: random.Random | None = None,
        examples_lister: Callable[[], Sequence[str] | None] | None = None,
        hub_env: Mapping[str, str] | None = None,
        head_of: Callable[[], tuple[str | None, str]] | None = None,
    ) -> None:
        self.cfg = cfg
        self.target = target
        self.client = client
        self.store = store
        self.token = token
        self.clock = clock
        self.emit_event = emit_event or (lambda event: None)
        self.dry_run = dry_run
        self.rng = rng or random.Random()
        self.fleet = Fleet(client, store, cfg, clock=clock, env=hub_env)
        self.records = st.load_records(store, cfg.name)
        self.policy = PolicyState.from_dict(store.fleet_doc(cfg.name, st.POLICY_DOC).read({}))
        self.destroying = st.load_destroying(store, cfg.name)
        self.account: Account | None = None
        self.started = clock()
        self.counters = Counters()
        self.consecutive_errors = 0
        self._last_error_log = 0.0
        self._ranked: list = []
        self.hosts: dict = {}
        if examples_lister is None and hub_env is not None:

            examples_lister = make_lister(cfg.examples_repo_id, examples_folder(cfg.weights_name), token, hub_env)
        # One listing of the examples repo per check for the whole fleet; None = the check is off.
        self.examples_lister = examples_lister
        if head_of is None and hub_env is not None and cfg.git_commit is None:
            from zeb.adapters.gitremote import branch_head

            env = dict(hub_env)
            head_of = functools.partial(branch_head, cfg.git_repo, cfg.git_branch, env)
        # The worker branch's head at the remote, asked each cycle of a code hold; None = never asked.
        self.head_of = head_of
        self._head_said: str | None = None
        self._halt_reported: str | None = None
        # A hold the last run announced is not announced again by this one (cron runs `--once` every cycle).
        held = self.policy.hold
        self._hold_reported: tuple[str, float] | None = None if held is None else (held.cause, held.since)
        self._statuses: dict[int, str | None] = {}
        self.hub_env = hub_env
        self._hub: ff.HubCheck | None = None     # this cycle's weights check (one per cycle at most)

    # -- observe ---------------------------------------------------------------------------

    def _observe(self, view: FleetView):
        t = self.cfg.thresholds
        now = view.now
        self._fresh: set[int] = set()        # workers whose log was read this cycle
        fleet = view.members
        listed = {i.id for i in fleet}
        events: list[Event | dict] = []      # lifecycle events and rows already built
        for instance_id, rec in list(self.records.items()):
            if instance_id not in listed:
                rec, evs = mark_gone(rec, now, "no longer listed by Vast")
                events += evs
                events.append(event_row(now, "retired", "retired", instance_id=instance_id, label=rec.label,
                                        record=record_to_dict(rec)))
                del self.records[instance_id]
                self.destroying.pop(instance_id, None)
        # Each worker is read when its next evidence is due (zeb.plan.cadence.next_poll_at); exited and
        # stopped instances are read once: their last log says whether the host was at fault.
        to_poll = [i.id for i in fleet if i.id not in self.destroying and self._due(i, now)]
        pool = poll_pool_size(t.poll_concurrency, len(to_poll))
        tails = poll_tails(lambda i: self.client.logs(i, tail=t.log_tail, timeout=t.poll_timeout_s), to_poll,
                           workers=pool, timeout=t.poll_timeout_s)
        for inst in fleet:
            rec = self.records.get(inst.id)
            if rec is None:
                rec = new_record(inst.id, inst.label or "", inst.machine_id, inst.gpu_name, inst.dph_total,
                                 inst.start_date, now)
                events.append(event_row(now, "adopted", "adopted", "adopted", instance_id=inst.id, label=inst.label,
                                        machine_id=inst.machine_id, to=str(rec.state), evidence=""))
            if inst.id in self.destroying:
                self.records[inst.id] = rec
                continue
            polled = tails.get(inst.id)
            if polled is None and inst.status not in NOT_STARTED:
                # Not due: nothing new is known about it; its record stands as it is.
                self.records[inst.id] = dataclasses.replace(rec, dph_total=inst.dph_total)
                continue
            if polled is not None:
                rec = dataclasses.replace(rec, polled_at=now)
                if polled.text is not None:
                    self._fresh.add(inst.id)
            if polled is not None and polled.text is None and inst.ended:
                # Not seen: the stop stands, with no log to blame the host with.
                self.counters.poll_failures += 1
                obs = classify(inst.status, "", intended_status=inst.intended_status)
                obs = dataclasses.replace(obs, evidence=f"{obs.evidence.split(';')[0]}; log not read: {polled.error}")
            elif polled is not None and polled.text is None:
                self.counters.poll_failures += 1
                obs = Observation(state=rec.state, poll_failed=True, evidence=f"poll failed: {polled.error}")
            else:
                obs = classify(inst.status, (polled.text or "") if polled else "", intended_status=inst.intended_status,
                               status_msg=inst.status_msg)
            rec, evs = apply_observation(rec, obs, now, stall_polls=t.stall_polls)
            rec = dataclasses.replace(rec, dph_total=inst.dph_total, extra={**rec.extra, "observed_at": now})
            self.records[inst.id] = rec
            events += evs
        self._statuses = {i.id: i.status for i in fleet if i.id not in self.destroying}
        return events

    def _next_poll(self, instance_id: int, status: str | None) -> float | None:
        t = self.cfg.thresholds
        rec = self.records.get(instance_id)
        # The examples check (when on) is the cheap health signal: one HF listing for the whole fleet.
        last_upload = self.policy.examples_seen.get(worker_id(rec.label)) if rec and self.examples_lister else None
        return next_poll_at(rec, status, flux_s=t.flux_poll_s, slow_s=t.slow_interval_s, retry_s=t.fast_interval_s,
                            healthy_s=t.healthy_poll_s, last_upload=last_upload,
                            upload_s=float(fleet_upload_interval(self.cfg, self.target)),
                            checked_at=self.policy.examples_checked_at)

    def _due(self, inst, now: float) -> bool:
        return is_due(self._next_poll(inst.id, inst.status), now, self.cfg.thresholds.fast_interval_s)

    # -- one cycle -------------------------------------------------------------------------

    def cycle(self) -> CycleReport:
        started = time.monotonic()
        self.counters.cycles += 1
        now = self.clock()
        report = CycleReport(self.counters.cycles, now)
        self._given_up: list = []             # (record, reason) of launches struck before they produced
        self._preempted: list = []            # workers stopped with no fault in their log, or long unseen
        try:
            view = self._view = self.fleet.observe(prune=not self.dry_run, now=now)
            events = self._observe(view)
            hosts = self.hosts = dict(view.hosts)
            self._ranked = []
            examples_replace, examples_events = self._check_examples(now, report)
            events += examples_events
            if credit_probe_due(self.policy, self.cfg.thresholds, now):
                # Checked before deciding, so the cycle that sees the balance back also searches and launches.
                self.account = self.client.account()
                report.actions.append("credit check: " + ("still exhausted" if self.account.exhausted
                                                          else "credit is back"))
            self._hub = None
            hold = self.policy.hold
            snap = Snapshot(
                fleet=self.cfg.name, instances=view.members, records=dict(self.records), offers=None, hosts=hosts,
                blocked=view.blocked, account=self.account, inflight=view.inflight,
                destroying=dict(self.destroying), examples_replace=examples_replace,
                # While the hub holds the fleet, it is probed every cycle, so the cycle it answers resumes.
                hub=self._hub_check(report) if hold is not None and hold.cause in ff.HUB_CAUSES else None,
                pin_last_good=self.cfg.pin == "last-good",
                branch_head=self._branch_head(report) if hold is not None and hold.cause == "code_fault" else None,
                word=view.word,
            )
            decision = self._decide(snap, view, report, now)
            self.account = None
            self.policy = decision.state
            events += self._report_halt(now, report)
            events += self._report_hold(now, report, decision.notes)
            if not self.dry_run:
                events += self._act(decision, now, report)
            else:
                report.actions += [f"would {_describe(a)}" for a in decision.actions]
            target = self.target
            if target != self.policy.target_logged:
                events.append(event_row(now, "target", "target", f"keeping {target} worker(s)", target=target))
                self.policy = dataclasses.replace(self.policy, target_logged=target)
            self._record(events, hosts, self._given_up)
            self.consecutive_errors = 0
        except MarketError as exc:
            self.counters.api_errors += 1
            self.consecutive_errors += 1
            report.error = str(exc)
        self._summarise(report)
        report.duration_s = time.monotonic() - started
        return report

    def _decide(self, snap: Snapshot, view: FleetView, report: CycleReport, now: float):
        """decide(), then again with what it asked for: the hub's answer before anything is launched, and
        one offer search (skipped when the hub does not answer: nothing will be launched)."""
        decision = decide(snap, self.policy, self.cfg, self.target, now)
        for _ in range(2):
            if not (decision.wants_hub or decision.wants_offers):
                break
            if decision.wants_hub and snap.hub is None:
                snap = dataclasses.replace(snap, hub=self._hub_check(report))
            if decision.wants_offers and snap.offers is None and (snap.hub is None or snap.hub.ok):
                self._ranked = self.fleet.offers(view)
                snap = dataclasses.replace(snap, offers=tuple(self._ranked))
            decision = decide(snap, self.policy, self.cfg, self.target, now)
        return decision

    def _hub_check(self, report: CycleReport) -> ff.HubCheck:
        """The start-up weights check, at most once a cycle: ok, or the cause it shows. The token is read
        afresh each time (a rotated token in the HF token file is picked up without a restart)."""
        if self._hub is not None:
            return self._hub
        if self.hub_env is None:
            self._hub = ff.HubCheck(ok=True, detail="not checked (no hub configured)")
            return self._hub
        from zeb.adapters import hub

        token = hub.find_token(self.hub_env) or self.token
        cause, detail = hub.probe_weights(self.cfg.repo_id, self.cfg.weights_name, token, self.hub_env)
        if cause is None and token != self.token:
            self.token = token
        self._hub = ff.HubCheck(ok=cause is None, cause=cause or "", detail=detail)
        held = self.policy.hold
        # Said when the answer changes, not every cycle of an hour-long outage (HOLD is on every check line).
        if held is not None and held.cause in ff.HUB_CAUSES and (cause is None or detail != held.probe):
            report.actions.append("hub probe: " + ("Hugging Face answers" if cause is None else detail))
        return self._hub

    def _branch_head(self, report: CycleReport) -> str | None:
        """The branch head at the remote (one `git ls-remote`); said when what it answers changes."""
        if self.head_of is None:
            return None
        head, why = self.head_of()
        said = head or why
        if said != self._head_said:
            self._head_said = said
            report.actions.append(f"branch head: {head[:12]}" if head else f"branch head unknown: {why}")
        return head

    def _check_examples(self, now: float, report: CycleReport) -> tuple[dict[int, str], list]:
        """On the slow cadence, one listing of the examples repo: flag producing workers whose uploads
        stopped reaching it, and name those flagged long enough to replace."""

        t = self.cfg.thresholds
        last = self.policy.examples_checked_at
        producing = [r for r in self.records.values() if r.state is WorkerState.PRODUCING]
        if self.examples_lister is None or not producing or (last is not None and now - last < t.slow_interval_s):
            return {}, []
        paths = self.examples_lister()
        check = check_examples(self.records.values(), paths, examples_folder(self.cfg.weights_name),
                               self.policy.examples_seen, self.policy.examples_flags,
                               float(fleet_upload_interval(self.cfg, self.target)), t, now)
        self.policy = dataclasses.replace(self.policy, examples_checked_at=now, examples_seen=dict(check.seen),
                                          examples_flags=dict(check.flags))
        events: list = []
        for instance_id, rec in list(self.records.items()):
            since = check.flags.get(str(instance_id))
            extra = {k: v for k, v in rec.extra.items() if k != "examples_stale_since"}
            if since is not None:
                extra["examples_stale_since"] = since
            self.records[instance_id] = dataclasses.replace(rec, extra=extra)
        for instance_id, what in check.flagged.items():
            rec = self.records[instance_id]
            report.actions.append(f"flagged {rec.label}: {what}")
            events.append(event_row(now, "examples_stale", "examples_stale", what, instance_id=instance_id,
                                    label=rec.label, machine_id=rec.machine_id))
        if paths is None:
            report.actions.append("examples check: the hub listing failed (not seen; nothing flagged)")
        return dict(check.replace), events

    def _report_halt(self, now: float, report: CycleReport) -> list:
        """Say once, in one line, why launches stopped (and once when they resume)."""
        line = self.policy.config_halt
        if line == self._halt_reported:
            return []
        self._halt_reported = line
        if line is None:
            report.actions.append("launch configuration changed: launching again")
            return [event_row(now, "config_halt_lifted", "config_halt_lifted", "launch configuration changed")]
        report.actions.append(f"CONFIG ERROR: {line}")
        return [event_row(now, "config_halt", "config_halt", line)]

    def _report_hold(self, now: float, report: CycleReport, notes: Sequence[str] = ()) -> list:
        """Say once, in one line, that the fleet is held for a cause outside the hosts (and once when it lifts)."""
        hold = self.policy.hold
        key = None if hold is None else (hold.cause, hold.since)
        if hold is not None:
            report.hold, report.hold_since, report.hold_why = hold.cause, hold.since, hold.why()
            report.hold_line = f"{hold.line}; {ff.DOING.get(hold.cause, 'launches held')}"
        if key == self._hold_reported:
            return []
        previous, self._hold_reported = self._hold_reported, key
        if hold is None:
            why = next((n.partition(": ")[2] for n in notes if n.startswith("fleet hold lifted")), "")
            report.hold_lifted = why or "the cause is gone"
            report.actions.append(f"fleet hold lifted: {report.hold_lifted}; launching again")
            return [event_row(now, "fleet_hold_lifted", previous[0] if previous else "fleet_hold_lifted",
                              f"fleet hold lifted: {report.hold_lifted}")]
        report.actions.append(f"FLEET HOLD ({hold.cause}): {hold.line} -- {hold.why()}")
        return [event_row(now, "fleet_hold", hold.cause, hold.line)]

    # -- act -------------------------------------------------------------------------------

    def _act(self, decision, now: float, report: CycleReport) -> list:
        events: list = []
        destroys = [a for a in decision.actions if isinstance(a, Destroy)]
        launches = [a for a in decision.actions if isinstance(a, Launch)]
        with self.store.mutation_lock(self.cfg.name, timeout=60.0):
            for outcome, action in zip(self.fleet.destroy([d.instance_id for d in destroys]), destroys):
                events += self._destroyed(action, outcome, now, report)
            if launches:
                events += self._launch_batches(launches, decision, now, report)
        for action in decision.actions:
            if isinstance(action, WithdrawStrikes):
                events += self._withdraw(action, now, report)
            if isinstance(action, CheckCredit):
                self.account = self.client.account()
                report.actions.append(
                    "credit check: " + ("still exhausted" if self.account.exhausted else "credit is back"))
        return events

    def _withdraw(self, action: WithdrawStrikes, now: float, report: CycleReport) -> list:
        """Take back the strikes given for failures that turned out to be the fleet's."""
        ids = set(action.instance_ids)
        struck = sorted({s.machine_id for rec in self.hosts.values() for s in rec.strikes if s.instance_id in ids})
        if not struck:
            return []
        self.fleet.update_hosts(lambda hosts: withdraw_strikes(hosts, ids))
        self.hosts = withdraw_strikes(self.hosts, ids)
        machines = ", ".join(str(m) for m in struck)
        report.actions.append(f"strikes withdrawn from machine(s) {machines}: {action.reason}")
        return [event_row(now, "strikes_withdrawn", "strikes_withdrawn", f"{action.reason}: machine(s) {machines}")]

    def _destroyed(self, action, outcome, now: float, report: CycleReport) -> list:
        """Record one destroy sent: the worker's transition, the action's event, counters, the strike, and
        what the destroy teaches about its machine."""
        events: list = []
        self.destroying.setdefault(action.instance_id, now)
        rec = was = self.records.get(action.instance_id)
        if rec is not None and rec.state is not WorkerState.DESTROYING:
            rec, events = mark_destroying(rec, now, action.reason, code=action.kind)
            self.records[action.instance_id] = rec
        events.append(event_row(now, "action", action.kind, action.reason, action="destroy",
                                instance_id=action.instance_id, label=action.label, machine_id=action.machine_id,
                                ok=outcome.ok, strike=action.strike, error=outcome.error))
        _tally(report, outcome.ok)
        if outcome.ok:
            self.counters.destroys += 1
            self.counters.replacements += action.replaces
            report.actions.append(f"destroyed {action.label} ({action.instance_id}): {action.reason}")
        else:
            report.actions.append(f"destroy of {action.label} ({action.instance_id}) failed: {outcome.error}")
        if action.strike:
            self._strike(action, now)
        verdict = destroy_verdict(action, was)
        if verdict == "failed_boot":
            self._given_up.append((was, action.reason))
        elif verdict == "ended":
            self._preempted.append(was)
        return events

    def _launch_batches(self, launches, decision, now: float, report: CycleReport) -> list:
        events: list = []
        live_machines = {r.machine_id for r in self.records.values() if r.state is not WorkerState.GONE}
        batches = sorted({a.batch for a in launches})
        if any(a.trial or a.canary for a in launches) and not self.dry_run:
            # The trial is on record before its create is sent: a monitor killed mid-create must not leave
            # the next one an extra worker it takes for an ordinary member.
            self.store.fleet_doc(self.cfg.name, st.POLICY_DOC).write(self.policy.to_dict())
        for batch in batches:
            for action in [a for a in launches if a.batch == batch]:
                # If the planned offer is taken meanwhile, the next best one this cycle saw is used.
                spares = [o for o in self._ranked if o.offer.id != action.offer.offer.id]
                outcome = self.fleet.launch(self._view, [action.label], [action.offer, *spares], self.token,
                                            target=self.target, used_machines=live_machines, commit=action.commit)[0]
                offer = outcome.offer.offer if outcome.offer else action.offer.offer
                events.append(event_row(now, "action", "trial" if action.trial else "launch", action.reason,
                                        action="launch", instance_id=outcome.instance_id, label=action.label,
                                        machine_id=offer.machine_id, ok=outcome.ok, trial=action.trial,
                                        offer_id=offer.id, gpu_name=offer.gpu_name, dph_total=offer.dph_total,
                                        error=outcome.error))
                _tally(report, outcome.ok)
                if outcome.ok:
                    self.counters.launches += 1
                    live_machines.add(offer.machine_id)
                    o = offer
                    role = " (canary)" if action.canary else " (trial)" if action.trial else ""
                    report.actions.append(f"launched {action.label}{role}: "
                                          f"{o.gpu_name} @ ${o.dph_total:.3f}/hr -> instance {outcome.instance_id}")
                    if action.trial:
                        self.policy = _with_trial_instance(self.policy, action.label, outcome.instance_id)
                    if action.canary:
                        self.policy = _with_canary_instance(self.policy, action.label, outcome.instance_id)
                else:
                    self.counters.launch_failures += 1
                    report.actions.append(f"launch of {action.label} failed: {outcome.error}")
                    self.policy = on_launch_failed(self.policy, outcome.error_kind or "failed", now)
                    return events  # slow start: stop at the first failure; the next cycle re-plans
        return events

    def _strike(self, action, now: float) -> None:
        rec = self.records.get(action.instance_id)
        if rec is not None and is_hardware_fault(rec):
            # Certain: it fails the same way on every launch, so it is blocked now, not after 3 rentals.
            def change(hosts):
                return block_now(hosts, action.machine_id, action.reason, now, fleet=self.cfg.name,
                                 threshold=self.cfg.thresholds.strikes_to_block, instance_id=action.instance_id)
        else:
            strike = Strike(machine_id=action.machine_id, time=now, reason=action.reason, fleet=self.cfg.name,
                            instance_id=action.instance_id)

            def change(hosts):
                return add_strike(hosts, strike)
        self.fleet.update_hosts(change)
        self.counters.strikes += 1

    # -- record and report -----------------------------------------------------------------

    def _record(self, events: list, hosts, given_up: list | None = None) -> None:
        rows = encode_events(events)
        for row in rows:
            self.emit_event(row)
        if self.dry_run:
            return
        st.append_events(self.store, self.cfg.name, rows)
        st.save_records(self.store, self.cfg.name, self.records)
        st.save_destroying(self.store, self.cfg.name, self.destroying)
        self.store.fleet_doc(self.cfg.name, st.POLICY_DOC).write(self.policy.to_dict())
        now = self.clock()
        facts = CycleFacts(
            fresh=frozenset(self._fresh), records=dict(self.records),
            transitions=tuple(e for e in events if not isinstance(e, dict) and e.kind == "transition"),
            given_up=tuple(given_up or ()), preempted=tuple(self._preempted),
            excused=frozenset(self.policy.hold.instance_ids) if self.policy.hold else frozenset(),
        )
        if facts.anything() or any(s.certain for rec in hosts.values() for s in rec.strikes):
            self.fleet.update_hosts(lambda h: learn(h, facts, now))

    def _summarise(self, report: CycleReport) -> None:
        live = [r for r in self.records.values() if r.state not in (WorkerState.GONE, WorkerState.DESTROYING)]
        report.live = len(live)
        report.producing = sum(1 for r in live if r.state is WorkerState.PRODUCING)
        report.games_per_s = sum(r.games_per_s or 0.0 for r in live if r.state is WorkerState.PRODUCING)
        report.dph = sum(r.dph_total for r in self.records.values() if r.state is not WorkerState.GONE)
        report.credit_wait = bool(self.policy.credit_wait)
        report.rows = [_row(r, report.now) for r in sorted(live, key=lambda r: _label_key(r.label))]
        t = self.cfg.thresholds
        ledger = st.load_inflight(self.store, self.cfg.name) if not self.dry_run else ()
        inflight = len(ledger)
        report.launching = inflight
        view = getattr(self, "_view", None)
        report.launching_rows = in_flight_rows(ledger, view.instances if view is not None else (), self.cfg.name,
                                          report.now, t.inflight_expiry_s, shown_ids=self.records)
        report.short = max(0, self.target - report.live - inflight)
        if report.error:
            report.interval = error_backoff(self.consecutive_errors, base_s=t.fast_interval_s,
                                            cap_s=t.slow_interval_s, rng=self.rng)
            return
        interval = next_interval(
            [r.state for r in live], target=self.target,
            inflight=inflight, destroying=len(self.destroying), trial_active=self.policy.trial is not None,
            credit_wait=bool(self.policy.credit_wait), fast_s=t.fast_interval_s, slow_s=t.slow_interval_s,
            credit_probe_s=t.credit_probe_s,
        )
        # Wake for the first worker whose evidence falls due (a stall that could be confirmed), never
        # sooner than the fast pace.
        dues = [d for d in (self._next_poll(i, s) for i, s in self._statuses.items()) if d is not None]
        if dues:
            interval = min(interval, max(t.fast_interval_s, min(dues) - report.now))
        report.interval = interval

    def should_log_error(self, now: float) -> bool:
        """Repeated API errors are logged once a minute, not once a cycle."""
        if now - self._last_error_log >= 60.0 or self.consecutive_errors <= 1:
            self._last_error_log = now
            return True
        return False


def _tally(report: CycleReport, ok: bool) -> None:
    report.done += ok
    report.failed += not ok


def _with_trial_instance(policy, label: str, instance_id: int | None):
    trial = policy.trial
    if trial is None or trial.label != label:
        return policy
    return dataclasses.replace(policy, trial=dataclasses.replace(trial, instance_id=instance_id))


def _with_canary_instance(policy, label: str, instance_id: int | None):
    hold = policy.hold
    if hold is None or hold.canary_label != label:
        return policy
    return dataclasses.replace(policy, hold=dataclasses.replace(hold, canary_instance=instance_id))


def _describe(action) -> str:
    name = type(action).__name__.lower()
    if name == "launch":
        return f"launch {action.label} on offer {action.offer.offer.id} ({action.offer.offer.gpu_name})"
    if name == "destroy":
        return f"destroy {action.label} ({action.instance_id}): {action.reason}"
    return name


def _label_key(label: str):
    head, _, tail = label.rpartition("-")
    return (head, int(tail) if tail.isdigit() else 0)


def _row(r, now: float) -> dict:
    dpg = r.dph_total / r.games_per_s if r.games_per_s else None
    stale = r.extra.get("examples_stale_since")
    # A producing worker whose examples stopped reaching HF shows it in its state cell.
    state = f"{r.state} (no examples)" if stale is not None and r.state is WorkerState.PRODUCING else str(r.state)
    return {"label": r.label, "instance_id": r.instance_id, "gpu_name": r.gpu_name, "state": state,
            "in_state_s": max(0.0, now - r.state_since), "games_per_s": r.games_per_s, "batch": r.last_batch,
            "dph_total": r.dph_total, "dollars_per_gps": dpg, "machine_id": r.machine_id,
            "evidence": r.evidence, "examples_stale_s": None if stale is None else max(0.0, now - stale)}


def run(
    monitor: Monitor,
    *,
    sleep: Callable[[float], None],
    on_report: Callable[[CycleReport], None],
    once: bool = False,
    max_cycles: int | None = None,
    interval_override: float | None = None,
) -> None:
    """Cycle until interrupted (KeyboardInterrupt, SIGTERM mapped to it by the caller) or `max_cycles`."""
    while True:
        report = monitor.cycle()
        on_report(report)
        if once or (max_cycles is not None and monitor.counters.cycles >= max_cycles):
            return
        sleep(interval_override if interval_override and not report.error else report.interval)
