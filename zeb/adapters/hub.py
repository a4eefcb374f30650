"""Hugging Face checks, through huggingface_hub (imported lazily so `import zeb.adapters.hub` stays cheap): is a
token present, do the weights exist, when did the examples repo last receive files.

HF_ENDPOINT in the env we are given redirects every call (huggingface_hub itself reads it only once, at
import, so we pass the endpoint explicitly). Every call has a timeout and fails fast: no retries here,
the caller's loop is the retry. Failures become one-line HubErrors that never carry the token."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from zeb.core.errors import HubError

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_TIMEOUT_S = 5.0
# A listing is one page per 1000 entries; the learner prunes the repo, so a handful of pages is already a
# sick repo, and a cap keeps one check bounded in time.
MAX_TREE_PAGES = 20
LOGIN_HINT = "`hf auth login` (`huggingface-cli login` before huggingface_hub 1.0)"


def endpoint(env: Mapping[str, str]) -> str:
    return (env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).strip().rstrip("/")


def token_path(env: Mapping[str, str]) -> Path:
    """Where `hf auth login` stores the token, resolved the way huggingface_hub resolves it."""
    if env.get("HF_TOKEN_PATH"):
        return Path(os.path.expandvars(env["HF_TOKEN_PATH"])).expanduser()
    if env.get("HF_HOME"):
        return Path(os.path.expandvars(env["HF_HOME"])).expanduser() / "token"
    cache = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or str(Path.home()), ".cache")
    return Path(cache).expanduser() / "huggingface" / "token"


def find_token(env: Mapping[str, str]) -> str | None:
    """HF_TOKEN (or the legacy HUGGING_FACE_HUB_TOKEN), else the token file."""
    token = (env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or "").strip()
    if token:
        return token
    try:
        token = token_path(env).read_text().replace("\r", "").replace("\n", "").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token or None


def require_token(env: Mapping[str, str], *, repo_id: str | None = None,
                  examples_repo_id: str | None = None) -> str:
    token = find_token(env)
    if not token:
        repos = " and ".join(r for r in (repo_id, examples_repo_id) if r) or "the weights and examples repos"
        raise HubError(f"HF_TOKEN is not set: export HF_TOKEN=hf_... (a token with write access to {repos}) "
                       f"or run {LOGIN_HINT}")
    return token


def learner_command(repo_id: str, examples_repo_id: str, weights_name: str) -> str:
    """The runbook's command that creates `{weights_name}.pt` (section 9)."""
    return (f"python -u -m forge.zeb.learner.run --repo-id {repo_id} --examples-repo-id {examples_repo_id} "
            f"--weights-name {weights_name} --checkpoint forge/zeb/checkpoints/{weights_name}-init.pt")


def weights_exist(repo_id: str, weights_name: str, token: str, env: Mapping[str, str], *,
                  timeout: float = DEFAULT_TIMEOUT_S) -> bool:
    return _file_state(repo_id, f"{weights_name}.pt", token, env, timeout) == "present"


def require_weights(repo_id: str, weights_name: str, examples_repo_id: str, token: str,
                    env: Mapping[str, str], *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    state = _file_state(repo_id, f"{weights_name}.pt", token, env, timeout)
    if state == "present":
        return
    where = (f"{repo_id} (the repo was not found at {_shown(endpoint(env))}, or the token cannot read it)"
             if state == "no-repo" else repo_id)
    err = HubError(f"{weights_name}.pt is not in {where}: start the learner first: "
                   f"{learner_command(repo_id, examples_repo_id, weights_name)}")
    err.cause = "hub_auth" if state == "no-repo" else "weights_missing"
    raise err


def probe_weights(repo_id: str, weights_name: str, token: str, env: Mapping[str, str], *,
                  timeout: float = DEFAULT_TIMEOUT_S) -> tuple[str | None, str]:
    """The start-up weights check as the monitor's probe: (None, "") when the file is there, else (cause,
    one line): "weights_missing", "hub_auth" (the token refused, or the repo hidden from it) or
    "hub_unreachable" (no answer, a timeout, a server error). Never raises; the line never holds the token."""
    try:
        state = _file_state(repo_id, f"{weights_name}.pt", token, env, timeout)
    except HubError as exc:
        return exc.cause, str(exc)
    if state == "present":
        return None, ""
    if state == "missing":
        return "weights_missing", f"{weights_name}.pt is not in {repo_id}"
    return "hub_auth", (f"{repo_id} was not found at {_shown(endpoint(env))}, or the token cannot read it")


def list_examples(examples_repo_id: str, folder: str, token: str, env: Mapping[str, str], *,
                  timeout: float = DEFAULT_TIMEOUT_S) -> list[str]:
    """Paths of the files directly in `folder` ("" = the repo root) of the examples repo: one listing for
    the whole fleet. A folder that does not exist yet holds no uploads ([]); anything else that goes
    wrong is a HubError."""
    what = f"listing {examples_repo_id}" + (f"/{folder}" if folder else "")
    try:
        return _tree_paths(examples_repo_id, folder.strip("/"), token, env, timeout)
    except _http_errors() as exc:
        if _error_code(exc) == "EntryNotFound":
            return []
        raise _hub_failure(what, exc, env, timeout) from None
    except (ValueError, KeyError, TypeError):
        raise HubError(f"{what}: Hugging Face at {_shown(endpoint(env))} sent an answer zeb cannot read") from None


def examples_lister(examples_repo_id: str, folder: str, token: str, env: Mapping[str, str], *,
                    timeout: float = DEFAULT_TIMEOUT_S) -> Callable[[], list[str] | None]:
    """list_examples for the monitor: a failed or timed-out listing is None ("not seen"), never an error."""
    def listing() -> list[str] | None:
        try:
            return list_examples(examples_repo_id, folder, token, env, timeout=timeout)
        except HubError:
            return None
    return listing


def _tree_paths(repo_id: str, folder: str, token: str, env: Mapping[str, str], timeout: float) -> list[str]:
    # The request HfApi.list_repo_tree sends (GET .../tree/{rev}/{path}, pages linked by a Link header),
    # made here because list_repo_tree takes no timeout and its pager retries with backoff.
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    url: str | None = (f"{endpoint(env)}/api/models/{repo_id}/tree/main"
                       + (f"/{quote(folder, safe='')}" if folder else ""))
    params: dict | None = {"recursive": "false", "expand": "false"}
    headers = build_hf_headers(token=token)
    paths: list[str] = []
    for _ in range(MAX_TREE_PAGES):
        if url is None:
            break
        response = get_session().get(url, params=params, headers=headers, timeout=timeout)
        hf_raise_for_status(response)
        paths += [entry["path"] for entry in response.json() if entry.get("type") == "file"]
        url = (response.links.get("next") or {}).get("url")
        params = None   # the next link carries its own query
    return paths


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    return response.headers.get("X-Error-Code") if response is not None else None


def _file_state(repo_id: str, filename: str, token: str, env: Mapping[str, str], timeout: float) -> str:
    """"present", "missing" or "no-repo": what HfApi.file_exists tells apart, with a timeout it lacks."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    what = f"checking {filename} in {repo_id}"
    try:
        url = hf_hub_url(repo_id, filename, endpoint=endpoint(env))
        get_hf_file_metadata(url, token=token, timeout=timeout)
    except RemoteEntryNotFoundError:
        return "missing"
    except (RepositoryNotFoundError, RevisionNotFoundError):
        return "no-repo"
    except _http_errors() as exc:
        raise _hub_failure(what, exc, env, timeout) from None
    except ValueError:  # HFValidationError: a malformed repo id
        raise HubError(f"{what}: {repo_id!r} is not a valid Hugging Face repo id (namespace/name)") from None
    return "present"


def _http_errors() -> tuple[type[BaseException], ...]:
    """Everything huggingface_hub raises for HTTP trouble. HfHubHTTPError derives from its transport's
    root error (httpx2.HTTPError in 2.x, requests' RequestException before), which also covers refused
    connections and timeouts; OSError covers the rest (OfflineModeIsEnabled is a ConnectionError)."""
    from huggingface_hub.errors import HfHubHTTPError

    roots = [c for c in HfHubHTTPError.__mro__ if c.__module__.split(".")[0] not in ("builtins", "huggingface_hub")]
    return (HfHubHTTPError, OSError, *roots)


def _hub_failure(what: str, exc: BaseException, env: Mapping[str, str], timeout: float) -> HubError:
    """The one line for a failed call, with its cause (`.cause`, zeb.plan.fleetfault's words) attached."""
    err = _failure_line(what, exc, env, timeout)
    status = getattr(getattr(exc, "response", None), "status_code", None)
    from huggingface_hub.errors import GatedRepoError

    err.cause = "hub_auth" if status in (401, 403) or isinstance(exc, GatedRepoError) else "hub_unreachable"
    return err


def _failure_line(what: str, exc: BaseException, env: Mapping[str, str], timeout: float) -> HubError:
    from huggingface_hub.errors import GatedRepoError, OfflineModeIsEnabled

    where = _shown(endpoint(env))
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, OfflineModeIsEnabled):
        return HubError(f"{what}: HF_HUB_OFFLINE is set; unset it so zeb can reach Hugging Face")
    if isinstance(exc, GatedRepoError):
        return HubError(f"{what}: the repo is gated and the token has not been granted access")
    if status == 401:
        return HubError(f"{what}: Hugging Face at {where} rejected the token (401 Unauthorized); "
                        f"check HF_TOKEN or run {LOGIN_HINT}")
    if status == 403:
        return HubError(f"{what}: the token may not access this repo (403 Forbidden); use a token with access")
    if status:
        return HubError(f"{what}: Hugging Face at {where} answered HTTP {status}")
    if "timeout" in type(exc).__name__.lower():
        return HubError(f"{what}: Hugging Face at {where} did not answer within {timeout:g} s")
    return HubError(f"{what}: cannot reach Hugging Face at {where} ({type(exc).__name__})")


def _shown(url: str) -> str:
    """The endpoint without any user:password part, fit for a message."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
