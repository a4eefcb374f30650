# ruff: noqa: E501 -- the worker's tracebacks, line for line as it prints them
"""Faults the whole fleet shares, from outside the hosts: a bad commit on the worker branch, Hugging Face
down, a revoked token, the weights file gone, an image that cannot be pulled. The workers and the FakeHub
see one world at one simulated time; what could not run on a real machine never produces."""

from __future__ import annotations

import dataclasses
import re

import pytest
import requests
from huggingface_hub import get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import HfHubHTTPError, RemoteEntryNotFoundError

from tests.test_sim_onstart import _ZEB_CFG, PYTORCH_26, WORKER_IMAGE, ZEB_ENV
from tests.test_sim_serve import _serve
from zeb.core.errors import UsageError
from zeb.plan.launch import render_onstart
from zeb.sim.clock import EPOCH, ManualClock
from zeb.sim.hub import FakeHub
from zeb.sim.market import Market
from zeb.sim.onstart import (
    KNOWN_GOOD_ONSTART,
    MK5,
    WORLD,
    commit_sha,
    known_good_body,
    run_onstart,
)
from zeb.sim.scenarios import load_scenario

T = EPOCH + 10_000.0          # when the faults begin, in every test
GOOD = commit_sha(MK5, "forge", 0)
BATCH = re.compile(r"\[worker-vast-\d+\] batch (\d+): ")
SYNC = re.compile(r"\[worker-vast-\d+\] (Weights updated|No new weights)")
WEIGHTS = "jasonyandell/zeb-42"
URL = "https://huggingface.co/jasonyandell/zeb-42/resolve/main/zeb-557k-1m.pt"

TYPE_ERROR = """Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
  File "<frozen runpy>", line 88, in _run_code
  File "/root/code/forge/zeb/worker/{script}", line 231, in <module>
    main()
  File "/root/code/forge/zeb/worker/{script}", line 148, in main
    pipeline = SelfPlayPipeline(model, args.n_parallel_games, temperature=args.temperature)
  File "/root/code/forge/zeb/selfplay/pipeline.py", line 64, in __init__
    self.buffers = make_buffers(n_games, self.device, dtype=torch.float16)
TypeError: make_buffers() got an unexpected keyword argument 'dtype'"""

HUB_FRAMES = """Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
  File "<frozen runpy>", line 88, in _run_code
  File "/root/code/forge/zeb/worker/run.py", line 231, in <module>
    main()
{call}
  File "/root/code/forge/zeb/hf.py", line 71, in pull_weights
    path = hf_hub_download(repo_id, weights_file, revision="main")
  File "/opt/conda/lib/python3.11/site-packages/huggingface_hub/utils/_validators.py", line 114, in _inner_fn
    return fn(*args, **kwargs)
  File "/opt/conda/lib/python3.11/site-packages/huggingface_hub/file_download.py", line 1010, in hf_hub_download
    return _hf_hub_download_to_cache_dir(
  File "/opt/conda/lib/python3.11/site-packages/huggingface_hub/file_download.py", line 1658, in _raise_on_head_call_error
"""
AT_SYNC = '''  File "/root/code/forge/zeb/worker/run.py", line 187, in main
    new_step = sync_weights(model, args)'''
AT_PULL = '''  File "/root/code/forge/zeb/worker/run.py", line 122, in main
    state_dict, cfg = pull_weights(args.repo_id, weights_name=args.weights_name)'''
DOWN_END = ("    raise LocalEntryNotFoundError(\n"
            "huggingface_hub.errors.LocalEntryNotFoundError: An error happened while trying to locate the file on "
            "the Hub and we cannot find the requested files in the local cache. Please check your connection and "
            "try again or make sure your Internet connection is on.")


def _zeb_script(mode: str = "selfplay", image: str = PYTORCH_26) -> str:
    return render_onstart(dataclasses.replace(_ZEB_CFG, image=image, worker_mode=mode), "zeb-worker-vast-3")


def _lines(plan) -> list[str]:
    return [ln for step in plan.steps for ln in step.lines]


# -- the onstart model: commits over time ----------------------------------------------------------------------

@pytest.mark.parametrize("image", [PYTORCH_26, WORKER_IMAGE])
def test_a_clone_or_fetch_gets_the_head_as_of_its_time(image):
    world, bad = WORLD.push(MK5, "forge", T, "type_error")
    before = run_onstart(_zeb_script(image=image), env=ZEB_ENV, image=image, started_at=T - 3600, world=world)
    after = run_onstart(_zeb_script(image=image), env=ZEB_ENV, image=image, started_at=T + 1, world=world)
    assert before.worker is not None and before.worker.commit == GOOD and before.worker.code_fault is None
    assert after.worker is not None and after.worker.commit == bad.sha and after.worker.code_fault == "type_error"
    assert f"code at {GOOD} (forge)" in _lines(before) and f"code at {bad.sha} (forge)" in _lines(after)
    assert re.fullmatch(r"[0-9a-f]{40}", bad.sha) and bad.sha != GOOD


def test_shas_are_deterministic_and_pushes_keep_their_order():
    one, c1 = WORLD.push(MK5, "forge", T, "type_error")
    two, c2 = one.push(MK5, "forge", T + 60)
    _, c1_again = WORLD.push(MK5, "forge", T, "type_error")
    assert c1 == c1_again and c1.sha != c2.sha
    assert [c.sha for c in two.commits(MK5, "forge")] == [GOOD, c1.sha, c2.sha]
    assert two.head(MK5, "forge", T + 30) == c1 and two.head(MK5, "forge", T - 1).sha == GOOD
    assert WORLD.commits(MK5, "no-such-branch") == ()


@pytest.mark.parametrize("image", [PYTORCH_26, WORKER_IMAGE])
def test_a_pinned_old_commit_runs_after_the_bad_push(image):
    world, _ = WORLD.push(MK5, "forge", T, "type_error")
    plan = run_onstart(_zeb_script(image=image), env={**ZEB_ENV, "ZEB_GIT_COMMIT": GOOD}, image=image,
                       started_at=T + 600, world=world)
    assert plan.worker is not None and plan.worker.commit == GOOD and plan.worker.code_fault is None
    assert f"code at {GOOD} (forge)" in _lines(plan)


def test_an_unknown_or_future_sha_is_gits_error_and_ends_the_script():
    world, later = WORLD.push(MK5, "forge", T + 3600)
    for sha in ("0123456789abcdef0123456789abcdef01234567", later.sha):
        plan = run_onstart(_zeb_script(), env={**ZEB_ENV, "ZEB_GIT_COMMIT": sha}, image=PYTORCH_26,
                           started_at=T, world=world)
        assert plan.worker is None and plan.exit_status == 128
        assert plan.error == (f"fatal: remote error: upload-pack: not our ref {sha}",)
        assert not any(ln.startswith("code at") for ln in _lines(plan)), "set -e ends the script at the fetch"


@pytest.mark.parametrize("mode", ["selfplay", "eval_aux"])
@pytest.mark.parametrize("image", [PYTORCH_26, WORKER_IMAGE])
def test_every_default_onstart_log_says_which_commit_runs(mode, image):
    world, fix = WORLD.push(MK5, "forge", T)
    for at, sha in ((T - 60, GOOD), (T + 60, fix.sha)):
        plan = run_onstart(_zeb_script(mode, image), env={**ZEB_ENV, "ZEB_WORKER_MODE": mode}, image=image,
                           started_at=at, world=world)
        assert plan.worker is not None, _lines(plan)
        assert [ln for ln in _lines(plan) if ln.startswith("code at ")] == [f"code at {sha} (forge)"]


def test_the_known_good_onstart_has_the_same_structure():
    world, _ = WORLD.push(MK5, "forge", T, "bad_flag")
    plan = run_onstart(KNOWN_GOOD_ONSTART, env={"HF_TOKEN": "x"}, image=WORKER_IMAGE, started_at=T - 1, world=world)
    assert plan.worker is not None and f"code at {GOOD} (forge)" in _lines(plan)
    pinned = run_onstart(KNOWN_GOOD_ONSTART, env={"HF_TOKEN": "x", "ZEB_GIT_COMMIT": GOOD}, image=WORKER_IMAGE,
                         started_at=T + 1, world=world)
    assert pinned.worker is not None and pinned.worker.commit == GOOD
    assert "login" not in KNOWN_GOOD_ONSTART


def test_a_bad_flag_commit_refuses_max_mcts_nodes():
    world, _ = WORLD.push(MK5, "forge", T, "bad_flag")
    plan = run_onstart(_zeb_script(), env=ZEB_ENV, image=PYTORCH_26, started_at=T + 1, world=world)
    assert plan.worker is None and plan.exit_status == 2
    assert plan.error[0].startswith("usage: run.py [-h] --repo-id REPO_ID")
    assert "--max-mcts-nodes" not in " ".join(plan.error[:-1])
    assert plan.error[-1] == "run.py: error: unrecognized arguments: --max-mcts-nodes 512"
    # The same launch on the commit before it works.
    good = run_onstart(_zeb_script(), env=ZEB_ENV, image=PYTORCH_26, started_at=T - 600, world=world)
    assert good.worker is not None and good.worker.args["max_mcts_nodes"] == 512


def test_git_in_the_model_refuses_what_it_does_not_model():
    script = ("apt-get install -y -qq git\n"
              "git clone -q --branch forge https://github.com/jasonyandell/mk5-main.git /root/code\ncd /root/code\n")
    assert _lines(run_onstart(script + "git rev-parse HEAD", env={}, image=PYTORCH_26))[-1] == GOOD
    assert _lines(run_onstart(script + "git rev-parse --short HEAD", env={}, image=PYTORCH_26))[-1] == GOOD[:7]
    for unmodelled in ("git rev-parse --abbrev-ref HEAD", 'echo "$(git log -1)"', "git status"):
        refused = run_onstart(script + unmodelled, env={}, image=PYTORCH_26)
        assert refused.exit_status != 0 and "the simulator cannot run this construct: git" in refused.error[0]
    outside = run_onstart("apt-get install -y -qq git\necho \"at $(git rev-parse HEAD)\"", env={}, image=PYTORCH_26)
    assert _lines(outside)[-2:] == ["fatal: not a git repository (or any of the parent directories): .git", "at "]
    detached = run_onstart(script + f"git fetch -q origin {GOOD}\ngit checkout -q FETCH_HEAD\ngit pull",
                           env={}, image=PYTORCH_26)
    assert detached.exit_status == 1 and detached.error == ("You are not currently on a branch.",)


# -- the market: commit faults ------------------------------------------------------------------------------------

def _market():
    clock = ManualClock(T - 7200)
    return Market(clock, seed=3), clock


def _new(m: Market, k: int, env: dict | None = None, gpu: str = "RTX 3070") -> int:
    return m.create(m.add_machine(gpu).id, known_good_body(f"zeb-worker-vast-{k}",
                                                           {"WORKER_ID": f"worker-vast-{k}", **(env or {})}))


def _log(m: Market, iid: int) -> str:
    return m.logs(iid, None) or ""


def _status(m: Market, iid: int) -> str | None:
    return m.status_of(m.instances[iid], m.clock.now())


def test_a_bad_commit_crashes_new_clones_only():
    m, clock = _market()
    old = _new(m, 0)
    clock.advance(3600)
    m.push_commit(T, "type_error")
    clock.advance(3600 + 60)                 # just after the push
    new = _new(m, 1)
    clock.advance(1800)
    assert _status(m, old) == "running" and BATCH.search(m.logs(old, 8))
    assert f"code at {GOOD} (forge)" in _log(m, old)
    log = _log(m, new)
    assert "code at " + m.instances[new].run.worker.commit in log
    head, _, crash = log.partition("Creating self-play pipeline...\n")
    assert crash == TYPE_ERROR.format(script="run.py") + "\n" and "Model loaded" in head
    assert not BATCH.search(log)
    assert not [p for _, p in m.examples_uploads("jasonyandell/zeb-42-examples") if "worker-vast-1_" in p]
    assert _status(m, new) == "exited"
    # The container exits about ten seconds after the traceback.
    run = m.instances[new].run
    boot = m.instances[new].created
    assert m.status_of(m.instances[new], boot + run.fault_at + 5) == "running"
    assert m.status_of(m.instances[new], boot + run.fault_at + 11) == "exited"


def test_a_type_error_in_eval_aux_comes_after_its_start_lines():
    m, clock = _market()
    m.push_commit(T, "type_error")
    clock.advance(7200 + 60)
    script = _zeb_script("eval_aux", WORKER_IMAGE)
    iid = m.create(m.add_machine("RTX 3080").id, {"label": "zeb-worker-vast-0", "image": WORKER_IMAGE,
                                                   "onstart": script,
                                                   "env": {**ZEB_ENV, "ZEB_WORKER_MODE": "eval_aux"}})
    clock.advance(1800)
    log = _log(m, iid)
    assert log.endswith("  upload_interval=240s (folder upload)\n" + TYPE_ERROR.format(script="run_eval_aux.py")
                        + "\n"), log[-2000:]
    assert _status(m, iid) == "exited"


def test_a_pinned_launch_produces_through_a_bad_push_and_a_fix_ends_it():
    m, clock = _market()
    m.push_commit(T, "type_error")
    fix = m.push_commit(T + 7200)
    clock.advance(7200 + 60)
    pinned = _new(m, 0, {"ZEB_GIT_COMMIT": GOOD})
    clock.advance(7200)                        # the fix is out
    fixed = _new(m, 1)
    clock.advance(1800)
    assert _status(m, pinned) == "running" and BATCH.search(m.logs(pinned, 8))
    assert _status(m, fixed) == "running" and f"code at {fix} (forge)" in _log(m, fixed)
    with pytest.raises(ValueError, match="unknown commit fault"):
        m.push_commit(T, "segfault")
    with pytest.raises(ValueError, match="no branch"):
        m.push_commit(T, branch="nope")


# -- the market and the FakeHub: Hugging Face over time -------------------------------------------------------------

def _sync_batches(log: str) -> list[int]:
    """The batch numbers whose weight sync succeeded."""
    out, last = [], 0
    for ln in log.splitlines():
        if (b := BATCH.match(ln)) is not None:
            last = int(b.group(1))
        elif SYNC.match(ln):
            out.append(last)
    return out


def _batch_time(m: Market, iid: int, n: int) -> float:
    inst = m.instances[iid]
    return inst.created + inst.run.first_batch + (n - 1) * inst.run.period


def test_hub_down_crashes_a_producing_worker_at_its_first_sync_after_it_goes_down():
    m, clock = _market()
    iid = _new(m, 0)
    m.hub_outage(T, T + 3600)
    clock.advance(7200 - 1)
    assert _status(m, iid) == "running" and "Traceback" not in _log(m, iid), "nothing before the outage"
    clock.advance(1200)
    log = _log(m, iid)
    body, _, crash = log.partition("Traceback (most recent call last):\n")
    assert "Traceback (most recent call last):\n" + crash == HUB_FRAMES.format(call=AT_SYNC) + DOWN_END + "\n"
    failed = int(BATCH.findall(body)[-1])
    sync = m.instances[iid].run.sync
    assert failed % sync == 0 and _batch_time(m, iid, failed) >= T > _batch_time(m, iid, failed - sync)
    assert _sync_batches(body)[-1] == failed - sync, "every sync before the outage went through"
    assert _status(m, iid) == "exited"


def test_a_worker_starting_in_the_outage_crashes_at_its_initial_pull_and_one_after_it_produces():
    m, clock = _market()
    m.hub_outage(T, T + 3600)
    clock.advance(7200 + 60)
    during = _new(m, 0)
    clock.advance(3600)                        # the hub is back
    after = _new(m, 1)
    clock.advance(1800)
    log = _log(m, during)
    pulled = "Pulling initial weights from jasonyandell/zeb-42/zeb-557k-1m.pt...\n"
    assert log.endswith(pulled + HUB_FRAMES.format(call=AT_PULL) + DOWN_END + "\n") and "Model loaded" not in log
    assert _status(m, during) == "exited"
    assert _status(m, after) == "running" and BATCH.search(m.logs(after, 8)) and _sync_batches(_log(m, after))


def test_a_revoked_token_crashes_workers_with_the_401_and_a_request_id_each():
    m, clock = _market()
    a, b = _new(m, 0), _new(m, 1)
    m.revoke_token(T)
    clock.advance(7200 + 1800)
    ends = []
    for iid in (a, b):
        log = _log(m, iid).rstrip("\n").splitlines()
        assert "\n".join(log[-17:-3]) + "\n" == HUB_FRAMES.format(call=AT_SYNC)
        assert log[-3] == "    raise head_call_error"
        match = re.fullmatch(r"huggingface_hub\.errors\.HfHubHTTPError: 401 Client Error: Unauthorized for url: "
                             + re.escape(URL) + r" \(Request ID: (Root=1-[0-9a-f]{8}-[0-9a-f]{24})\)", log[-2])
        assert match is not None, log[-2]
        assert log[-1] == "Invalid credentials in Authorization header"
        ends.append(match.group(1))
        assert _status(m, iid) == "exited"
    assert ends[0] != ends[1]
    # A revoked token of someone else's is no fault of these workers.
    m2, clock2 = _market()
    other = _new(m2, 0)
    m2.revoke_token(T, token="hf_someone_else")
    clock2.advance(7200 + 1800)
    assert _status(m2, other) == "running" and "Traceback" not in _log(m2, other)


def test_missing_weights_crash_the_initial_pull_and_the_next_sync():
    m, clock = _market()
    running = _new(m, 0)
    m.remove_weights(T, T + 3600)
    clock.advance(7200 + 60)
    starting = _new(m, 1)
    clock.advance(1800)
    for iid, call in ((running, AT_SYNC), (starting, AT_PULL)):
        log = _log(m, iid).rstrip("\n").splitlines()
        assert "\n".join(log[-18:-4]) + "\n" == HUB_FRAMES.format(call=call)
        assert re.fullmatch(r"huggingface_hub\.errors\.RemoteEntryNotFoundError: 404 Client Error\. "
                            r"\(Request ID: Root=1-[0-9a-f]{8}-[0-9a-f]{24}\)", log[-3])
        assert log[-2:] == ["", f"Entry Not Found for url: {URL}."]
    # Another fleet's weights file is no loss to a worker that pulls a different one.
    assert m.hub_fault(repo_id=WEIGHTS, path="zeb-557k-1m.pt") == "missing"
    assert m.hub_fault(repo_id=WEIGHTS, path="other.pt") is None


def _metadata(url: str, token: str, filename: str = "zeb-557k-1m.pt") -> int:
    """The status the hub answers zeb's weights check with (zeb/adapters/hub.py asks get_hf_file_metadata)."""
    try:
        get_hf_file_metadata(hf_hub_url(WEIGHTS, filename, endpoint=url), token=token, timeout=5)
    except RemoteEntryNotFoundError:
        return 404
    except HfHubHTTPError as exc:
        return exc.response.status_code
    return 200


def test_the_fakehub_answers_from_the_same_world_at_the_same_time():
    m, clock = _market()
    m.hub_outage(T, T + 600)
    m.revoke_token(T + 1000, T + 1600, token="tok")
    m.remove_weights(T + 2000, T + 2600)
    hub = FakeHub({WEIGHTS: {"zeb-557k-1m.pt": b"w", "other.pt": b"o"}}, clock, require_token="tok",
                  world=lambda: m.world)
    with hub as url:
        seen = {}
        for offset in (-1, 0, 599, 600, 1000, 1599, 1600, 2000, 2599, 2600):
            clock.advance(T + offset - clock.now())
            seen[offset] = _metadata(url, "tok")
        clock.advance(T + 2000 - clock.now())
        other = _metadata(url, "tok", "other.pt")
    assert seen == {-1: 200, 0: 503, 599: 503, 600: 200, 1000: 401, 1599: 401, 1600: 200, 2000: 404, 2599: 404,
                    2600: 200}
    assert other == 200


def test_an_unpullable_image_keeps_new_instances_loading_with_dockers_error():
    m, clock = _market()
    before = _new(m, 0)
    m.break_image(WORKER_IMAGE, T, T + 3600)
    clock.advance(7200 + 60)
    during = _new(m, 1)
    clock.advance(3600)
    after = _new(m, 2)
    clock.advance(1800)
    assert _status(m, before) == "running" and _status(m, after) == "running"
    assert _status(m, during) == "loading" and _log(m, during) == ""
    row = m.row(m.instances[during], clock.now())
    assert row["status_msg"] == ("Error response from daemon: manifest for jasonyandell/zeb-worker:latest not "
                                 "found: manifest unknown")


# -- scenarios --------------------------------------------------------------------------------------------------

def test_the_bad_commit_scenario():
    clock = ManualClock(EPOCH)
    m = load_scenario("bad-commit", clock)
    fleet = sorted(m.instances)
    assert len(fleet) == 8 and all(m.instances[i].label.startswith("zeb-worker-vast-") for i in fleet)
    clock.advance(60)
    assert all(_status(m, i) == "running" and BATCH.search(m.logs(i, 8)) for i in fleet)
    clock.advance(1200)                        # +21 min: the bad commit is out
    new = m.create(m.add_machine("RTX 3070").id, known_good_body("zeb-worker-vast-8", {"WORKER_ID": "worker-vast-8"}))
    clock.advance(1800)
    assert all(_status(m, i) == "running" for i in fleet), "running workers keep their code"
    assert _status(m, new) == "exited" and "TypeError: make_buffers()" in _log(m, new)
    clock.advance(EPOCH + 7800 + 60 - clock.now())     # the fix is out
    fixed = m.create(m.add_machine("RTX 3070").id, known_good_body("zeb-worker-vast-9", {"WORKER_ID": "worker-vast-9"}))
    clock.advance(1800)
    assert _status(m, fixed) == "running" and "Traceback" not in _log(m, fixed)


def test_the_hub_outage_scenario():
    clock = ManualClock(EPOCH)
    m = load_scenario("hub-outage", clock)
    fleet = sorted(m.instances)
    assert len(fleet) == 8
    clock.advance(590)
    assert all(_status(m, i) == "running" for i in fleet)
    clock.advance(1800)
    assert all(_status(m, i) == "exited" and "LocalEntryNotFoundError" in m.logs(i, 1) for i in fleet)
    assert m.hub_fault() == "down"
    clock.advance(EPOCH + 4200 - clock.now())
    assert m.hub_fault() is None
    back = m.create(m.add_machine("RTX 3070").id, known_good_body("zeb-worker-vast-8", {"WORKER_ID": "worker-vast-8"}))
    clock.advance(1800)
    assert _status(m, back) == "running" and BATCH.search(m.logs(back, 8))


@pytest.mark.parametrize(("event", "says"), [
    ('kind = "comet"\nat_s = 1', "unknown kind 'comet'"),
    ('kind = "commit"\nat_s = 1\nfault = "segfault"', "unknown fault 'segfault'"),
    ('kind = "commit"\nat_s = 1\nuntil_s = 5', "unknown key 'until_s'"),
    ('kind = "hub_down"\nat_s = 1\nwhen = 5', "unknown key 'when'"),
    ('kind = "hub_down"\nuntil_s = 5', "lacks 'at_s'"),
    ('kind = "hub_down"\nat_s = "soon"', "at_s must be a number"),
    ('kind = "hub_down"\nat_s = 10\nuntil_s = 5', "until_s must be after at_s"),
    ('kind = "commit"\nat_s = 1\nbranch = "nope"', "no branch 'nope'"),
    ('kind = "weights_missing"\nat_s = 1\npath = ""', "path must be a non-empty string"),
])
def test_a_bad_event_is_one_error_naming_it(tmp_path, event, says):
    path = tmp_path / "s.toml"
    path.write_text(f"[[events]]\n{event}\n")
    with pytest.raises(UsageError) as exc:
        load_scenario(str(path), ManualClock())
    assert says in str(exc.value) and "events #1" in str(exc.value) and "\n" not in str(exc.value)


# -- zeb sim serve ------------------------------------------------------------------------------------------------

def test_sim_serve_exports_a_hub_that_holds_the_default_fleets_weights():
    proc, line = _serve("--scenario", "hub-outage", "--speed", "60")
    try:
        env = dict(part.split("=", 1) for part in line.split()[1:])
        assert env["HF_ENDPOINT"].startswith("http://127.0.0.1:") and env["HF_TOKEN"]
        assert _metadata(env["HF_ENDPOINT"], env["HF_TOKEN"]) == 200
        assert _metadata(env["HF_ENDPOINT"], "hf_wrong") == 401
        tree = requests.get(env["HF_ENDPOINT"] + "/api/models/jasonyandell/zeb-42-examples/tree/main",
                            headers={"Authorization": f"Bearer {env['HF_TOKEN']}"}, timeout=5)
        assert tree.status_code == 200
        # 10 virtual minutes on, the scenario's outage reaches the hub too.
        assert requests.post(env["VAST_URL"] + "/_sim/advance", json={"seconds": 660}, timeout=5).ok
        assert _metadata(env["HF_ENDPOINT"], env["HF_TOKEN"]) == 503
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and env["HF_TOKEN"] not in err
