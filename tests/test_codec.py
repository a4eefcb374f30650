"""The stored formats (zeb.storage.codec): every document is written in a versioned envelope; what zeb wrote
before envelopes (version 0) reads back as it was; a wrong shape or another format is set aside; a newer
zeb's document is refused in one line and never touched; event log lines carry their version and old
rows are upgraded to code/detail in one place.

The tests of every document read its current version from the registry (codec.DOCS) and expect what its
upgrades make of the version-0 sample, so bumping one format fails only the test of the upgrade written
for it; test_a_bumped_format_keeps_every_generic_test_true shows that on a simulated bump."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeb.core.errors import StoreError
from zeb.core.lifecycle import WorkerRecord, WorkerState, record_to_dict
from zeb.plan.types import InFlight
from zeb.storage import codec, state
from zeb.storage.codec import (
    EVENT_VERSION,
    BadDocument,
    NewerFormat,
    check_event,
    event_row,
    upgrade_event,
)
from zeb.storage.store import Store

_RECORD = record_to_dict(WorkerRecord(instance_id=1, label="zeb-worker-vast-0", machine_id=7, gpu_name="RTX 3070",
                                      dph_total=0.08, created_at=1.0, state=WorkerState.PRODUCING, state_since=2.0,
                                      first_seen=1.0))

# name -> (fleet document?, the document as zeb wrote it before envelopes (version 0), the same with a field of
# the wrong type)
DOCS = {
    "hosts.json": (False, {"5": {"strikes": [{"time": 1.0, "reason": "no CUDA"}]}},
                   {"5": {"strikes": [{"time": "yesterday", "reason": "x"}]}}),
    "inflight.json": (True, [{"label": "zeb-worker-vast-1", "offer_id": 1, "machine_id": 2, "time": 1.0,
                              "attempt": 1, "instance_id": None}],
                      [{"label": "zeb-worker-vast-1", "offer_id": "one", "machine_id": 2, "time": 1.0}]),
    "workers.json": (True, {"1": _RECORD}, {"1": {**_RECORD, "dph_total": "cheap"}}),
    "policy.json": (True, {"credit_wait": False, "replacements": 2, "config_halt": None,
                           "examples_seen": {"w-1": 5.0}}, {"credit_wait": False, "replacements": "many"}),
    "destroying.json": (True, {"12": 1.0, "13": 2.5}, {"12": "soon"}),
    "notify.json": (True, {"sent": {"credit_exhausted": 5.0}, "credit_wait": True, "credit_alerted": True,
                           "below_since": None, "below_alerted": False, "blocked": ["7"]},
                    {"sent": {"credit_exhausted": "noon"}}),
}
FORMATS = {"hosts.json": "zeb.hosts", "inflight.json": "zeb.inflight", "workers.json": "zeb.workers",
           "policy.json": "zeb.policy", "destroying.json": "zeb.destroying", "notify.json": "zeb.notify"}


def _version(name: str) -> int:
    return codec.DOCS[name].version


def _current(name: str, data):
    """Version-0 `data` as the codec's upgrades turn it into the current version."""
    fmt = codec.DOCS[name]
    for n in range(fmt.version):
        data = fmt.upgrades[n](data)
    return data


def _doc(store: Store, name: str):
    return store.fleet_doc("zeb", name) if DOCS[name][0] else store.shared_doc(name)


def _aside(doc) -> list:
    return [p for p in doc.path.parent.iterdir() if p.name.startswith(doc.path.name + ".corrupt-")]


def test_the_registry_names_every_document_once():
    assert set(codec.DOCS) == set(DOCS)
    assert {d.format for d in codec.DOCS.values()} == set(FORMATS.values())
    assert {"hosts.json"} == codec.BACKED_UP


@pytest.mark.parametrize("fmt", [*codec.DOCS.values(), codec.GUARD], ids=lambda f: f.name)
def test_every_older_version_has_its_upgrade(fmt):
    assert fmt.version >= 1 and set(fmt.upgrades) == set(range(fmt.version))


def _round_trips(tmp_path, name):
    store = Store(tmp_path)
    doc = _doc(store, name)
    data = _current(name, DOCS[name][1])
    doc.write(data)
    assert doc.read() == data and not store.warnings
    on_disk = json.loads(doc.path.read_bytes())
    assert on_disk == {"format": FORMATS[name], "version": _version(name), "data": data}
    if doc.backup_path is not None:
        assert json.loads(doc.backup_path.read_bytes()) == on_disk


def _bare_reads_back_upgraded(tmp_path, name):
    store = Store(tmp_path)
    doc = _doc(store, name)
    bare = json.dumps(DOCS[name][1]).encode()
    doc.path.write_bytes(bare)
    assert doc.read() == _current(name, DOCS[name][1]) and not store.warnings
    assert doc.path.read_bytes() == bare, "a read does not rewrite"
    assert doc.update(lambda data: data) == _current(name, DOCS[name][1])
    assert json.loads(doc.path.read_bytes())["version"] == _version(name), "the next write is the current version"


def _bare_of_the_wrong_types_set_aside(tmp_path, name):
    store = Store(tmp_path)
    doc = _doc(store, name)
    doc.path.write_bytes(json.dumps(DOCS[name][2]).encode())
    assert doc.read("default") == "default"
    assert _aside(doc) and "corrupt" in store.warnings[0]


def _current_of_the_wrong_shape_set_aside(tmp_path, name):
    store = Store(tmp_path)
    doc = _doc(store, name)
    content = json.dumps({"format": FORMATS[name], "version": _version(name), "data": DOCS[name][2]}).encode()
    doc.path.write_bytes(content)
    assert doc.read("default") == "default"
    aside = _aside(doc)
    assert len(aside) == 1 and aside[0].read_bytes() == content
    assert len(store.warnings) == 1 and name in store.warnings[0] and aside[0].name in store.warnings[0]
    assert not doc.path.exists()


def _another_format_set_aside(tmp_path, name):
    store = Store(tmp_path)
    doc = _doc(store, name)
    other = next(n for n in DOCS if n != name)
    content = json.dumps({"format": FORMATS[other], "version": _version(other), "data": DOCS[name][1]}).encode()
    doc.path.write_bytes(content)
    assert doc.read("default") == "default"
    assert [p.read_bytes() for p in _aside(doc)] == [content]
    assert FORMATS[other] in store.warnings[0]


def _newer_refused_and_left_alone(tmp_path, name):
    store = Store(tmp_path)
    doc = _doc(store, name)
    newer = _version(name) + 1
    content = json.dumps({"format": FORMATS[name], "version": newer, "data": {"a newer zeb": "keeps"}}).encode()
    doc.path.write_bytes(content)
    message = (f"{doc.path} was written by a newer zeb (format version {newer}; this zeb reads up to "
               f"{_version(name)}): upgrade zeb")
    with pytest.raises(StoreError) as info:
        doc.read("default")
    assert str(info.value) == message and "\n" not in str(info.value)
    with pytest.raises(StoreError, match="newer zeb"):
        doc.update(lambda data: _current(name, DOCS[name][1]), "default")
    with pytest.raises(StoreError, match="newer zeb"):
        doc.write(_current(name, DOCS[name][1]))
    assert doc.path.read_bytes() == content
    assert not _aside(doc) and not store.warnings
    assert doc.backup_path is None or not doc.backup_path.exists()


GENERIC = (_round_trips, _bare_reads_back_upgraded, _bare_of_the_wrong_types_set_aside,
           _current_of_the_wrong_shape_set_aside, _another_format_set_aside, _newer_refused_and_left_alone)


@pytest.mark.parametrize("name", DOCS)
def test_every_document_round_trips_in_its_envelope(tmp_path, name):
    _round_trips(tmp_path, name)


@pytest.mark.parametrize("name", DOCS)
def test_a_bare_document_from_an_older_zeb_reads_back_upgraded(tmp_path, name):
    _bare_reads_back_upgraded(tmp_path, name)


@pytest.mark.parametrize("name", DOCS)
def test_a_bare_document_of_the_wrong_types_is_still_set_aside(tmp_path, name):
    _bare_of_the_wrong_types_set_aside(tmp_path, name)


@pytest.mark.parametrize("name", DOCS)
def test_a_current_document_of_the_wrong_shape_is_set_aside(tmp_path, name):
    _current_of_the_wrong_shape_set_aside(tmp_path, name)


@pytest.mark.parametrize("name", DOCS)
def test_an_envelope_naming_another_format_is_set_aside(tmp_path, name):
    _another_format_set_aside(tmp_path, name)


@pytest.mark.parametrize("envelope", [{"format": "zeb.policy", "data": {}},
                                      {"format": "zeb.policy", "version": "1", "data": {}},
                                      {"format": "zeb.policy", "version": 0, "data": {}},
                                      {"format": "zeb.policy", "version": True, "data": {}},
                                      {"format": "zeb.policy", "version": 1}])
def test_a_broken_envelope_is_set_aside(tmp_path, envelope):
    store = Store(tmp_path)
    doc = _doc(store, "policy.json")
    doc.path.write_text(json.dumps(envelope))
    assert doc.read("default") == "default" and _aside(doc)


@pytest.mark.parametrize("name", DOCS)
def test_a_newer_document_is_refused_and_left_alone(tmp_path, name):
    _newer_refused_and_left_alone(tmp_path, name)


# -- a simulated bump: destroying.json v2 keeps {id: {"since": time}}, upgraded from v1's {id: time} --------

def _destroying_v1_to_v2(data):
    return {key: {"since": float(value)} for key, value in data.items()}


def _check_destroying_v2(data):
    if not isinstance(data, dict):
        raise BadDocument("destroying.json: expected an object")
    for key, value in data.items():
        since = value.get("since") if isinstance(value, dict) else None
        if isinstance(since, bool) or not isinstance(since, (int, float)):
            raise BadDocument(f"destroying.json: instance {key}: {value!r} has no time")


def _bump_destroying(monkeypatch):
    shipped = codec.DOCS["destroying.json"]
    bumped = dataclasses.replace(shipped, version=shipped.version + 1, check=_check_destroying_v2,
                                 upgrades={**shipped.upgrades, shipped.version: _destroying_v1_to_v2})
    monkeypatch.setitem(codec.DOCS, "destroying.json", bumped)
    return shipped.version


@pytest.mark.parametrize("generic", GENERIC, ids=lambda f: f.__name__.strip("_"))
def test_a_bumped_format_keeps_every_generic_test_true(tmp_path, monkeypatch, generic):
    _bump_destroying(monkeypatch)
    generic(tmp_path, "destroying.json")
    for n, name in enumerate(n for n in DOCS if n != "destroying.json"):     # and the others' tests with it
        generic(tmp_path / str(n), name)


def test_a_bumped_formats_own_upgrade_test(tmp_path, monkeypatch):
    """What the one test a bump needs looks like: the old version's file, read, is the new shape."""
    old = _bump_destroying(monkeypatch)
    doc = _doc(Store(tmp_path), "destroying.json")
    doc.path.write_text(json.dumps({"format": "zeb.destroying", "version": old, "data": {"12": 1, "13": 2.5}}))
    assert doc.read() == {"12": {"since": 1.0}, "13": {"since": 2.5}}
    # an old file the upgrade cannot read is a wrong shape, set aside like any other
    doc.path.write_text(json.dumps({"format": "zeb.destroying", "version": old, "data": {"12": "soon"}}))
    assert doc.read("default") == "default" and _aside(doc)


def test_a_newer_document_stops_the_command_in_one_line(sim):
    workers = sim.home / "fleets" / "zeb" / "workers.json"
    workers.parent.mkdir(parents=True)
    current = _version("workers.json")
    content = json.dumps({"format": "zeb.workers", "version": current + 6, "data": {}}).encode()
    workers.write_bytes(content)
    res = sim.run("status")
    assert res.exit_code == 1
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if "newer zeb" in line]
    expected = f"format version {current + 6}; this zeb reads up to {current}): upgrade zeb"
    assert len(lines) == 1 and expected in lines[0], res.stderr
    assert workers.read_bytes() == content


def test_a_backup_recovery_writes_the_envelope(tmp_path):
    store = Store(tmp_path)
    doc = _doc(store, "hosts.json")
    doc.backup_path.write_text(json.dumps(DOCS["hosts.json"][1]))     # an older zeb's .bak, bare
    doc.path.write_bytes(b"{torn")
    assert doc.read({}) == _current("hosts.json", DOCS["hosts.json"][1])
    assert json.loads(doc.path.read_bytes())["format"] == "zeb.hosts"
    assert "recovered it from hosts.json.bak" in store.warnings[0]


def test_a_document_with_no_format_is_plain_json(tmp_path):
    doc = Store(tmp_path).shared_doc("scratch.json")
    doc.write({"n": 1})
    assert json.loads(doc.path.read_bytes()) == {"n": 1} and doc.read() == {"n": 1}


# -- the event log ------------------------------------------------------------------------------------

def _v0_action(action: str, reason: str, **fields) -> dict:
    return {"time": 5.0, "kind": "action", "action": action, "instance_id": 3, "label": "zeb-worker-vast-3",
            "machine_id": 9, "reason": reason, **fields}


@pytest.mark.parametrize("kind", codec.DESTROY_KINDS)
def test_a_v0_destroy_row_moves_its_kind_to_code(kind):
    row = upgrade_event(_v0_action("destroy", f"{kind}: stalled at batch 9: no progress", ok=True, strike=False))
    assert row["v"] == EVENT_VERSION and row["code"] == kind and row["detail"] == "stalled at batch 9: no progress"
    assert "reason" not in row, "the prose is parsed once, here, and not left for readers"
    check_event(row)


def test_a_v0_destroy_row_without_a_known_kind_keeps_its_text():
    row = upgrade_event(_v0_action("destroy", "stalled: who knows"))
    assert (row["code"], row["detail"]) == ("destroy", "stalled: who knows")


@pytest.mark.parametrize("trial, reason, code", [(False, "below target", "launch"), (None, "below target", "launch"),
                                                 (True, "upgrade trial: RTX 4090 at $0.300/hr", "trial")])
def test_a_v0_launch_row_is_coded_launch_or_trial(trial, reason, code):
    fields = {"ok": True, "offer_id": 77, "gpu_name": "RTX 3070", "dph_total": 0.1}
    if trial is not None:
        fields["trial"] = trial
    row = upgrade_event(_v0_action("launch", reason, **fields))
    assert (row["code"], row["detail"]) == (code, reason)
    check_event(row)


@pytest.mark.parametrize("v0, code, detail", [
    ({"time": 1.0, "instance_id": 1, "label": "w", "machine_id": 2, "from": "booting", "to": "producing",
      "reason": "first batch", "evidence": "batch 1", "kind": "transition"}, "producing", "first batch"),
    ({"time": 1.0, "instance_id": 1, "from": "producing", "to": "destroying", "reason": "cost: $0.50/hr over cap",
      "evidence": "", "kind": "transition"}, "cost", "$0.50/hr over cap"),
    ({"time": 1.0, "instance_id": 1, "from": "producing", "to": "gone", "reason": "no longer listed by Vast",
      "evidence": "", "kind": "transition"}, "gone", "no longer listed by Vast"),
    ({"time": 1.0, "instance_id": 1, "to": "booting", "label": "zeb-worker-vast-0"}, "booting", ""),
    ({"time": 1.0, "instance_id": 1, "from": "gone", "to": "producing", "reason": "illegal transition ignored: x",
      "evidence": "", "kind": "anomaly"}, "anomaly", "illegal transition ignored: x"),
    ({"time": 1.0, "instance_id": 1, "label": "w", "machine_id": 2, "from": None, "to": "booting",
      "reason": "adopted", "evidence": "", "kind": "adopted"}, "adopted", "adopted"),
    ({"time": 1.0, "kind": "retired", "instance_id": 1, "label": "w", "record": _RECORD}, "retired", ""),
    ({"time": 1.0, "kind": "examples_stale", "instance_id": 1, "label": "w", "machine_id": 2,
      "reason": "no examples for 3h"}, "examples_stale", "no examples for 3h"),
    ({"time": 1.0, "kind": "config_halt", "reason": "image not found"}, "config_halt", "image not found"),
    ({"time": 1.0, "kind": "config_halt_lifted", "reason": "launch configuration changed"}, "config_halt_lifted",
     "launch configuration changed"),
], ids=["transition", "to-destroying", "to-gone", "no-kind", "anomaly", "adopted", "retired", "examples_stale",
        "config_halt", "config_halt_lifted"])
def test_other_v0_rows_upgrade_to_their_natural_code(v0, code, detail):
    row = upgrade_event(v0)
    assert (row["code"], row["detail"], row["v"]) == (code, detail, EVENT_VERSION)
    assert {k: v for k, v in row.items() if k not in ("v", "code", "detail", "kind")} == \
        {k: v for k, v in v0.items() if k not in ("kind", "reason")}, "every other old field kept as it was"
    assert row["kind"] == v0.get("kind", "transition")
    check_event(row)


def test_event_row_builds_a_current_row_that_checks():
    row = event_row(2.0, "action", "replace", "stalled at batch 9", instance_id=3, label="w", machine_id=9,
                    action="destroy", ok=True, strike=False)
    assert row == {"v": EVENT_VERSION, "time": 2.0, "kind": "action", "code": "replace", "detail": "stalled at batch 9",
                   "instance_id": 3, "label": "w", "machine_id": 9, "action": "destroy", "ok": True, "strike": False}
    check_event(row)
    assert upgrade_event(row) is row
    assert codec.Event.from_row(row).code == "replace"
    transition = event_row(1.0, "transition", "producing", "first batch", from_state="booting", to="producing")
    assert transition["from"] == "booting" and "from_state" not in transition
    with pytest.raises(TypeError):
        event_row(1.0, "action", "launch", reason="below target")


@pytest.mark.parametrize("row", [
    {"time": 1.0, "kind": "action", "code": "launch", "detail": ""},                     # no version
    {"v": EVENT_VERSION, "time": 1.0, "kind": "action", "detail": ""},                  # no code
    {"v": EVENT_VERSION, "kind": "action", "code": "launch", "detail": ""},             # no time
    {"v": EVENT_VERSION, "time": "noon", "kind": "action", "code": "launch", "detail": ""},
    {"v": EVENT_VERSION, "time": 1.0, "kind": "action", "code": "launch", "detail": 3},
    {"v": EVENT_VERSION, "time": 1.0, "kind": "action", "code": "launch", "detail": "", "ok": "yes"},
    {"v": EVENT_VERSION, "time": 1.0, "kind": "action", "code": "launch", "detail": "", "instance_id": True},
    {"v": EVENT_VERSION, "time": 1.0, "kind": "transition", "code": "flying", "detail": "", "to": "flying"},
    {"v": EVENT_VERSION, "time": 1.0, "kind": "retired", "code": "retired", "detail": "", "record": {"label": 3}},
    {"v": True, "time": 1.0, "kind": "action", "code": "launch", "detail": ""},
    [1, 2],
], ids=["no-v", "no-code", "no-time", "time-str", "detail-int", "ok-str", "id-bool", "bad-state", "bad-record",
        "v-bool", "list"])
def test_check_event_refuses_a_bad_current_row(row):
    with pytest.raises(BadDocument):
        check_event(row)


def test_append_stamps_the_version_and_read_returns_current_rows(tmp_path):
    log = Store(tmp_path).events("zeb")
    log.append([_v0_action("destroy", "dedup: duplicate of w (keeping 4)", ok=True),
                event_row(6.0, "config_halt", "config_halt", "image not found")])
    on_disk = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert [r["v"] for r in on_disk] == [EVENT_VERSION, EVENT_VERSION]
    assert (on_disk[0]["code"], on_disk[0]["detail"]) == ("dedup", "duplicate of w (keeping 4)")
    rows = log.read()
    assert rows == on_disk
    for row in rows:
        check_event(row)


def test_old_lines_read_back_upgraded_and_stay_as_they_were_on_disk(tmp_path):
    store = Store(tmp_path)
    log = store.events("zeb")
    log.path.write_text(json.dumps(_v0_action("destroy", "replace: stalled at batch 9")) + "\n"
                        + json.dumps({"time": 6.0, "kind": "config_halt", "reason": "bad image"}) + "\n"
                        + '{"time": "noon"}\n')
    rows = log.read()
    assert [(r["code"], r["detail"]) for r in rows] == [("replace", "stalled at batch 9"), ("config_halt", "bad image")]
    assert "1 unreadable event line(s)" in store.warnings[0]
    assert [json.loads(line).get("v") for line in log.path.read_text().splitlines()] == [None, None], \
        "the good lines kept as written"
    assert log.read() == rows and len(store.warnings) == 1


def test_a_bad_current_line_is_moved_aside_like_any_bad_line(tmp_path):
    store = Store(tmp_path)
    log = store.events("zeb")
    log.append([event_row(1.0, "config_halt", "config_halt", "x")])
    with open(log.path, "a") as f:
        f.write(json.dumps({"v": EVENT_VERSION, "time": 2.0, "kind": "action", "detail": "no code"}) + "\n")
    log.append([event_row(3.0, "config_halt_lifted", "config_halt_lifted", "y")])
    assert [r["time"] for r in log.read()] == [1.0, 3.0]
    aside = [p for p in log.path.parent.iterdir() if p.name.startswith("events.jsonl.corrupt-")]
    assert len(aside) == 1 and b"no code" in aside[0].read_bytes()
    assert "1 unreadable event line(s)" in store.warnings[0]


def test_a_newer_event_line_stops_the_read_and_moves_nothing(tmp_path):
    store = Store(tmp_path)
    log = store.events("zeb")
    log.append([event_row(1.0, "config_halt", "config_halt", "x")])
    with open(log.path, "a") as f:
        f.write(json.dumps({"v": EVENT_VERSION + 1, "when": "later"}) + "\n{torn\n")
    before = log.path.read_bytes()
    expected = rf"format version {EVENT_VERSION + 1}; this zeb reads up to {EVENT_VERSION}\): upgrade zeb"
    with pytest.raises(NewerFormat, match=expected):
        log.read()
    assert log.path.read_bytes() == before and not store.warnings
    assert not [p for p in log.path.parent.iterdir() if ".corrupt-" in p.name]


def test_read_events_since_uses_the_upgraded_time(tmp_path):
    store = Store(tmp_path)
    state.append_events(store, "zeb", [{"time": 1.0, "kind": "config_halt", "reason": "a"},
                                       {"time": 2.0, "kind": "config_halt_lifted", "reason": "b"}])
    assert [r["code"] for r in state.read_events(store, "zeb", since=1.5)] == ["config_halt_lifted"]


# -- properties ---------------------------------------------------------------------------------------

_ids = st.integers(min_value=0, max_value=2**53)
_times = st.floats(min_value=0, max_value=2e9, allow_nan=False)
_inflight = st.builds(InFlight, label=st.text(min_size=1, max_size=40), offer_id=_ids, machine_id=_ids, time=_times,
                      attempt=st.integers(min_value=1, max_value=50), instance_id=st.none() | _ids)


@settings(max_examples=60, deadline=None)
@given(entries=st.lists(_inflight, max_size=6))
def test_inflight_write_then_read_is_identity(tmp_path_factory, entries):
    store = Store(tmp_path_factory.mktemp("inflight"))
    assert state.update_inflight(store, "zeb", lambda _: entries) == tuple(entries)
    assert state.load_inflight(store, "zeb") == tuple(entries)
    assert json.loads((store.fleet_dir("zeb") / "inflight.json").read_bytes())["version"] == _version("inflight.json")


@settings(max_examples=60, deadline=None)
@given(destroying=st.dictionaries(_ids, _times, max_size=8))
def test_destroying_write_then_read_is_identity(tmp_path_factory, destroying):
    store = Store(tmp_path_factory.mktemp("destroying"))
    state.save_destroying(store, "zeb", destroying)
    assert state.load_destroying(store, "zeb") == destroying and not store.warnings
