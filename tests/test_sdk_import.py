"""zeb loads only the REST half of the `vastai` SDK (zeb.adapters.vast._sdk_class): a real zeb command and zeb's client,
each in a fresh process against the simulated marketplace, never import aiohttp or vastai.serverless, and
the SDK still answers through that path. Fresh processes because this pytest process may already hold the
full SDK (other tests import `vastai` directly), which the lean path then rightly reuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

# What the SDK's serverless half pulls in (typer imports pydantic on its own, so pydantic is not one).
SERVERLESS_DEPS = ("aiohttp", "pkg_resources", "setuptools")

# Runs `python -m zeb ARGS...` in this process and writes the loaded module names to MODULES_OUT at exit
# (after zeb's own SystemExit), so the list is what the whole command imported.
RUN_ZEB = textwrap.dedent("""
    import atexit, os, runpy, sys

    def dump():
        with open(os.environ["MODULES_OUT"], "w") as out:
            out.write("\\n".join(sorted(sys.modules)))

    atexit.register(dump)
    sys.argv = ["zeb", *sys.argv[1:]]
    runpy.run_module("zeb", run_name="__main__", alter_sys=True)
""")

# zeb's client end to end: account, search, create, list, logs, destroy; prints what it saw as JSON.
USE_CLIENT = textwrap.dedent("""
    import json, os, sys
    from zeb.core.domain import LaunchSpec
    from zeb.adapters.vast import VastClient

    logged = int(sys.argv[1])
    client = VastClient.from_env(os.environ, timeout=10)
    account = client.account()
    offers = client.search_offers(["RTX_3070", "RTX_4070_Ti"], max_dph=1.0, limit=5)
    spec = LaunchSpec(offer_id=offers[0].id, label="zeb-worker-vast-7", image="img:latest", disk_gb=10,
                      env={"HF_TOKEN": "hf_x"}, onstart="true")
    created = client.create_instance(spec)
    listed = client.list_instances()
    text = client.logs(logged, tail=5, timeout=10)
    destroyed = client.destroy_instance(created)
    again = client.destroy_instance(created)
    print(json.dumps({
        "credit": account.credit,
        "offers": [[o.id, o.gpu_name, o.dph_total] for o in offers],
        "created": created,
        "listed": [[i.id, i.label] for i in listed],
        "logs": text,
        "destroyed": [destroyed, again],
        "gone": client.get_instance(created) is None,
        "modules": sorted(sys.modules),
    }))
""")


def _env(sim, tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAST_", "ZEB_", "HF_"))}
    return {**env, **sim.env, "HOME": str(tmp_path), "COLUMNS": "200", **extra}


def _python(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, *args], check=False, capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL, env=env)
    assert out.returncode == 0, out.stderr
    return out


def _no_serverless(modules: list[str]) -> None:
    assert "vastai.sdk" in modules and "vastai.api.client" in modules      # the SDK did the talking
    sdk_optional = ("vastai.serverless", "vastai.sync", "vastai.async_")
    loaded = [m for m in modules if m.split(".")[0] in SERVERLESS_DEPS or m.startswith(sdk_optional)]
    assert loaded == []


def test_zeb_status_talks_to_vast_without_the_serverless_half(sim, tmp_path):
    sim.market.adopt("RTX 3070", "zeb-worker-vast-0", age_s=3600)
    sim.market.calls.clear()
    out_path = tmp_path / "modules.txt"
    out = _python("-c", RUN_ZEB, "status", "--json", env=_env(sim, tmp_path, MODULES_OUT=str(out_path)))
    result = json.loads(out.stdout)
    assert result["command"] == "status" and result["status"] == "success"
    assert "zeb-worker-vast-0" in out.stdout
    assert any(c["path"].startswith("/api/v1/instances") for c in sim.market.calls)
    _no_serverless(out_path.read_text().split())


def test_the_sdk_answers_through_the_lean_import(sim, tmp_path):
    market = sim.market
    logged = market.adopt("RTX 4070 Ti", "zeb-worker-vast-2", age_s=2 * 3600)
    before = set(market.instances)
    seen = json.loads(_python("-c", USE_CLIENT, str(logged), env=_env(sim, tmp_path)).stdout)
    _no_serverless(seen["modules"])

    assert seen["credit"] == pytest.approx(market.credit, abs=0.01)
    offers = seen["offers"]
    assert 1 <= len(offers) <= 5 and {gpu for _, gpu, _ in offers} <= {"RTX 3070", "RTX 4070 Ti"}
    assert [dph for _, _, dph in offers] == sorted(dph for _, _, dph in offers)
    created = seen["created"]
    assert created not in before and [created, "zeb-worker-vast-7"] in seen["listed"]
    assert {iid for iid, _ in seen["listed"]} == before | {created}
    assert seen["logs"].splitlines() == market.logs(logged, 5).splitlines() and len(seen["logs"].splitlines()) == 5
    assert seen["destroyed"] == [True, False] and seen["gone"]
    assert created not in market.instances and set(market.instances) == before
    [create] = market.calls_to("PUT", "/api/v0/asks/")
    assert create["path"] == f"/api/v0/asks/{offers[0][0]}/" and create["body"]["label"] == "zeb-worker-vast-7"


def test_the_serverless_half_stays_importable_in_the_same_process():
    code = ("import sys; from zeb.adapters.vast import _sdk_class; _sdk_class()\n"
            "assert 'vastai.serverless' not in sys.modules and sys.modules['vastai'].Serverless is None\n"
            "import vastai.serverless.client.client\n"
            "print('aiohttp' in sys.modules)")
    assert _python("-c", code).stdout.strip() == "True"


def test_an_sdk_that_needs_its_optional_half_gets_the_full_import(tmp_path):
    # A stand-in `vastai` whose __init__ imports the serverless package without the ImportError fallback:
    # the lean import fails, and _sdk_class redoes it in full rather than failing.
    pkg = tmp_path / "vastai"
    (pkg / "serverless").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .sdk import VastAI\nfrom .serverless import Serverless\n")
    (pkg / "sdk.py").write_text("class VastAI:\n    pass\n")
    (pkg / "serverless" / "__init__.py").write_text("class Serverless:\n    pass\n")
    code = ("import sys; from zeb.adapters.vast import _sdk_class; cls = _sdk_class()\n"
            "print(cls.__module__, sys.modules['vastai'].Serverless.__module__)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    assert _python("-c", code, env=env).stdout.split() == ["vastai.sdk", "vastai.serverless"]
