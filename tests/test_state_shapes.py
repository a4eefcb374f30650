"""Every stored document is checked on read: a file that is torn, empty, binary, valid JSON of the wrong
shape, has fields of the wrong type, or cannot be read at all (a directory where the file belongs; chmod
000 does not stop root) is set aside with a warning naming it, and every command carries on with the
empty default: no traceback, a sane exit code. Strikes survive the loss of hosts.json (its .bak copy)."""

from __future__ import annotations

import json

import pytest

from zeb.core.lifecycle import WorkerRecord, WorkerState, record_to_dict
from zeb.storage.store import BadDocument, Store

_RECORD = record_to_dict(WorkerRecord(instance_id=1, label="zeb-worker-vast-0", machine_id=7, gpu_name="RTX 3070",
                                      dph_total=0.08, created_at=1.0, state=WorkerState.PRODUCING, state_since=2.0,
                                      first_seen=1.0))

# name -> (where it lives under ZEB_HOME, a valid document, the same with a field of the wrong type)
FILES = {
    "hosts.json": ("", {"5": {"strikes": [{"time": 1.0, "reason": "x"}]}},
                   {"5": {"strikes": [{"time": "yesterday", "reason": "x"}]}}),
    "inflight.json": ("fleets/zeb", [{"label": "zeb-worker-vast-1", "offer_id": 1, "machine_id": 2, "time": 1.0}],
                      [{"label": "zeb-worker-vast-1", "offer_id": "one", "machine_id": 2, "time": 1.0}]),
    "workers.json": ("fleets/zeb", {"1": _RECORD}, {"1": {**_RECORD, "dph_total": "cheap"}}),
    "policy.json": ("fleets/zeb", {"credit_wait": False, "replacements": 2},
                    {"credit_wait": False, "replacements": "many"}),
    "destroying.json": ("fleets/zeb", {"12": 1.0}, {"12": "soon"}),
    "events.jsonl": ("fleets/zeb", [{"time": 1.0, "instance_id": 1, "to": "booting", "label": "zeb-worker-vast-0"}],
                     [{"time": "noon", "instance_id": 1, "to": "flying"}]),
}


def _text(name: str, doc) -> bytes:
    if name.endswith(".jsonl"):
        return "".join(json.dumps(row) + "\n" for row in doc).encode()
    return json.dumps(doc).encode()


def _forms(name: str) -> dict[str, bytes | None]:
    good = _text(name, FILES[name][1])
    return {
        "truncated": good[: len(good) // 2] if not name.endswith(".jsonl") else good[:-8],
        "empty": b"",
        "binary": b"\x00\xff\xfe\x80PK\x03\x04\x9c",
        "wrong-shape": b'"a string"' if not name.endswith(".jsonl") else b'"a string"\n[1, 2]\n',
        "wrong-types": _text(name, FILES[name][2]),
        "unreadable": None,      # a directory at the file's path
    }


COMMANDS = {
    "down": ("down", "--force", "--wait", "0"),
    "replenish": ("replenish", "1"),
    "up": ("up", "1"),
    "monitor": ("monitor", "1", "--once"),
    "status": ("status",),
    "stats": ("stats",),
    "timeline": ("timeline", "zeb-worker-vast-0"),
    "blacklist": ("blacklist", "list"),
}

# Which commands read which file, so the file must be set aside and named when they meet it corrupt.
READERS = {
    "hosts.json": {"down", "replenish", "up", "monitor", "stats", "blacklist"},
    "inflight.json": {"down", "replenish", "up", "monitor"},
    "workers.json": {"monitor", "status", "stats", "timeline"},
    "policy.json": {"monitor"},
    "destroying.json": {"monitor"},
    "events.jsonl": {"stats", "timeline"},
}

CASES = [(name, form, cmd) for name in FILES for form in _forms(name) for cmd in COMMANDS]


@pytest.mark.parametrize("name,form,cmd", CASES, ids=[f"{n}-{f}-{c}" for n, f, c in CASES])
def test_a_corrupt_state_file_is_set_aside_and_the_command_carries_on(sim, name, form, cmd):
    sim.market.adopt("RTX 3070", "zeb-worker-vast-0")
    directory = sim.home / FILES[name][0]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    if name != "events.jsonl":      # so that timeline goes on to read the worker records
        (sim.home / "fleets" / "zeb").mkdir(parents=True, exist_ok=True)
        (sim.home / "fleets" / "zeb" / "events.jsonl").write_bytes(_text("events.jsonl", FILES["events.jsonl"][1]))
    content = _forms(name)[form]
    if content is None:
        path.mkdir()
        (path / "x").write_text("x")
    else:
        path.write_bytes(content)
    res = sim.run(*COMMANDS[cmd])        # catch_exceptions=False: a traceback fails the test
    assert res.exit_code in (0, 1, 3), (res.exit_code, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    aside = [p for p in directory.iterdir() if p.name.startswith(name + ".corrupt-")]
    empty_log = name.endswith(".jsonl") and form == "empty"     # an empty log is a valid log
    if cmd in READERS[name] and not empty_log:
        assert aside, f"{name} ({form}) was not set aside by {cmd}: {res.stderr}"
        assert "zeb: warning:" in res.stderr and name in res.stderr and aside[0].name in res.stderr
    if aside and content is not None and not name.endswith(".jsonl"):
        assert aside[0].read_bytes() == content, "set aside as it was, never rewritten"


@pytest.mark.parametrize("name", [n for n in FILES if not n.endswith(".jsonl")])
def test_each_check_accepts_the_valid_document_and_refuses_the_wrong_types(tmp_path, name):
    store = Store(tmp_path)
    doc = store.fleet_doc("zeb", name) if FILES[name][0] else store.shared_doc(name)
    doc.write(FILES[name][1])
    assert doc.read() == FILES[name][1] and not store.warnings
    doc.write(FILES[name][2])
    assert doc.read("default") in ("default", FILES[name][1])     # hosts.json recovers from its .bak
    assert store.warnings and "corrupt" in store.warnings[0]


def test_the_event_check_keeps_good_lines_and_moves_bad_ones_aside(tmp_path):
    store = Store(tmp_path)
    log = store.events("zeb")
    log.append([{"time": 1.0, "kind": "x"}])
    with open(log.path, "ab") as f:
        f.write(b'"a string"\n{"time": "noon"}\n{"time": 2.0, "to": "flying"}\n{"torn": ')
    log.append([{"time": 3.0, "kind": "y"}])     # starts a fresh line after the torn one
    assert [r["time"] for r in log.read()] == [1.0, 3.0]
    assert len(store.warnings) == 1 and "4 unreadable event line(s)" in store.warnings[0]
    assert [r["time"] for r in log.read()] == [1.0, 3.0] and len(store.warnings) == 1, "warned once"


def test_bad_document_is_a_store_error_with_exit_code_1():
    from zeb.core.errors import StoreError

    assert issubclass(BadDocument, StoreError) and BadDocument("x").exit_code == 1


# -- B: strikes survive the loss of hosts.json --------------------------------------------------------

@pytest.mark.parametrize("shared_file", [True, False], ids=["bad-hosts.txt-on", "ZEB_BLACKLIST-off"])
def test_strikes_survive_a_corrupt_hosts_json(sim, shared_file):
    if not shared_file:
        sim.extra_env["ZEB_BLACKLIST"] = ""
    assert sim.run("blacklist", "add", "5", "--reason", "no CUDA here").exit_code == 0
    (sim.home / "hosts.json").write_bytes(b'"a string"')
    res = sim.run("blacklist", "list", "--json")
    assert res.exit_code == 0, res.stderr
    rows = json.loads(res.stdout)["data"]
    assert "5" in res.stdout and "no CUDA here" in res.stdout, rows
    assert "recovered it from hosts.json.bak" in res.stderr
    assert [p for p in sim.home.iterdir() if p.name.startswith("hosts.json.corrupt-")]
    again = sim.run("blacklist", "list")
    assert "warning" not in again.stderr, "recovered once, then the file is good again"


def test_a_corrupt_backup_too_starts_afresh_with_both_named(tmp_path):
    store = Store(tmp_path)
    doc = store.shared_doc("hosts.json")
    doc.write({"5": {"strikes": [{"time": 1.0, "reason": "x"}]}})
    doc.path.write_bytes(b"{torn")
    doc.backup_path.write_bytes(b"[1]")
    assert doc.read({}) == {}
    assert any("hosts.json.bak" in w and "too" in w for w in store.warnings)
