"""Every command's `--json` data against the JSON Schema of its payload record (zeb.api.payloads): the
schemas are written out (as a consumer would read them), every command runs against the simulated
marketplace, and each document's `data` must match its record exactly: no missing key, no extra key, no
wrong type. The validator itself is tested first, so a check that passes means something."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from zeb.api.payloads import payloads
from zeb.api.schema import errors, schema_of, validate
from zeb.cli import app
from zeb.cli.context import App

# -- the validator ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Inner:
    name: str
    share: float | None


@dataclass(frozen=True, slots=True)
class _Outer:
    count: int
    ok: bool
    items: list[_Inner]
    by_fleet: dict[str, _Inner]
    tags: tuple[str, ...]


_GOOD = {"count": 2, "ok": True, "items": [{"name": "a", "share": 0.5}, {"name": "b", "share": None}],
         "by_fleet": {"zeb": {"name": "c", "share": 1}}, "tags": ["x"]}


def test_the_schema_of_a_record_says_every_field_and_nothing_else():
    schema = schema_of(_Outer)
    assert schema["required"] == ["count", "ok", "items", "by_fleet", "tags"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["items"]["items"]["properties"]["share"] == {
        "anyOf": [{"type": "number"}, {"type": "null"}]}
    assert schema["properties"]["by_fleet"]["additionalProperties"]["title"] == "_Inner"
    assert errors(schema, _GOOD) == []


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(count="2"), "$.count: str '2' is not integer"),
    (lambda d: d.update(ok=1), "$.ok: int 1 is not boolean"),
    (lambda d: d.update(count=True), "$.count: bool True is not integer"),
    (lambda d: d.pop("tags"), "$: missing 'tags'"),
    (lambda d: d.update(extra=1), "$: unexpected 'extra'"),
    (lambda d: d["items"][1].pop("share"), "$.items[1]: missing 'share'"),
    (lambda d: d["by_fleet"]["zeb"].update(share="1"), "$.by_fleet.zeb.share: matches none of 2 choices"),
    (lambda d: d["by_fleet"].update(other=3), "$.by_fleet.other: int 3 is not object"),
])
def test_the_validator_finds_a_wrong_type_a_missing_field_and_an_extra_one(change, message):
    doc = json.loads(json.dumps(_GOOD))
    change(doc)
    found = errors(schema_of(_Outer), doc)
    assert len(found) == 1 and found[0].startswith(message), found
    with pytest.raises(ValueError):
        validate(schema_of(_Outer), doc)


def test_literal_and_unsupported_types():
    from typing import Literal

    assert errors(schema_of(Literal["a", "b"]), "c") == ["$: 'c' is not one of ['a', 'b']"]
    with pytest.raises(TypeError):
        schema_of(dict[int, str])


# -- every command's --json ------------------------------------------------------------------------


def _schemas(tmp_path) -> dict[str, dict]:
    """Each command's schema (any of its payloads), written to a file and read back as JSON."""
    out = {}
    for command, records in payloads().items():
        path = tmp_path / "schemas" / f"{command.replace(' ', '-')}.schema.json"
        path.parent.mkdir(exist_ok=True)
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": command,
                  "anyOf": [schema_of(r) for r in records]}
        path.write_text(json.dumps(schema, indent=2))
        out[command] = json.loads(path.read_text())
    return out


def run_every_command(sim, tmp_path) -> list[dict]:
    """Every command with --json, in an order that gives each something to show; the parsed documents."""
    docs = []

    def run(*args: str) -> None:
        res = sim.run(*args, "--json")
        assert res.stdout, (args, res.stderr)
        doc = json.loads(res.stdout)
        assert doc["exit_code"] in (0, 3) and doc["data"] is not None, (args, doc, res.stderr)
        docs.append(doc)

    bad_hosts = tmp_path / "old-bad-hosts.txt"
    bad_hosts.write_text("222\n333\n")
    run("config", "check")
    run("config", "show")
    run("config", "init", "--path", str(tmp_path / "starter.toml"))
    run("rank-offers", "--limit", "5")
    run("up", "2", "--dry-run")
    run("up", "2")
    sim.clock.advance(600)
    for _ in range(2):      # the monitor has no --json: it records the events timeline and stats read
        assert sim.run("monitor", "2", "--once").exit_code == 0
        sim.clock.advance(600)
    run("status")
    run("status", "--all", "--wide")
    run("status", "--probe")
    label = docs[-1]["data"]["fleets"]["zeb"]["instances"][0]["label"]
    run("logs", label, "--tail", "5")
    run("timeline", label)
    run("stats")
    run("market")
    run("market", "scan")
    run("report", "--out", str(tmp_path / "report.html"))
    run("blacklist", "add", "111", "--reason", "no CUDA")
    run("blacklist", "list", "--all")
    run("blacklist", "import", str(bad_hosts))
    run("blacklist", "remove", "111")
    run("blacklist", "clear")
    run("replenish", "3")
    run("down", "--force")
    return docs


def test_every_commands_json_matches_its_payload_schema(sim, tmp_path):
    schemas = _schemas(tmp_path)
    docs = run_every_command(sim, tmp_path)
    for doc in docs:
        assert doc["command"] in schemas, f"{doc['command']}: no payload record in zeb.api.payloads.payloads()"
        assert errors(schemas[doc["command"]], doc["data"]) == [], doc["command"]
    # the demo has a test of its own; monitor and sim serve run until stopped and print no --json
    untested = set(schemas) - {d["command"] for d in docs} - {"demo", "monitor", "sim serve"}
    assert not untested, f"payloads no test runs: {sorted(untested)}"


def test_the_demos_json_matches_its_payload_schema(tmp_path):
    from zeb.sim.clock import ManualClock

    real = ManualClock()
    res = CliRunner().invoke(app, ["demo", "--speed", "5000", "--hours", "0.5", "--json"],
                             obj=App(env={"NO_COLOR": "1"}, clock=real.now, sleep=real.sleep, interactive=False),
                             catch_exceptions=False)
    doc = json.loads(res.stdout)
    assert errors(_schemas(tmp_path)["demo"], doc["data"]) == []
