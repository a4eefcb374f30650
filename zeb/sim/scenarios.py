"""Scenarios: TOML files describing a market (generated offers, explicit machines, instances that already
exist, API faults, credit) and the faults the whole fleet shares over time. Loaded by name from
zeb/sim/scenarios/ or from a path.

Fleet-wide faults are `[[events]]`, each with a `kind` and `at_s` (seconds after the scenario loads):

- kind = "commit": a commit pushed to the worker repository at `at_s`. `fault` = "ok" (default),
  "type_error" (the worker crashes building its pipeline, the container exits) or "bad_flag" (the worker's
  parser refuses --max-mcts-nodes and exits 2). `repo` (default the worker repository) and `branch`
  (default "forge"). Only clones and fetches after `at_s` get it; running workers keep their code.
- kind = "hub_down": Hugging Face answers 503 from `at_s` to `until_s` (omitted: for good); workers crash
  at their initial pull or next weight sync in that span.
- kind = "token_revoked": the hub answers 401 for `token` (omitted: every token) from `at_s` to `until_s`.
- kind = "weights_missing": the file `path` (default "zeb-557k-1m.pt") of `repo_id` (default
  "jasonyandell/zeb-42") is gone (404 EntryNotFound) from `at_s` to `until_s`.
- kind = "image_broken": Docker cannot pull `image` (default the worker image) from `at_s` to `until_s`;
  instances created then stay "loading" with Docker's error.

Any other key, or a bad value, is one error naming it."""

from __future__ import annotations

import sys
from pathlib import Path

from zeb.core.errors import UsageError
from zeb.sim import onstart
from zeb.sim.market import FAULTS, GPUS, Market

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).parent / "scenarios"


def names() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.toml"))


def _read(name_or_path: str) -> tuple[dict, str]:
    path = Path(name_or_path)
    if not path.suffix:
        path = HERE / f"{name_or_path}.toml"
    try:
        return tomllib.loads(path.read_text()), str(path)
    except FileNotFoundError:
        raise UsageError(f"no scenario {name_or_path!r} (known: {', '.join(names())})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"scenario {path}: not valid TOML: {exc}") from None


def load_scenario(name_or_path: str, clock, *, seed: int | None = None, api_key: str = "sim-key") -> Market:
    """A fresh market on `clock` from a shipped scenario name or a TOML path; `seed` overrides the file's."""
    data, where = _read(name_or_path)
    try:
        return _build(data, where, clock, seed, api_key)
    except KeyError as exc:
        raise UsageError(f"scenario {where}: an entry lacks {exc.args[0]!r}") from None


def _build(data: dict, where: str, clock, seed: int | None, api_key: str) -> Market:
    market = Market(clock, seed=data.get("seed", 0) if seed is None else seed,
                    credit=float(data.get("credit", 100.0)), api_key=api_key)
    gen = data.get("market", {})
    if gen.get("offers"):
        gpus = [g.replace("_", " ") for g in gen.get("gpus", [])] or None
        market.populate(int(gen["offers"]), gpus=gpus, faulty_share=float(gen.get("faulty_share", 0.1)),
                        fault_kinds=tuple(gen.get("fault_kinds", FAULTS)))
    for m in data.get("machines", []):
        gpu = m["gpu"].replace("_", " ")
        if gpu not in GPUS:
            raise UsageError(f"scenario {where}: unknown GPU {m['gpu']!r}")
        _check_fault(where, m.get("fault"))
        for _ in range(int(m.get("count", 1))):
            market.add_machine(gpu, dph=m.get("dph"), fault=m.get("fault"), fault_after_s=m.get("fault_after_s"),
                               gps=m.get("gps"))
    for inst in data.get("instances", []):
        gpu = inst["gpu"].replace("_", " ")
        if gpu not in GPUS:
            raise UsageError(f"scenario {where}: unknown GPU {inst['gpu']!r}")
        _check_fault(where, inst.get("fault"))
        labels = inst.get("labels") or [inst.get("label")]
        if inst.get("count"):
            prefix = inst["label_prefix"]
            labels = [f"{prefix}{k}" for k in range(int(inst["count"]))]
        for label in labels:
            market.adopt(gpu, label, age_s=float(inst.get("age_s", 3600)), fault=inst.get("fault"), dph=inst.get("dph"))
    for fault in data.get("api_faults", []):
        try:
            market.inject(str(fault["kind"]), int(fault.get("count", 1)), path=fault.get("path", ""),
                          method=fault.get("method", ""), retry_after=float(fault.get("retry_after", 1)),
                          delay=float(fault.get("delay", 0)))
        except ValueError as exc:
            raise UsageError(f"scenario {where}: {exc}") from None
    events = data.get("events", [])
    if not isinstance(events, list):
        raise UsageError(f"scenario {where}: events must be a list of [[events]] tables")
    start = clock.now()
    for k, event in enumerate(events, start=1):
        _add_event(market, event, start, f"scenario {where}: events #{k}")
    return market


# kind -> the keys it takes besides kind, at_s and until_s
EVENT_KEYS: dict[str, tuple[str, ...]] = {
    "commit": ("fault", "repo", "branch"),
    "hub_down": (),
    "token_revoked": ("token",),
    "weights_missing": ("repo_id", "path"),
    "image_broken": ("image",),
}


def _add_event(market: Market, event: object, start: float, what: str) -> None:
    if not isinstance(event, dict):
        raise UsageError(f"{what}: must be a table")
    kind = event.get("kind")
    if kind not in EVENT_KEYS:
        raise UsageError(f"{what}: unknown kind {kind!r} (known: {', '.join(EVENT_KEYS)})")
    allowed = {"kind", "at_s", *EVENT_KEYS[kind]} | ({"until_s"} if kind != "commit" else set())
    for key in event:
        if key not in allowed:
            raise UsageError(f"{what}: unknown key {key!r} for kind {kind!r} (known: {', '.join(sorted(allowed))})")

    def seconds(key: str) -> float | None:
        value = event.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise UsageError(f"{what}: {key} must be a number of seconds >= 0, not {value!r}")
        return start + float(value)

    def text(key: str, default: str) -> str:
        value = event.get(key, default)
        if not isinstance(value, str) or (not value and key != "token"):
            raise UsageError(f"{what}: {key} must be a non-empty string, not {value!r}")
        return value

    at = seconds("at_s")
    if at is None:
        raise UsageError(f"{what}: lacks 'at_s'")
    until = seconds("until_s")
    if until is not None and until <= at:
        raise UsageError(f"{what}: until_s must be after at_s")
    try:
        if kind == "commit":
            fault = text("fault", "ok")
            if fault != "ok" and fault not in onstart.CODE_FAULTS:
                raise UsageError(f"{what}: unknown fault {fault!r} (known: ok, {', '.join(onstart.CODE_FAULTS)})")
            market.push_commit(at, None if fault == "ok" else fault, repo=text("repo", onstart.MK5),
                               branch=text("branch", "forge"))
        elif kind == "hub_down":
            market.hub_outage(at, until)
        elif kind == "token_revoked":
            market.revoke_token(at, until, token=text("token", ""))
        elif kind == "weights_missing":
            market.remove_weights(at, until, repo_id=text("repo_id", "jasonyandell/zeb-42"),
                                  path=text("path", "zeb-557k-1m.pt"))
        else:
            market.break_image(text("image", onstart.KNOWN_GOOD_LAUNCH["image"]), at, until)
    except ValueError as exc:
        raise UsageError(f"{what}: {exc}") from None


def _check_fault(where: str, fault: str | None) -> None:
    if fault is not None and fault not in FAULTS:
        raise UsageError(f"scenario {where}: unknown host fault {fault!r} (known: {', '.join(FAULTS)})")
