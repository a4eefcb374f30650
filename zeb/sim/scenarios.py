"""Scenarios: TOML files describing a market (generated offers, explicit machines, instances that already
exist, API faults, credit). Loaded by name from zeb/sim/scenarios/ or from a path."""

from __future__ import annotations

import sys
from pathlib import Path

from zeb.errors import UsageError
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
    return market


def _check_fault(where: str, fault: str | None) -> None:
    if fault is not None and fault not in FAULTS:
        raise UsageError(f"scenario {where}: unknown host fault {fault!r} (known: {', '.join(FAULTS)})")
