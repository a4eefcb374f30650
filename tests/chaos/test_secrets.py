"""The Vast API key and the HF token (distinctive fake values, see harness.py) never appear in any stdout or
stderr of any command the chaos suite ran, nor in any file under a ZEB_HOME, the runtime dir, HOME (the
shared host files) or a --log-file. This module runs every command once itself, so it is never vacuous when
run alone; after the other chaos modules it also scans everything they ran and wrote."""

from __future__ import annotations

import time

from tests.chaos import harness

SECRETS = (harness.API_KEY, harness.HF_TOKEN)


def test_no_secret_in_any_output_or_file(chaos):
    started = time.monotonic()
    home = chaos.home("secrets")
    log_file = chaos.root / "monitor-events.jsonl"
    harness.WRITTEN.add(log_file)
    chaos.clear_fleet()
    for args in (("up", "2"), ("status", "--json"), ("logs", "zeb-worker-vast-0", "--tail", "20"),
                 ("monitor", "2", "--once", "--log-file", str(log_file)), ("replenish", "3"), ("rank-offers", "--json"),
                 ("stats",), ("timeline", "zeb-worker-vast-0"), ("blacklist", "add", "5", "--reason", "x"),
                 ("config", "show"), ("down", "--force", "--wait", "5")):
        chaos.run(home, *args)
    chaos.market.inject("500", count=1, path="/api/v0/asks/", method="PUT")   # error paths print too
    chaos.run(home, "up", "1")
    chaos.clear_faults()
    chaos.run(home, "down", "--force", "--wait", "0")
    found = [f"output of `{cmd}`" for cmd, text in harness.OUTPUTS if any(s in text for s in SECRETS)]
    files = 0
    for root in sorted(harness.WRITTEN):
        if root.is_file():
            paths = [root]
        elif root.exists():
            paths = sorted(p for p in root.rglob("*") if p.is_file())
        else:
            paths = []
        for path in paths:
            files += 1
            data = path.read_bytes()
            found += [str(path) for s in SECRETS if s.encode() in data]
    harness.record("secrets", outputs_scanned=len(harness.OUTPUTS), files_scanned=files, leaks=len(found),
                   seconds=round(time.monotonic() - started, 1))
    assert files > 0 and harness.OUTPUTS
    assert not found, found
