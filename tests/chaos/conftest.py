"""One marketplace per module (module-scoped `chaos`), and the figures summary at the end of the session:
printed (visible with -s) and written to chaos-summary.json in pytest's base temp dir."""

from __future__ import annotations

import json
import time

import pytest

from tests.chaos import harness


@pytest.fixture(scope="module")
def chaos(tmp_path_factory):
    c = harness.Chaos.start(tmp_path_factory.mktemp("chaos"))
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session", autouse=True)
def _chaos_summary(tmp_path_factory):
    started = time.monotonic()
    yield
    if not harness.FIGURES:
        return
    summary = {"mode": "full" if harness.FULL else "default", "seconds": round(time.monotonic() - started, 1),
               "parts": harness.FIGURES}
    path = tmp_path_factory.getbasetemp() / "chaos-summary.json"
    path.write_text(json.dumps(summary, indent=1, sort_keys=True))
    print(f"\nchaos summary ({path}):\n{json.dumps(summary, indent=1, sort_keys=True)}")
