"""zeb.adapters.hub against the fake hub over HTTP, through the real huggingface_hub (nothing of it is mocked)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from zeb.adapters import hub
from zeb.core.errors import HubError
from zeb.sim.hub import FakeHub

SECRET = "hf_zebtest_s3cret_value"
REPO, EXAMPLES = "jasonyandell/zeb-42", "jasonyandell/zeb-42-examples"


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


@pytest.fixture
def fake():
    h = FakeHub({REPO: {"large.pt": b"weights", "large-config.json": b"{}"}, EXAMPLES: {}}, clock=Clock())
    h.start()
    yield h
    h.stop()


def env_for(h: FakeHub, **extra) -> dict:
    return {"HF_ENDPOINT": h.url, **extra}


# -- token ---------------------------------------------------------------------------------------

def test_token_from_env_wins_over_the_file(tmp_path):
    (tmp_path / "token").write_text("hf_from_file\n")
    assert hub.find_token({"HF_TOKEN": "  hf_from_env \n", "HF_HOME": str(tmp_path)}) == "hf_from_env"


def test_token_from_the_hf_home_token_file(tmp_path):
    (tmp_path / "token").write_text("hf_from_file\r\n")
    assert hub.find_token({"HF_HOME": str(tmp_path)}) == "hf_from_file"


def test_hf_token_path_overrides_hf_home(tmp_path):
    (tmp_path / "token").write_text("hf_home_token")
    (tmp_path / "elsewhere").write_text("hf_path_token")
    assert hub.find_token({"HF_HOME": str(tmp_path), "HF_TOKEN_PATH": str(tmp_path / "elsewhere")}) == "hf_path_token"


def test_token_from_the_default_cache_under_home(tmp_path):
    path = tmp_path / ".cache" / "huggingface" / "token"
    path.parent.mkdir(parents=True)
    path.write_text("hf_default_place")
    assert hub.find_token({"HOME": str(tmp_path)}) == "hf_default_place"
    assert hub.find_token({"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "nowhere")}) is None


def test_missing_token_says_how_to_get_one(tmp_path):
    (tmp_path / "token").write_text("  \n")  # an empty token file is no token
    env = {"HF_HOME": str(tmp_path)}
    assert hub.find_token(env) is None
    with pytest.raises(HubError) as err:
        hub.require_token(env, repo_id=REPO, examples_repo_id=EXAMPLES)
    message = str(err.value)
    assert message.startswith("HF_TOKEN is not set: export HF_TOKEN=hf_...")
    assert f"write access to {REPO} and {EXAMPLES}" in message
    assert "hf auth login" in message and "\n" not in message


def test_require_token_returns_it_without_repos_named(tmp_path):
    assert hub.require_token({"HF_TOKEN": SECRET}) == SECRET
    with pytest.raises(HubError, match="the weights and examples repos"):
        hub.require_token({"HF_HOME": str(tmp_path)})


# -- weights -------------------------------------------------------------------------------------

def test_weights_exist_and_missing(fake):
    env = env_for(fake)
    assert hub.weights_exist(REPO, "large", SECRET, env) is True
    assert hub.weights_exist(REPO, "zeb-557k-1m", SECRET, env) is False
    assert hub.weights_exist("someone/else", "large", SECRET, env) is False
    heads = [c for c in fake.calls if c["method"] == "HEAD"]
    assert [c["path"] for c in heads] == [f"/{REPO}/resolve/main/large.pt", f"/{REPO}/resolve/main/zeb-557k-1m.pt",
                                          "/someone/else/resolve/main/large.pt"]
    assert all(c["token"] == "sent" for c in heads)


def test_missing_weights_names_the_learner_command(fake):
    with pytest.raises(HubError) as err:
        hub.require_weights(REPO, "zeb-557k-1m", EXAMPLES, SECRET, env_for(fake))
    message = str(err.value)
    assert message.startswith(f"zeb-557k-1m.pt is not in {REPO}: start the learner first")
    assert (f"python -u -m forge.zeb.learner.run --repo-id {REPO} --examples-repo-id {EXAMPLES} "
            f"--weights-name zeb-557k-1m --checkpoint ") in message
    assert SECRET not in message


def test_missing_repo_is_told_apart(fake):
    with pytest.raises(HubError, match=r"not in nobody/zeb \(the repo was not found at http://127\.0\.0\.1"):
        hub.require_weights("nobody/zeb", "large", EXAMPLES, SECRET, env_for(fake))


def test_present_weights_pass(fake):
    hub.require_weights(REPO, "large", EXAMPLES, SECRET, env_for(fake))
    fake.add_file(REPO, "late.pt", b"x")
    hub.require_weights(REPO, "late", EXAMPLES, SECRET, env_for(fake))


# -- failures: one line, no traceback chain, never the token ----------------------------------------

def assert_clean(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and SECRET not in message
    assert err.value.__cause__ is None and err.value.__suppress_context__
    return message


def test_rejected_token_is_a_clean_hub_error(fake):
    fake.require_token = "hf_the_right_one"
    with pytest.raises(HubError) as err:
        hub.require_weights(REPO, "large", EXAMPLES, SECRET, env_for(fake))
    assert "rejected the token (401 Unauthorized)" in assert_clean(err)
    with pytest.raises(HubError) as err:
        hub.list_examples(EXAMPLES, "large", SECRET, env_for(fake))
    assert "401" in assert_clean(err)
    assert [c["token"] for c in fake.calls] == ["wrong", "wrong"]
    assert SECRET not in repr(fake.calls)
    assert hub.weights_exist(REPO, "large", "hf_the_right_one", env_for(fake)) is True
    assert fake.calls[-1]["token"] == "ok"


def test_server_error_is_a_clean_hub_error(fake):
    fake.fail_next(503)
    with pytest.raises(HubError) as err:
        hub.weights_exist(REPO, "large", SECRET, env_for(fake))
    assert assert_clean(err).endswith(f"Hugging Face at {fake.url} answered HTTP 503")
    assert hub.weights_exist(REPO, "large", SECRET, env_for(fake)) is True  # no retries were spent on it


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_hub_fails_fast():
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}
    started = time.monotonic()
    with pytest.raises(HubError) as err:
        hub.weights_exist(REPO, "large", SECRET, env)
    assert "cannot reach Hugging Face at http://127.0.0.1:" in assert_clean(err)
    with pytest.raises(HubError, match="cannot reach"):
        hub.list_examples(EXAMPLES, "large", SECRET, env)
    assert time.monotonic() - started < 2.0


def test_a_hub_that_never_answers_times_out():
    with socket.socket() as silent:  # accepts connections (backlog) but never reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        env = {"HF_ENDPOINT": f"http://127.0.0.1:{silent.getsockname()[1]}"}
        started = time.monotonic()
        with pytest.raises(HubError) as err:
            hub.weights_exist(REPO, "large", SECRET, env, timeout=0.2)
        assert "did not answer within 0.2 s" in assert_clean(err)
        with pytest.raises(HubError, match=r"did not answer within 0\.2 s"):
            hub.list_examples(EXAMPLES, "large", SECRET, env, timeout=0.2)
        assert time.monotonic() - started < 2.0


def test_endpoint_credentials_never_shown():
    assert hub._shown("https://user:pw@hub.example/x") == "https://hub.example/x"
    assert hub.endpoint({}) == "https://huggingface.co"
    assert hub.endpoint({"HF_ENDPOINT": "http://127.0.0.1:9/ "}) == "http://127.0.0.1:9"


# -- the fake itself, as huggingface_hub sees it ------------------------------------------------------

def test_fake_answers_huggingface_hub_calls(fake):
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url

    fake.add_file(REPO, "large.pt", b"new weights", when=1_700_000_500.0)
    api = HfApi(endpoint=fake.url, token=SECRET)
    assert api.file_exists(REPO, "large.pt") and not api.file_exists(REPO, "nope.pt")
    meta = get_hf_file_metadata(hf_hub_url(REPO, "large.pt", endpoint=fake.url), token=SECRET)
    commits = api.list_repo_commits(REPO)
    assert meta.size == len(b"new weights") and meta.etag and meta.commit_hash == commits[0].commit_id
    assert [c.title for c in commits] == ["Upload large.pt", "Upload large-config.json", "Upload large.pt"]
    assert commits[0].created_at.timestamp() == 1_700_000_500.0
    info = api.repo_info(REPO)
    assert info.sha == commits[0].commit_id and {s.rfilename for s in info.siblings} == {"large.pt",
                                                                                       "large-config.json"}


def test_fake_stops_without_starting_and_works_as_context_manager():
    FakeHub().stop()
    with FakeHub({"a/b": {"w.pt": b""}}) as url:
        assert hub.weights_exist("a/b", "w", SECRET, {"HF_ENDPOINT": url})


def test_importing_zeb_hub_stays_cheap():
    code = "import sys, zeb.adapters.hub; print('huggingface_hub' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- through the CLI: a rejected token stops `zeb up` before anything is rented ----------------------

def test_up_with_a_rejected_token_launches_nothing(sim):
    sim.hub.require_token = "hf_simtoken_for_tests_only"
    sim.extra_env["HF_TOKEN"] = SECRET
    result = sim.run("up", "1")
    assert result.exit_code == 1
    assert "rejected the token (401 Unauthorized)" in result.stderr
    assert "Traceback" not in result.output + result.stderr and SECRET not in result.output + result.stderr
    assert not sim.calls("PUT", "/api/v0/asks/")
    sim.extra_env.pop("HF_TOKEN")  # the right token: the same command now rents one offer
    assert sim.run("up", "1").exit_code == 0
    assert len(sim.calls("PUT", "/api/v0/asks/")) == 1


# -- examples listing (the monitor's check that uploads arrive) ------------------------------------

def test_list_examples_lists_one_folder_across_pages(fake):
    for n in range(5):
        fake.add_file(EXAMPLES, f"large/worker-vast-{n}_17000000{n:02d}_ab{n}.pt", b"x", when=1_700_000_000 + n)
    fake.add_file(EXAMPLES, "worker-vast-9_1700000100_ff.pt", b"x")          # the root's, another namespace
    fake.add_file(EXAMPLES, "large/old/worker-vast-0_1690000000_aa.pt", b"x")  # a sub-folder: not listed
    fake.tree_page = 2
    before = len(fake.calls)
    paths = hub.list_examples(EXAMPLES, "large", SECRET, env_for(fake))
    assert paths == [f"large/worker-vast-{n}_17000000{n:02d}_ab{n}.pt" for n in range(5)]
    tree_calls = [c for c in fake.calls[before:] if "/tree/" in c["path"]]
    assert len(tree_calls) == 3 and all(c["token"] == "sent" for c in tree_calls)
    assert hub.list_examples(EXAMPLES, "", SECRET, env_for(fake)) == ["worker-vast-9_1700000100_ff.pt"]


def test_list_examples_of_a_folder_not_created_yet_is_empty(fake):
    assert hub.list_examples(EXAMPLES, "large", SECRET, env_for(fake)) == []


def test_list_examples_failures_are_hub_errors_and_the_lister_says_not_seen(fake):
    fake.fail_next(503)
    with pytest.raises(HubError, match="answered HTTP 503"):
        hub.list_examples(EXAMPLES, "large", SECRET, env_for(fake))
    with pytest.raises(HubError):
        hub.list_examples("nobody/nothing", "large", SECRET, env_for(fake))
    fake.fail_next(500)
    assert hub.examples_lister(EXAMPLES, "large", SECRET, env_for(fake))() is None


def test_examples_lister_times_out_as_not_seen():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        env = {"HF_ENDPOINT": f"http://127.0.0.1:{silent.getsockname()[1]}"}
        started = time.monotonic()
        assert hub.examples_lister(EXAMPLES, "large", SECRET, env, timeout=0.2)() is None
        assert time.monotonic() - started < 2.0


def test_fake_tree_answers_huggingface_hub_and_feeds_from_the_examples_source(fake):
    from huggingface_hub import HfApi

    fed = [(1_700_000_500.0, "large/worker-vast-3_1700000500_cafe.pt")]
    fake.examples_source = lambda repo: fed if repo == EXAMPLES else []
    fake.add_file(EXAMPLES, "large/worker-vast-1_1700000400_beef.pt", b"x", when=1_700_000_400)
    api = HfApi(endpoint=fake.url, token=SECRET)
    entries = list(api.list_repo_tree(EXAMPLES, "large"))
    assert [e.path for e in entries] == ["large/worker-vast-1_1700000400_beef.pt",
                                         "large/worker-vast-3_1700000500_cafe.pt"]
    assert [type(e).__name__ for e in api.list_repo_tree(EXAMPLES)] == ["RepoFolder"]
    assert sorted(api.list_repo_files(EXAMPLES)) == [e.path for e in entries]
    assert hub.list_examples(EXAMPLES, "large", SECRET, env_for(fake))[-1].endswith("_cafe.pt")
    built = FakeHub(examples_source=lambda repo: [])
    try:
        assert built.examples_source is not None
    finally:
        built.stop()
