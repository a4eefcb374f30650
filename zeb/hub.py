"""Hugging Face checks, through huggingface_hub (imported lazily): is a token present, do the weights
exist, when did the examples repo last receive files. HF_ENDPOINT redirects every call."""

from __future__ import annotations

import calendar
import os
from pathlib import Path
from typing import Mapping

from zeb.errors import HubError

DEFAULT_ENDPOINT = "https://huggingface.co"
TIMEOUT_S = 10.0


def find_token(env: Mapping[str, str]) -> str | None:
    """HF_TOKEN, else the token file huggingface-cli login writes."""
    token = (env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or "").strip()
    if token:
        return token
    candidates = []
    if env.get("HF_TOKEN_PATH"):
        candidates.append(Path(env["HF_TOKEN_PATH"]).expanduser())
    hf_home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"),
                                                 "huggingface")
    candidates.append(Path(hf_home).expanduser() / "token")
    for path in candidates:
        try:
            token = path.read_text().strip()
        except OSError:
            continue
        if token:
            return token
    return None


def require_token(env: Mapping[str, str]) -> str:
    token = find_token(env)
    if not token:
        raise HubError("HF_TOKEN is not set: export HF_TOKEN=hf_... (a token with write access to the weights and "
                       "examples repos) or run `huggingface-cli login`")
    return token


def _api(token: str, env: Mapping[str, str]):
    from huggingface_hub import HfApi

    return HfApi(endpoint=(env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"), token=token)


def _hub_failure(what: str, exc: Exception, env: Mapping[str, str]) -> HubError:
    endpoint = env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return HubError(f"{what}: Hugging Face rejected the token ({status}); check HF_TOKEN")
    if status:
        return HubError(f"{what}: Hugging Face at {endpoint} answered {status}")
    return HubError(f"{what}: cannot reach Hugging Face at {endpoint} ({type(exc).__name__})")


def _transport_errors() -> tuple[type[BaseException], ...]:
    """What huggingface_hub can raise for HTTP trouble: its own error plus its transport's
    (httpx2 in 2.x, httpx in 1.x, requests before)."""
    from huggingface_hub.utils import HfHubHTTPError

    errors: list[type[BaseException]] = [HfHubHTTPError, OSError]
    for module in ("httpx2", "httpx", "requests"):
        try:
            mod = __import__(module)
        except ImportError:
            continue
        base = getattr(mod, "HTTPError", None) or getattr(mod, "RequestException", None)
        if isinstance(base, type):
            errors.append(base)
        transport = getattr(mod, "TransportError", None)
        if isinstance(transport, type):
            errors.append(transport)
    return tuple(errors)


def weights_exist(repo_id: str, weights_name: str, token: str, env: Mapping[str, str]) -> bool:
    what = f"checking {repo_id}/{weights_name}.pt"
    try:
        return bool(_api(token, env).file_exists(repo_id, f"{weights_name}.pt"))
    except _transport_errors() as exc:
        raise _hub_failure(what, exc, env) from None


def require_weights(repo_id: str, weights_name: str, examples_repo_id: str, token: str,
                    env: Mapping[str, str]) -> None:
    if not weights_exist(repo_id, weights_name, token, env):
        raise HubError(
            f"{weights_name}.pt is not in {repo_id}: start the learner first, e.g. "
            f"python -u -m forge.zeb.learner.run --repo-id {repo_id} --examples-repo-id {examples_repo_id} "
            f"--weights-name {weights_name} --checkpoint forge/zeb/checkpoints/{weights_name}-init.pt"
        )


def examples_last_received(examples_repo_id: str, token: str, env: Mapping[str, str]) -> float | None:
    try:
        info = _api(token, env).model_info(examples_repo_id, timeout=TIMEOUT_S)
    except _transport_errors() as exc:
        raise _hub_failure(f"reading {examples_repo_id}", exc, env) from None
    if info.last_modified is None:
        return None
    return float(calendar.timegm(info.last_modified.utctimetuple()))
