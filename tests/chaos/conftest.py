"""One marketplace per module (module-scoped `chaos`), and the figures summary at the end of the session:
printed (visible with -s) and written to chaos-summary.json in pytest's base temp dir."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.chaos import harness

_HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)     # before -m deselects
def pytest_collection_modifyitems(config, items):
    """The chaos suite is `slow` (issue #21: the fast suite stays under 3 minutes; CI runs slow tests too),
    unless it was asked for by path: `pytest tests/chaos -s` still runs it all."""
    named = any(_HERE in (Path(arg.split("::")[0]).resolve(), *Path(arg.split("::")[0]).resolve().parents)
                for arg in config.args)
    if named:
        return
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)


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
