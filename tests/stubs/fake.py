"""Stub git, pip, python, nvidia-smi, apt-get and hf for tests/test_onstart_differential.py: each behaves as the
onstart model's world does (its repositories, its worker's argument parsing), so real bash runs the same script
over the same world. argv[1] names the tool; ZEB_STUB_BIN is the PATH directory the tools live in."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from zeb.sim.onstart import _WORKERS, ORACLE_CHECKPOINT, PYTHON, REPOS, ArgError, parse_worker_args, repo_key

SHA = "0123456789abcdef0123456789abcdef01234567"
BIN = Path(os.environ["ZEB_STUB_BIN"])


def err(*lines: str) -> None:
    for ln in lines:
        print(ln, file=sys.stderr, flush=True)


def install(tool: str) -> None:
    (BIN / tool).write_text((BIN / "python").read_text().replace(" python ", f" {tool} "))
    (BIN / tool).chmod(0o755)


def checkout_files(dest: Path, files: frozenset[str]) -> None:
    for f in files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        (dest / f).touch()


def git(args: list[str]) -> int:
    cwd = Path.cwd()
    while args[:1] == ["-C"]:
        cwd, args = Path(args[1]), args[2:]
    sub, rest = args[0], args[1:]
    quiet = "-q" in rest
    if sub in ("config", "version", "--version", "init"):
        return 0      # silent, as in the model
    if sub == "clone":
        branch, pos, k = None, [], 0
        while k < len(rest):
            if rest[k] in ("--branch", "-b"):
                branch, k = rest[k + 1], k + 2
                continue
            if rest[k] == "--depth":
                k += 2
                continue
            if not rest[k].startswith("-"):
                pos.append(rest[k])
            k += 1
        url, dest = pos[0], Path(pos[1])
        head = [] if quiet else [f"Cloning into '{pos[1]}'..."]
        repo = REPOS.get(repo_key(url))
        if repo is None:
            err(*head, "remote: Repository not found.", f"fatal: repository '{url.rstrip('/')}/' not found")
            return 128
        branch = branch or repo.default
        if branch not in repo.branches:
            err(*head, f"warning: Could not find remote branch {branch} to clone.",
                f"fatal: Remote branch {branch} not found in upstream origin")
            return 128
        err(*head)
        checkout_files(dest, repo.branches[branch])
        (dest / ".git").mkdir()
        (dest / ".git/zeb.json").write_text(json.dumps({"url": url, "branch": branch}))
        return 0
    root = next((d for d in (cwd, *cwd.parents) if (d / ".git").is_dir()), None)
    if root is None:
        err("fatal: not a git repository (or any of the parent directories): .git")
        return 128
    state = json.loads((root / ".git/zeb.json").read_text())
    repo = REPOS.get(repo_key(state["url"]))
    if sub == "remote":
        state["url"] = rest[2]
    elif sub == "rev-parse":
        print(SHA)
    elif sub in ("fetch", "pull"):
        pos = [a for a in rest if not a.startswith("-") and not a.isdigit()]
        ref = pos[1] if len(pos) > 1 else state["branch"]
        pinned = len(ref) == 40 and all(c in "0123456789abcdef" for c in ref)   # the fleet's own first commit
        if repo is None or (ref not in repo.branches and not pinned):
            err(f"fatal: couldn't find remote ref {ref}")
            return 128 if sub == "fetch" else 1
        state["fetch_head"] = ref
        if sub == "pull" and not quiet:
            print("Already up to date.")
    elif sub == "checkout":
        ref = state.get("fetch_head")
        if ref in (repo.branches if repo else {}):
            for f in root.rglob("*"):
                if f.is_file() and ".git" not in f.parts:
                    f.unlink()
            checkout_files(root, repo.branches[ref])
    (root / ".git/zeb.json").write_text(json.dumps(state))
    return 0


def pip(args: list[str]) -> int:
    targets = [a for a in args[1:] if not a.startswith("-")]
    if "-e" in args or any(t.startswith((".", "/")) for t in targets):
        where = Path(targets[0]).resolve()
        err(f"ERROR: file://{where} does not appear to be a Python project: neither 'setup.py' nor "
            "'pyproject.toml' found.")
        return 1
    if "huggingface_hub" in targets:
        install("hf")
    if "-q" not in args:
        print(*(f"Collecting {t}" for t in targets), sep="\n")
        print("Successfully installed " + " ".join(f"{t}-1.0" for t in targets))
    return 0


def python(args: list[str]) -> int:
    while args and args[0] in ("-u", "-B"):
        args = args[1:]
    if args[0] == "-c":
        if "GPU OK" in args[1]:
            print("GPU OK: NVIDIA GeForce RTX 3070")
        return 0
    if args[0] == "-m" and args[1] == "pip":
        return pip(args[2:])
    module, argv = (args[1], args[2:]) if args[0] == "-m" else (args[0][:-3].replace("/", "."), args[1:])
    parts = module.split(".")
    if not Path(*parts).with_suffix(".py").is_file():
        missing = next((".".join(parts[:d]) for d in range(1, len(parts)) if not Path(*parts[:d]).is_dir()), None)
        err(f"{PYTHON}: Error while finding module specification for '{module}' (ModuleNotFoundError: No module "
            f"named '{missing}')" if missing else f"{PYTHON}: No module named {module}")
        return 1
    if not (BIN / "hf").exists():
        err("Traceback (most recent call last):", '  File "<frozen runpy>", line 198, in _run_module_as_main',
            '  File "<frozen runpy>", line 88, in _run_code',
            f'  File "{Path.cwd() / Path(*parts).with_suffix(".py")}", line 21, in <module>',
            "    from huggingface_hub import HfApi, hf_hub_download",
            "ModuleNotFoundError: No module named 'huggingface_hub'")
        return 1
    parsed = parse_worker_args(_WORKERS[module], argv, Path(*parts).name + ".py")
    if isinstance(parsed, ArgError):
        err(*parsed.lines)
        return 2
    if module.endswith("eval_aux") and not Path(str(parsed.get("checkpoint", ORACLE_CHECKPOINT))).is_file():
        return 1
    print("ZEB-STUB-WORKER " + json.dumps([module, argv]))
    return 0


def apt(args: list[str]) -> int:
    if "install" in args and "git" in args:
        install("git")
    return 0


def hf(args: list[str]) -> int:
    # The real CLI (huggingface_hub's own `hf`), its one network call answered as the model's Hub does.
    import huggingface_hub._login as login
    import huggingface_hub.cli.auth as auth
    import huggingface_hub.hf_api as api

    def whoami(token: object = None, **_kw: object) -> dict:
        return {"name": "zeb-sim", "orgs": [], "auth": {"accessToken": {"role": "write",
                                                                         "displayName": "zeb-sim-write"}}}

    api.whoami = auth.whoami = whoami  # type: ignore[assignment]
    api.HfApi.whoami = lambda self, token=None, **kw: whoami()  # type: ignore[method-assign]
    del login
    from huggingface_hub.cli.hf import main
    sys.argv = ["hf", *args]
    main()
    return 0


if __name__ == "__main__":
    tool, rest = sys.argv[1], sys.argv[2:]
    tools = {"git": git, "pip": pip, "pip3": pip, "python": python, "python3": python, "apt-get": apt, "hf": hf,
             "nvidia-smi": lambda a: 0}
    sys.exit(tools[tool](rest))
