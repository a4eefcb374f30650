"""What an instance's onstart script does on a real machine, as a pure model: a small bash interpreter over
a model of the image (python, pip, torch, git, huggingface_hub, /root/code) and of the world (which git
repositories and branches exist, which files they hold), plus the worker's own argument parsing.

`run_onstart` returns a Plan: the ordered steps (their log lines and how long each takes) and how the
script ends: the worker process starts (module and parsed arguments) or the script stops with the error
lines bash, git, pip or python would print. No I/O, no clock: the same inputs give the same plan.

The simulator is only worth what it refuses: a launch that could not run on a real machine must not produce
here either. The interpreter knows only what the onstart scripts in use need, but knows that exactly."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import posixpath
import re
import time as _time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# -- the world: images and repositories ----------------------------------------------------------------------

MK5 = "https://github.com/jasonyandell/mk5-main"
ORACLE_CHECKPOINT = "forge/models/domino-qval-large-3.3M-qgap0.071-qmae0.94.ckpt"
PYTHON = "/opt/conda/bin/python"     # the pytorch images' interpreter, as python names itself in errors


@dataclass(frozen=True)
class Image:
    git: bool = False
    huggingface_hub: bool = False
    apt: bool = True                              # apt-get works (Debian/Ubuntu base)
    code: tuple[str, str] | None = None           # (repository, branch) checked out at /root/code


CODE_FAULTS = ("type_error", "bad_flag")    # how a commit's worker code can be broken (None: it works)


@dataclass(frozen=True)
class Commit:
    sha: str                      # 40 hex
    at: float                     # when it was pushed (epoch seconds; -inf: before any simulated time)
    fault: str | None = None      # one of CODE_FAULTS, or None


def commit_sha(repo_url: str, branch: str, index: int) -> str:
    """A deterministic sha for the index-th commit of a branch (0: the one the world starts with)."""
    return hashlib.sha1(f"{repo_key(repo_url)}/{branch}/{index}".encode()).hexdigest()


@dataclass(frozen=True)
class Repo:
    branches: Mapping[str, frozenset[str]]        # branch -> the files it holds (paths relative to the root)
    default: str = "main"
    # branch -> the commits pushed after the initial one, oldest first (a branch's initial commit is implicit)
    pushed: Mapping[str, tuple[Commit, ...]] = field(default_factory=dict)


_FORGE_FILES = frozenset({
    "README.md", "package.json", "forge/__init__.py", "forge/zeb/__init__.py", "forge/zeb/worker/__init__.py",
    "forge/zeb/worker/run.py", "forge/zeb/worker/run_eval_aux.py", ORACLE_CHECKPOINT,
})
_MAIN_FILES = frozenset({"README.md", "package.json", "src/main.ts", "forge/__init__.py"})

# One table each, so a test can add an image or a repository: World(images={**IMAGES, name: Image(...)}).
IMAGES: dict[str, Image] = {
    "pytorch/pytorch:2.6.0-cuda12.6-cudnn9-runtime": Image(),
    "pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime": Image(),
    # Built FROM the 2.6.0 image with git, huggingface_hub and a clone of the worker repository.
    "jasonyandell/zeb-worker:latest": Image(git=True, huggingface_hub=True, code=(MK5, "forge")),
}
REPOS: dict[str, Repo] = {MK5: Repo({"forge": _FORGE_FILES, "main": _MAIN_FILES})}


HUB_FAULTS = ("down", "token", "missing")   # the hub answers 503 / 401 for a token / 404 for a file


@dataclass(frozen=True)
class HubWindow:
    """A span of time [start, end) in which Hugging Face fails every request ("down"), refuses a token
    ("token": `token`, or every token when empty) or lacks a file ("missing": `path` of `repo_id`)."""
    kind: str
    start: float
    end: float = math.inf
    token: str = ""
    repo_id: str = ""
    path: str = ""


@dataclass(frozen=True)
class ImageWindow:
    """A span of time in which Docker cannot pull `image` (a registry outage, or the image deleted)."""
    image: str
    start: float
    end: float = math.inf


@dataclass(frozen=True)
class World:
    images: Mapping[str, Image] = field(default_factory=lambda: dict(IMAGES))
    repos: Mapping[str, Repo] = field(default_factory=lambda: dict(REPOS))
    hub: tuple[HubWindow, ...] = ()
    broken_images: tuple[ImageWindow, ...] = ()

    def hub_fault(self, at: float, *, token: str | None = None, repo_id: str = "", path: str = "") -> str | None:
        """What is wrong with Hugging Face at `at` for a request with `token` for `path` of `repo_id`: one of
        HUB_FAULTS (the worst when several hold: down, then token, then missing) or None."""
        found = {w.kind for w in self.hub if w.start <= at < w.end and (
            w.kind == "down"
            or (w.kind == "token" and token is not None and w.token in ("", token))
            or (w.kind == "missing" and w.repo_id == repo_id and w.path == path))}
        return next((k for k in HUB_FAULTS if k in found), None)

    def commits(self, url: str, branch: str) -> tuple[Commit, ...]:
        """Every commit of `branch` of the repository at `url`, oldest first (empty: no such branch)."""
        repo = self.repos.get(repo_key(url))
        if repo is None or branch not in repo.branches:
            return ()
        return (Commit(commit_sha(url, branch, 0), -math.inf), *repo.pushed.get(branch, ()))

    def head(self, url: str, branch: str, at: float) -> Commit | None:
        """The branch's head as a clone or fetch at `at` sees it."""
        live = [c for c in self.commits(url, branch) if c.at <= at]
        return live[-1] if live else None

    def find_commit(self, url: str, sha: str, at: float) -> tuple[str, Commit] | None:
        """(branch, commit) of the commit `sha` if the repository holds it at `at`."""
        repo = self.repos.get(repo_key(url))
        for branch in (repo.branches if repo is not None else ()):
            for c in self.commits(url, branch):
                if c.sha == sha and c.at <= at:
                    return branch, c
        return None

    def fault_of(self, url: str, sha: str) -> str | None:
        found = self.find_commit(url, sha, math.inf)
        return found[1].fault if found else None

    def push(self, url: str, branch: str, at: float, fault: str | None = None) -> tuple[World, Commit]:
        """This world with a commit pushed to `branch` at `at`, and the commit."""
        key = repo_key(url)
        repo = self.repos[key]
        pushed = repo.pushed.get(branch, ())
        commit = Commit(commit_sha(url, branch, len(pushed) + 1), at, fault)
        history = tuple(sorted((*pushed, commit), key=lambda c: c.at))
        new_repo = dataclasses.replace(repo, pushed={**repo.pushed, branch: history})
        return dataclasses.replace(self, repos={**self.repos, key: new_repo}), commit


WORLD = World()


def image_name(image: str) -> str:
    """Docker's reference form: no registry prefix for Docker Hub, ":latest" when untagged."""
    name = image.strip()
    for prefix in ("docker.io/", "index.docker.io/"):
        name = name.removeprefix(prefix)
    if name and ":" not in name.rsplit("/", 1)[-1] and "@" not in name:
        name += ":latest"
    return name


def pull_error(image: str, world: World = WORLD, at: float | None = None) -> str | None:
    """Docker's words when Vast cannot pull the image (at `at`, when given); None when it can."""
    name = image_name(image)
    if not name or not re.fullmatch(r"[a-z0-9][a-z0-9._/-]*(:[\w][\w.-]*)?(@sha256:[0-9a-f]+)?", name):
        return "Error response from daemon: invalid reference format"
    broken = at is not None and any(image_name(w.image) == name and w.start <= at < w.end
                                    for w in world.broken_images)
    if name in world.images and not broken:
        return None
    return f"Error response from daemon: manifest for {name} not found: manifest unknown"


def repo_key(url: str) -> str:
    return url.strip().rstrip("/").removesuffix(".git")


# -- the plan ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    command: str                 # the command as run (first words), for tests and debugging
    seconds: float               # how long it takes; its lines appear when it ends
    lines: tuple[str, ...]       # what it printed to the log (after redirections)
    status: int
    line_no: int


@dataclass(frozen=True)
class Worker:
    mode: str                    # "selfplay" | "eval_aux"
    module: str                  # forge.zeb.worker.run | forge.zeb.worker.run_eval_aux
    args: Mapping[str, Any]      # parsed like the worker's argparse (dest -> value)
    code_dir: str
    quiet: bool = False          # its stdout goes elsewhere than the log
    commit: str = ""             # the sha of the code it runs ("" when not from a git checkout)
    code_fault: str | None = None  # how that commit's code breaks (CODE_FAULTS), None when it works

    @property
    def script(self) -> str:
        return f"{self.code_dir.rstrip('/')}/{self.module.replace('.', '/')}.py"


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    worker: Worker | None        # the worker process that starts and runs from the script's end on
    exit_status: int | None      # how the script ended; None when the worker runs
    error: tuple[str, ...] = ()  # the failure that ended the script, as printed
    pull_error: str | None = None  # the image cannot be pulled: nothing runs at all

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)


# Seconds each kind of command takes; worker_log.timings draws them per instance. "slow" is a slow host's
# extra, charged to the first network step (apt, git clone/fetch/pull, pip).
DEFAULT_DURATIONS: dict[str, float] = {"apt": 10.0, "clone": 14.0, "pip": 70.0, "gpu": 4.0, "start": 2.0,
                                       "login": 1.5, "slow": 0.0}


def run_onstart(script: str, *, env: Mapping[str, str], image: str, gpu_name: str = "RTX 3070",
                cuda: bool = True, durations: Mapping[str, float] | None = None, started_at: float = 0.0,
                world: World = WORLD, pulled_at: float | None = None) -> Plan:
    """Run `script` as Vast does (bash, as root, with `env`) in a container of `image` on a machine with
    `gpu_name` (`cuda` False: the driver is broken). `started_at` is the epoch second the script starts
    (for `$(date)`, and the time git sees the repositories at); `pulled_at` when Docker pulls the image
    (default `started_at`)."""
    problem = pull_error(image, world, started_at if pulled_at is None else pulled_at)
    if problem is not None:
        return Plan((), None, None, (), problem)
    img = world.images[image_name(image)]
    shell = _Shell(env, img, world, gpu_name, cuda, {**DEFAULT_DURATIONS, **(durations or {})}, started_at)
    try:
        tree = _Parser(_lex(script)).parse()
    except _SyntaxError as exc:
        line = f"bash: line {exc.line}: syntax error near unexpected token `{exc.token}'"
        return Plan((Step("bash", 0.0, (line,), 2, exc.line),), None, 2, (line,))
    status: int | None
    try:
        status = shell.run_list(tree)
    except _Exit as done:
        status = done.status
    except _Started as started:
        return Plan(tuple(shell.steps), started.worker, None)
    error: tuple[str, ...] = ()
    if status != 0:
        failed = next((s for s in reversed(shell.steps) if s.status != 0 and s.lines), None)
        error = failed.lines if failed else ()
    return Plan(tuple(shell.steps), None, status, error)


def stamp(t: float) -> str:
    """`date`'s default format: "Thu Feb  6 12:00:00 UTC 2026"."""
    g = _time.gmtime(t)
    return f"{_time.strftime('%a %b', g)} {g.tm_mday:2d} {_time.strftime('%H:%M:%S', g)} UTC {g.tm_year}"


# -- lexing --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Tok:
    kind: str        # "word" | "op" | "redir"
    text: str
    line: int


class _SyntaxError(Exception):
    def __init__(self, token: str, line: int) -> None:
        super().__init__(token)
        self.token, self.line = token, line


_REDIR = re.compile(r"(\d*)(>>|>&|&>|>|<)")
_OPS = ("&&", "||", ";", "|", "&", "(", ")")


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and text.startswith("\n", i + 1):
            i, line = i + 2, line + 1
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "\n":
            toks.append(_Tok("op", "\n", line))
            i, line = i + 1, line + 1
            continue
        if c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if text.startswith(("<(", ">("), i) and toks and toks[-1].kind == "redir":
            j = _skip_balanced(text, i + 1)
            toks.append(_Tok("word", text[i:j], line))
            line += text.count("\n", i, j)
            i = j
            continue
        m = _REDIR.match(text, i)
        if m:
            toks.append(_Tok("redir", m.group(0), line))
            i = m.end()
            continue
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op is not None:
            toks.append(_Tok("op", op, line))
            i += len(op)
            continue
        j, end_line = _word_end(text, i, line)
        toks.append(_Tok("word", text[i:j], line))
        i, line = j, end_line
    toks.append(_Tok("op", "\n", line))
    return toks


def _word_end(text: str, j: int, line: int) -> tuple[int, int]:
    """(index just past the word starting at j, the line it ends on): quotes, escapes and $(...) keep
    a word going past blanks and newlines."""
    n = len(text)
    while j < n and text[j] not in " \t\r\n;&|()<>":
        ch = text[j]
        if ch == "\\":
            if text.startswith("\n", j + 1):
                line += 1
            j += 2
        elif ch == "'":
            k = text.find("'", j + 1)
            if k < 0:
                raise _SyntaxError("'", line)
            line += text.count("\n", j, k)
            j = k + 1
        elif ch == '"':
            k = _skip_double(text, j + 1)
            line += text.count("\n", j, k)
            j = k
        elif text.startswith("$(", j):
            k = _skip_balanced(text, j + 1)
            line += text.count("\n", j, k)
            j = k
        elif text.startswith("${", j):
            k = text.find("}", j)
            j = n if k < 0 else k + 1
        else:
            j += 1
    return j, line


def _skip_double(text: str, j: int) -> int:
    """Index just past the closing double quote of a string whose body starts at j."""
    n = len(text)
    while j < n:
        ch = text[j]
        if ch == "\\":
            j += 2
        elif ch == '"':
            return j + 1
        elif text.startswith("$(", j):
            j = _skip_balanced(text, j + 1)
        else:
            j += 1
    raise _SyntaxError('"', text.count("\n", 0, n) + 1)


def _skip_balanced(text: str, j: int) -> int:
    """j is at "(": the index just past its matching ")", skipping quoted text."""
    depth, n = 0, len(text)
    while j < n:
        ch = text[j]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        elif ch == "'":
            k = text.find("'", j + 1)
            j = n if k < 0 else k
        elif ch == '"':
            j = _skip_double(text, j + 1) - 1
        elif ch == "\\":
            j += 1
        j += 1
    raise _SyntaxError("(", text.count("\n", 0, n) + 1)


# -- parsing -------------------------------------------------------------------------------------------------

@dataclass
class _Simple:
    words: list[str]
    redirs: list[tuple[str, str]]    # (operator, target)
    line: int


@dataclass
class _Group:                        # ( list ): a subshell
    body: list
    redirs: list[tuple[str, str]]
    line: int


@dataclass
class _If:
    clauses: list[tuple[list, list]]     # (condition, body), for if and each elif
    orelse: list | None
    redirs: list[tuple[str, str]]
    line: int


@dataclass
class _Pipeline:
    commands: list
    negate: bool


@dataclass
class _AndOr:
    first: _Pipeline
    rest: list[tuple[str, _Pipeline]]


_STOP = ("then", "else", "elif", "fi", "do", "done", "esac")


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks, self.pos = toks, 0

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def parse(self) -> list:
        body = self.list_()
        tok = self.peek()
        if tok is not None:
            raise _SyntaxError(tok.text, tok.line)
        return body

    def skip_newlines(self) -> None:
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text in ("\n", ";"):
            self.pos += 1

    def at_stop(self) -> bool:
        tok = self.peek()
        return tok is None or (tok.kind == "op" and tok.text == ")") or (tok.kind == "word" and tok.text in _STOP)

    def list_(self) -> list:
        items: list[_AndOr] = []
        self.skip_newlines()
        while not self.at_stop():
            items.append(self.and_or())
            tok = self.peek()
            if tok is not None and tok.kind == "op" and tok.text in ("\n", ";", "&"):
                self.skip_newlines()
                if tok.text == "&":
                    self.pos += 1
                    self.skip_newlines()
            elif not self.at_stop():
                raise _SyntaxError(tok.text if tok else "newline", tok.line if tok else 0)
        return items

    def and_or(self) -> _AndOr:
        first = self.pipeline()
        rest: list[tuple[str, _Pipeline]] = []
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text in ("&&", "||"):
            self.pos += 1
            while (nl := self.peek()) is not None and nl.kind == "op" and nl.text == "\n":
                self.pos += 1
            rest.append((tok.text, self.pipeline()))
        return _AndOr(first, rest)

    def pipeline(self) -> _Pipeline:
        negate = False
        tok = self.peek()
        if tok is not None and tok.kind == "word" and tok.text == "!":
            self.pos += 1
            negate = True
        commands = [self.command()]
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text == "|":
            self.pos += 1
            commands.append(self.command())
        return _Pipeline(commands, negate)

    def command(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise _SyntaxError("end of file", 0)
        if tok.kind == "op" and tok.text == "(":
            self.pos += 1
            body = self.list_()
            close = self.peek()
            if close is None or close.text != ")":
                raise _SyntaxError(close.text if close else "end of file", close.line if close else tok.line)
            self.pos += 1
            return _Group(body, self.redirs(), tok.line)
        if tok.kind == "word" and tok.text == "if":
            return self.if_()
        if tok.kind == "op":
            raise _SyntaxError("newline" if tok.text == "\n" else tok.text, tok.line)
        words: list[str] = []
        redirs: list[tuple[str, str]] = []
        while (tok2 := self.peek()) is not None and tok2.kind in ("word", "redir"):
            if tok2.kind == "redir":
                redirs.append(self.redir())
            else:
                words.append(self.take().text)
        return _Simple(words, redirs, tok.line)

    def redir(self) -> tuple[str, str]:
        op = self.take()
        target = self.peek()
        if target is None or target.kind != "word":
            raise _SyntaxError(target.text if target else "newline", op.line)
        self.pos += 1
        return op.text, target.text

    def redirs(self) -> list[tuple[str, str]]:
        out = []
        while (tok := self.peek()) is not None and tok.kind == "redir":
            out.append(self.redir())
        return out

    def expect(self, word: str) -> None:
        tok = self.peek()
        if tok is None or tok.kind != "word" or tok.text != word:
            raise _SyntaxError(tok.text if tok else "end of file", tok.line if tok else 0)
        self.pos += 1

    def if_(self) -> _If:
        line = self.take().line
        clauses = []
        cond = self.list_()
        self.expect("then")
        clauses.append((cond, self.list_()))
        orelse = None
        while True:
            tok = self.peek()
            if tok is not None and tok.text == "elif":
                self.pos += 1
                cond = self.list_()
                self.expect("then")
                clauses.append((cond, self.list_()))
            elif tok is not None and tok.text == "else":
                self.pos += 1
                orelse = self.list_()
            else:
                break
        self.expect("fi")
        return _If(clauses, orelse, self.redirs(), line)


# -- running -------------------------------------------------------------------------------------------------

class _Exit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Started(Exception):
    def __init__(self, worker: Worker) -> None:
        super().__init__(worker.module)
        self.worker = worker


@dataclass
class _Checkout:
    url: str           # remote origin
    branch: str        # what is checked out (a branch of the repository at `url` when it was cloned)
    files: frozenset[str]
    commit: str = ""   # the sha HEAD is at


OUT, ERR = 1, 2
_NAME = re.compile(r"[A-Za-z_]\w*|[?$#0-9]")
_SHA = re.compile(r"[0-9a-f]{40}")
# Modules a pytorch image can run with `python -m` besides the worker's.
_STD_MODULES = frozenset({"pip", "torch", "http", "json", "venv", "ensurepip", "site", "platform", "timeit"})
_HARMLESS = frozenset({"true", ":", "sleep", "mkdir", "rm", "cp", "mv", "ls", "export", "tee", "nvidia-smi",
                       "touch", "chmod", "chown", "cat", "wait", "env", "ln", "unset", "df", "free", "ulimit",
                       "printf", "sync", "umask"})
_ALWAYS = frozenset({"python", "python3", "pip", "pip3", "bash", "sh", "apt-get", "apt", "nvidia-smi", "date",
                     "echo", "cd", "tee", "cat", "ls", "mkdir", "rm", "cp", "sleep", "test", "true", "false"})


class _Shell:
    def __init__(self, env: Mapping[str, str], image: Image, world: World, gpu_name: str, cuda: bool,
                 durations: Mapping[str, float], started_at: float) -> None:
        self.vars: dict[str, str] = {"HOME": "/root", "PATH": "/opt/conda/bin:/usr/local/bin:/usr/bin:/bin",
                                     **{str(k): str(v) for k, v in env.items()}}
        self.image, self.world, self.gpu_name, self.cuda = image, world, gpu_name, cuda
        self.durations = dict(durations)
        self.started_at = started_at
        self.elapsed = 0.0
        self.cwd = "/"
        self.errexit = False
        self.nounset = False
        self.status = 0
        self.git = image.git
        self.hub = image.huggingface_hub
        self.dirs: set[str] = {"/", "/root", "/tmp", "/dev", "/opt", "/opt/conda", "/workspace", "/usr", "/etc"}
        self.files: set[str] = {"/dev/null"}
        self.checkouts: dict[str, _Checkout] = {}
        self.fetch_head: tuple[str, str, str] | None = None     # (url, branch holding it, sha)
        self.steps: list[Step] = []
        self.fds: dict[int, str] = {OUT: "log", ERR: "log"}
        self.line = 0
        if image.code is not None:
            url, branch = image.code
            # The image was built from the branch's initial commit.
            self.checkouts["/root/code"] = _Checkout(url, branch, world.repos[repo_key(url)].branches[branch],
                                                     commit_sha(url, branch, 0))

    # -- the structure --

    def run_list(self, items: list, checked: bool = False) -> int:
        for item in items:
            self.status = self.run_and_or(item, checked)
        return self.status

    def run_and_or(self, node: _AndOr, checked: bool) -> int:
        last = len(node.rest)
        status = self.run_pipeline(node.first, checked or last > 0)
        for k, (op, pipe) in enumerate(node.rest, start=1):
            if (op == "&&") == (status == 0):
                status = self.run_pipeline(pipe, checked or k < last)
        return status

    def run_pipeline(self, pipe: _Pipeline, checked: bool) -> int:
        sink = "log"
        if len(pipe.commands) > 1:
            last = pipe.commands[-1]
            passes = isinstance(last, _Simple) and last.words and last.words[0] in ("tee", "cat")
            sink = self.fds[OUT] if passes else "null"
        status = 0
        for k, cmd in enumerate(pipe.commands):
            if k < len(pipe.commands) - 1:
                saved = dict(self.fds)
                self.fds[OUT] = sink
                try:
                    self.run_command(cmd, True)
                finally:
                    self.fds = saved
            else:
                status = self.run_command(cmd, checked or pipe.negate)
        if pipe.negate:
            status = 0 if status else 1
        if status != 0 and self.errexit and not checked:
            raise _Exit(status)
        return status

    def run_command(self, cmd: Any, checked: bool) -> int:
        if isinstance(cmd, _Simple) and cmd.words == ["exec"]:
            # `exec` with only redirections: they hold for the rest of the script (`exec > >(tee ..) 2>&1`).
            self.line = cmd.line
            self.apply_redirs(cmd.redirs)
            self.emit("exec", 0, 0.0, [])
            return 0
        saved = dict(self.fds)
        self.apply_redirs(cmd.redirs)
        try:
            if isinstance(cmd, _Simple):
                return self.run_simple(cmd, checked)
            if isinstance(cmd, _Group):
                return self.run_group(cmd, checked)
            for cond, body in cmd.clauses:
                if self.run_list(cond, checked=True) == 0:
                    return self.run_list(body, checked)
            return self.run_list(cmd.orelse, checked) if cmd.orelse is not None else 0
        finally:
            self.fds = saved

    def run_group(self, cmd: _Group, checked: bool) -> int:
        # A subshell: variables, options and the directory are its own; the filesystem is shared.
        saved = (dict(self.vars), self.cwd, self.errexit, self.nounset)
        try:
            return self.run_list(cmd.body, checked)
        except _Exit as done:
            return done.status
        finally:
            self.vars, self.cwd, self.errexit, self.nounset = saved

    def apply_redirs(self, redirs: list[tuple[str, str]]) -> None:
        for op, target in redirs:
            m = _REDIR.fullmatch(op)
            assert m is not None
            fd_text, kind = m.groups()
            where = self.redirect_target(target)
            if kind == "&>":
                self.fds[OUT] = self.fds[ERR] = where
            elif kind == ">&":
                fd = int(fd_text or 1)
                self.fds[fd] = self.fds.get(int(target), "log") if target.isdigit() else where
            elif kind in (">", ">>"):
                self.fds[int(fd_text or 1)] = where

    def redirect_target(self, target: str) -> str:
        if target.startswith(">("):
            return "log" if re.match(r">\(\s*tee\b", target) else "null"
        word = self.expand_one(target)
        return "null" if word == "/dev/null" else "file"

    # -- output and time --

    def emit(self, command: str, status: int, seconds: float, out: list[tuple[int, str]]) -> None:
        lines = tuple(text for fd, text in out if self.fds.get(fd, "log") == "log")
        self.elapsed += seconds
        self.steps.append(Step(command, seconds, lines, status, self.line))

    def took(self, kind: str, share: float = 1.0) -> float:
        seconds = self.durations.get(kind, 0.0) * share
        if kind in ("apt", "clone", "pip") and self.durations.get("slow"):
            seconds += self.durations["slow"]
            self.durations["slow"] = 0.0     # a slow host's delay lands once, on the first network step
        return seconds

    def now(self) -> float:
        return self.started_at + self.elapsed

    # -- expansion --

    def expand(self, words: list[str]) -> list[str]:
        out: list[str] = []
        for word in words:
            out.extend(self.expand_word(word))
        return out

    def expand_one(self, word: str) -> str:
        return " ".join(self.expand_word(word))

    def expand_word(self, word: str) -> list[str]:
        """Quote removal, parameter and command substitution, and field splitting of unquoted results."""
        pieces: list[tuple[str, bool]] = []    # (text, splittable)
        quoted = False
        i, n = 0, len(word)
        while i < n:
            ch = word[i]
            if ch == "'":
                k = word.index("'", i + 1)
                pieces.append((word[i + 1:k], False))
                quoted, i = True, k + 1
            elif ch == '"':
                k = _skip_double(word, i + 1)
                pieces.append((self.expand_double(word[i + 1:k - 1]), False))
                quoted, i = True, k
            elif ch == "\\":
                pieces.append((word[i + 1:i + 2], False))
                i += 2
            elif ch == "$":
                text, i = self.dollar(word, i)
                pieces.append((text, True))
            else:
                k = i
                while k < n and word[k] not in "'\"\\$":
                    k += 1
                pieces.append((word[i:k], False))
                i = k
        fields: list[str] = []
        current: str | None = None
        for text, splittable in pieces:
            if not splittable:
                current = (current or "") + text
                continue
            parts = re.split(r"[ \t\n]+", text)
            for k, part in enumerate(parts):
                if k > 0:
                    if current:
                        fields.append(current)
                    current = None
                if part:
                    current = (current or "") + part
        if current is not None and (current or quoted):
            fields.append(current)
        return fields

    def expand_double(self, body: str) -> str:
        out: list[str] = []
        i, n = 0, len(body)
        while i < n:
            ch = body[i]
            if ch == "\\" and i + 1 < n and body[i + 1] in '"\\$`\n':
                out.append("" if body[i + 1] == "\n" else body[i + 1])
                i += 2
            elif ch == "$":
                text, i = self.dollar(body, i)
                out.append(text)
            else:
                out.append(ch)
                i += 1
        return "".join(out)

    def dollar(self, text: str, i: int) -> tuple[str, int]:
        """Expand the `$...` at text[i]; return the value and the index after it."""
        if text.startswith("$(", i):
            k = _skip_balanced(text, i + 1)
            return self.substitute(text[i + 2:k - 1]), k
        if text.startswith("${", i):
            k = text.index("}", i)
            return self.parameter(text[i + 2:k]), k + 1
        m = _NAME.match(text, i + 1)
        if not m:
            return "$", i + 1
        return self.lookup(m.group(0)), m.end()

    def lookup(self, name: str) -> str:
        if name == "?":
            return str(self.status)
        if name == "$":
            return "4242"
        if name == "#":
            return "0"
        if name not in self.vars and self.nounset and not name.isdigit():
            self.emit("bash", 1, 0.0, [(ERR, f"bash: line {self.line}: {name}: unbound variable")])
            raise _Exit(1)
        return self.vars.get(name, "")

    def parameter(self, inner: str) -> str:
        m = re.fullmatch(r"([A-Za-z_]\w*)(?:(:?[-=+])(.*))?", inner, re.DOTALL)
        if not m:
            return ""
        name, op, rest = m.groups()
        if op is None:
            return self.lookup(name)
        value = self.vars.get(name)
        empty = value is None or (op.startswith(":") and value == "")
        if op.endswith("+"):
            return "" if empty else self.expand_double(rest)
        if empty:
            default = self.expand_double(rest)
            if op.endswith("="):
                self.vars[name] = default
            return default
        return value or ""

    def substitute(self, command: str) -> str:
        words = command.split()
        if not words:
            return ""
        if words[0] == "date":
            return stamp(self.now())
        if words[0] == "git":
            return self.git_capture(words[1:])
        return {"pwd": self.cwd, "whoami": "root", "nproc": "8", "hostname": "c0ffee"}.get(words[0], "")

    # -- the filesystem --

    def path(self, p: str) -> str:
        if p == "~" or p.startswith("~/"):
            p = "/root" + p[1:]
        return posixpath.normpath(posixpath.join(self.cwd, p)) if p else self.cwd

    def checkout_of(self, p: str) -> tuple[str, _Checkout] | None:
        for root, co in self.checkouts.items():
            if p == root or p.startswith(root + "/"):
                return root, co
        return None

    def is_dir(self, p: str) -> bool:
        if p in self.dirs or p in self.checkouts:
            return True
        if any(root.startswith(p + "/") for root in self.checkouts) or any(d.startswith(p + "/") for d in self.dirs):
            return True
        found = self.checkout_of(p)
        if found is None:
            return False
        root, co = found
        rel = p[len(root) + 1:]
        return rel == ".git" or rel.startswith(".git/") or any(f.startswith(rel + "/") for f in co.files)

    def is_file(self, p: str) -> bool:
        if p in self.files:
            return True
        found = self.checkout_of(p)
        return found is not None and p[len(found[0]) + 1:] in found[1].files

    def exists(self, p: str) -> bool:
        return self.is_dir(p) or self.is_file(p)

    def remove(self, p: str) -> None:
        def under(x: str) -> bool:
            return x == p or x.startswith(p.rstrip("/") + "/")
        self.dirs = {d for d in self.dirs if not under(d)}
        self.files = {f for f in self.files if not under(f)}
        self.checkouts = {r: co for r, co in self.checkouts.items() if not under(r)}
        found = self.checkout_of(p)
        if found is not None:
            root, co = found
            rel = p[len(root) + 1:]
            co.files = frozenset(f for f in co.files if not (f == rel or f.startswith(rel + "/")))

    def has_command(self, name: str) -> bool:
        if name == "git":
            return self.git
        if name in ("huggingface-cli", "hf"):
            return self.hub
        if name in ("apt-get", "apt"):
            return self.image.apt
        return name in _ALWAYS or name in _HARMLESS or name in _BUILTINS

    # -- simple commands --

    def run_simple(self, cmd: _Simple, checked: bool) -> int:
        self.line = cmd.line
        words = list(cmd.words)
        assigns = []
        while words and re.match(r"[A-Za-z_]\w*=", words[0]):
            assigns.append(words.pop(0))
        if not words:
            for a in assigns:
                name, _, value = a.partition("=")
                self.vars[name] = self.expand_one(value) if value else ""
            if not assigns and cmd.redirs:
                self.emit("redirect", 0, 0.0, [])
            return 0
        argv = self.expand(words)
        if not argv:
            return 0
        saved_vars = dict(self.vars)
        for a in assigns:     # VAR=x cmd: the assignment is for that command only
            name, _, value = a.partition("=")
            self.vars[name] = self.expand_one(value)
        try:
            return self.call(argv, checked)
        finally:
            if assigns:
                self.vars = saved_vars

    def call(self, argv: list[str], checked: bool) -> int:
        name = argv[0]
        if name == "exec":
            if len(argv) == 1:
                self.emit("exec", 0, 0.0, [])
                return 0
            if not self.has_command(argv[1]) and argv[1] not in _BUILTINS:
                self.emit("exec", 127, 0.0, [(ERR, f"bash: line {self.line}: exec: {argv[1]}: not found")])
                raise _Exit(127)
            status = self.call(argv[1:], True)
            raise _Exit(status)
        handler = _BUILTINS.get(name)
        if handler is not None:
            return handler(self, argv)
        if not self.has_command(name):
            self.emit(name, 127, 0.0, [(ERR, f"bash: line {self.line}: {name}: command not found")])
            return 127
        if name in ("apt-get", "apt"):
            return self.apt(argv)
        if name == "git":
            return self.git_cmd(argv[1:])
        if name in ("pip", "pip3"):
            return self.pip(argv[1:])
        if name in ("python", "python3"):
            return self.python(argv[1:])
        if name in ("huggingface-cli", "hf"):
            return self.hf_login(argv)
        if name == "nvidia-smi" and not self.cuda:
            self.emit(name, 9, 0.5, [(OUT, "NVIDIA-SMI has failed because it couldn't communicate with the "
                                           "NVIDIA driver. Make sure that the latest NVIDIA driver is installed "
                                           "and running.")])
            return 9
        if name == "mkdir":
            for p in argv[1:]:
                if not p.startswith("-"):
                    self.dirs.add(self.path(p))
        if name == "touch":
            for p in argv[1:]:
                if not p.startswith("-"):
                    self.files.add(self.path(p))
        if name == "rm":
            for p in argv[1:]:
                if not p.startswith("-"):
                    self.remove(self.path(p))
        if name == "export":
            for a in argv[1:]:
                key, eq, value = a.partition("=")
                if eq:
                    self.vars[key] = value
        self.emit(name, 0, 0.0, [])
        return 0

    def apt(self, argv: list[str]) -> int:
        args = [a for a in argv[1:] if not a.startswith("-")]
        quiet = any(a.startswith("-q") for a in argv[1:])
        if not args:
            self.emit(" ".join(argv[:1]), 0, 0.0, [])
            return 0
        if args[0] == "update":
            out = [] if quiet else [(OUT, "Hit:1 http://archive.ubuntu.com/ubuntu jammy InRelease"),
                                    (OUT, "Reading package lists...")]
            self.emit("apt-get update", 0, self.took("apt", 0.6), out)
            return 0
        if args[0] == "install":
            if not any(a in ("-y", "--yes", "--assume-yes") or re.fullmatch(r"-\w*y\w*", a) for a in argv[1:]):
                self.emit("apt-get install", 1, 1.0, [(OUT, "Do you want to continue? [Y/n] Abort.")])
                return 1
            if "git" in args[1:]:
                self.git = True
            out = [] if quiet else [(OUT, "Reading package lists..."),
                                    (OUT, "Setting up git (1:2.34.1-1ubuntu1.12) ...")]
            self.emit("apt-get install", 0, self.took("apt", 0.4), out)
            return 0
        self.emit("apt-get " + args[0], 0, 0.0, [])
        return 0

    # -- git --

    def git_fail(self, what: str, status: int, lines: list[str], seconds: float = 0.0) -> int:
        self.emit(what, status, seconds, [(ERR, ln) for ln in lines])
        return status

    def git_cmd(self, args: list[str]) -> int:
        cwd = self.cwd
        while args and args[0] == "-C":
            target = self.path(args[1]) if len(args) > 1 else cwd
            if not self.is_dir(target):
                return self.git_fail("git -C", 128, [f"fatal: cannot change to '{args[1]}': No such file or directory"])
            cwd, args = target, args[2:]
        if not args:
            return self.git_fail("git", 1, ["usage: git [--version] [--help] [-C <path>] <command> [<args>]"])
        sub, rest = args[0], args[1:]
        if sub == "clone":
            return self.git_clone(rest, cwd)
        if sub in ("version", "--version", "config", "init"):
            self.emit("git " + sub, 0, 0.0, [])
            return 0
        known = ("pull", "fetch", "checkout", "remote", "reset", "status", "log", "rev-parse", "switch", "branch",
                 "show", "diff", "clean", "submodule", "stash")
        if sub not in known:
            return self.git_fail("git " + sub, 1, [f"git: '{sub}' is not a git command. See 'git --help'."])
        found = self.checkout_of(cwd)
        if found is None:
            return self.git_fail("git " + sub, 128,
                                 ["fatal: not a git repository (or any of the parent directories): .git"])
        _, co = found
        quiet = "-q" in rest or "--quiet" in rest
        if sub == "remote":
            if rest[:2] == ["set-url", "origin"] and len(rest) >= 3:
                co.url = rest[2]
            self.emit("git remote", 0, 0.0, [])
            return 0
        if sub in ("pull", "fetch"):
            return self.git_pull(sub, rest, co, quiet)
        if sub in ("checkout", "switch", "reset"):
            return self.git_checkout(sub, rest, co, quiet)
        if sub == "rev-parse":
            status, out = self.git_rev_parse(rest, co)
            self.emit("git rev-parse", status, 0.0, out)
            return status
        self.emit("git " + sub, 0, 0.0, [])
        return 0

    def git_pull(self, sub: str, rest: list[str], co, quiet: bool) -> int:
        """`git pull` or `git fetch` in a checkout: the branch named (or the checkout's) from its remote."""
        repo = self.world.repos.get(repo_key(co.url))
        seconds = self.took("clone", 0.5)
        if repo is None:
            return self.git_fail("git " + sub, 128, ["remote: Repository not found.",
                                                     f"fatal: repository '{co.url.rstrip('/')}/' not found"],
                                 seconds)
        positional = [a for a in _strip_opts(rest, ("--depth",)) if not a.startswith("-")]
        if sub == "pull" and len(positional) < 2 and not co.branch:
            return self.git_fail("git pull", 1, ["You are not currently on a branch."], seconds)
        branch = positional[1] if len(positional) > 1 else co.branch
        at = self.now()
        if sub == "fetch" and _SHA.fullmatch(branch):
            # A fetch by sha: the server hands it out only if a branch holds it (uploadpack.allowReachableSHA1InWant).
            found = self.world.find_commit(co.url, branch, at)
            if found is None:
                return self.git_fail("git fetch", 128, [f"fatal: remote error: upload-pack: not our ref {branch}"],
                                     seconds)
            self.fetch_head = (co.url, found[0], branch)
            out = [] if quiet else [(ERR, f"From {co.url}"), (ERR, f" * branch            {branch} -> FETCH_HEAD")]
            self.emit("git fetch", 0, seconds, out)
            return 0
        head = self.world.head(co.url, branch, at) if branch in repo.branches else None
        if head is None:
            return self.git_fail("git " + sub, 1 if sub == "pull" else 128,
                                 [f"fatal: couldn't find remote ref {branch}"], seconds)
        if sub == "fetch":
            self.fetch_head = (co.url, branch, head.sha)
            out = [] if quiet else [(ERR, f"From {co.url}"), (ERR, f" * branch            {branch}     -> FETCH_HEAD")]
        else:
            up_to_date = co.commit == head.sha
            co.files, co.branch, co.commit = repo.branches[branch], branch, head.sha
            out = [] if quiet else [(OUT, "Already up to date." if up_to_date else "Fast-forward")]
        self.emit("git " + sub, 0, seconds, out)
        return 0

    def git_checkout(self, sub: str, rest: list[str], co, quiet: bool) -> int:
        """`git checkout`, `switch` or `reset` to a branch, origin/<branch> or FETCH_HEAD."""
        target = [a for a in rest if not a.startswith("-")]
        name = target[0] if target else co.branch
        start = target[-1] if target else co.branch
        creates = any(a in ("-B", "-b", "-C", "-c") for a in rest)
        # `git checkout FETCH_HEAD` (no -B): a detached HEAD at the fetched commit, on no branch.
        detached = sub == "checkout" and not creates and len(target) == 1 and start == "FETCH_HEAD"
        at = self.now()
        if start == "FETCH_HEAD" or start.startswith("origin/"):
            ref: tuple[str, str, str] | None = self.fetch_head
            if start != "FETCH_HEAD":
                found = self.world.head(co.url, start[len("origin/"):], at)
                ref = (co.url, start[len("origin/"):], found.sha) if found else None
            repo = self.world.repos.get(repo_key(ref[0])) if ref else None
            if ref is None or repo is None or ref[1] not in repo.branches:
                return self.git_fail("git " + sub, 128, [f"fatal: '{start}' is not a commit and a branch "
                                                         f"'{name}' cannot be created from it"])
            co.files, co.branch, co.commit = repo.branches[ref[1]], "" if detached else name, ref[2]
        elif sub != "reset":
            repo = self.world.repos.get(repo_key(co.url))
            head = self.world.head(co.url, start, at) if repo is not None and start in repo.branches else None
            if repo is None or head is None:
                return self.git_fail("git " + sub, 1, [f"error: pathspec '{start}' did not match any file(s) "
                                                       "known to git"])
            co.files, co.branch, co.commit = repo.branches[start], start, head.sha
        if quiet or sub == "reset":
            out = []
        elif detached:
            out = [(ERR, "Note: switching to 'FETCH_HEAD'."), (ERR, f"HEAD is now at {co.commit[:7]}")]
        else:
            out = [(ERR, f"Switched to and reset branch '{name}'")]
        self.emit("git " + sub, 0, 0.0, out)
        return 0

    def git_rev_parse(self, rest: list[str], co) -> tuple[int, list[tuple[int, str]]]:
        """`git rev-parse [--short] HEAD`: the sha checked out. Other forms are not modelled: refused."""
        if rest == ["HEAD"]:
            return 0, [(OUT, co.commit)]
        if rest == ["--short", "HEAD"]:
            return 0, [(OUT, co.commit[:7])]
        return 2, [(ERR, f"zeb sim: `git rev-parse {' '.join(rest)}` is not modelled")]

    def git_capture(self, args: list[str]) -> str:
        """`$(git ...)`: the command's stdout; its stderr goes to the log. Only rev-parse is modelled."""
        found = self.checkout_of(self.cwd)
        if args[:1] != ["rev-parse"]:
            self.emit("$(git)", 2, 0.0, [(ERR, f"zeb sim: `$(git {' '.join(args)})` is not modelled")])
            raise _Exit(2)
        if found is None:
            self.emit("$(git rev-parse)", 128, 0.0,
                      [(ERR, "fatal: not a git repository (or any of the parent directories): .git")])
            return ""
        status, out = self.git_rev_parse(args[1:], found[1])
        if status != 0:
            self.emit("$(git rev-parse)", status, 0.0, [x for x in out if x[0] == ERR])
            raise _Exit(status)
        return "\n".join(text for fd, text in out if fd == OUT)

    def git_clone(self, args: list[str], cwd: str) -> int:
        quiet = "-q" in args or "--quiet" in args
        branch = None
        positional: list[str] = []
        k = 0
        while k < len(args):
            a = args[k]
            if a in ("--branch", "-b"):
                branch = args[k + 1] if k + 1 < len(args) else None
                k += 2
                continue
            if a.startswith("--branch="):
                branch = a.split("=", 1)[1]
            elif a in ("--depth", "--origin", "-o", "--jobs", "-j"):
                k += 2
                continue
            elif not a.startswith("-"):
                positional.append(a)
            k += 1
        if not positional:
            return self.git_fail("git clone", 129, ["fatal: You must specify a repository to clone."])
        url = positional[0]
        dest_arg = positional[1] if len(positional) > 1 else posixpath.basename(repo_key(url))
        dest = posixpath.normpath(posixpath.join(cwd, dest_arg))
        if self.exists(dest) and (self.is_file(dest) or self.checkout_of(dest) or
                                   any(x.startswith(dest + "/") for x in (*self.dirs, *self.files))):
            return self.git_fail("git clone", 128, [f"fatal: destination path '{dest_arg}' already exists and is "
                                                    "not an empty directory."])
        head = [] if quiet else [f"Cloning into '{dest_arg}'..."]
        seconds = self.took("clone")
        repo = self.world.repos.get(repo_key(url))
        if repo is None:
            missing = ["remote: Repository not found.", f"fatal: repository '{url.rstrip('/')}/' not found"]
            return self.git_fail("git clone", 128, head + missing, seconds)
        branch = branch or repo.default
        if branch not in repo.branches:
            return self.git_fail("git clone", 128, head + [f"warning: Could not find remote branch {branch} to clone.",
                                                           f"fatal: Remote branch {branch} not found in upstream "
                                                           "origin"], seconds)
        tip = self.world.head(url, branch, self.now())
        assert tip is not None      # every branch has its initial commit
        self.checkouts[dest] = _Checkout(url, branch, repo.branches[branch], tip.sha)
        self.emit("git clone", 0, seconds, [(ERR, ln) for ln in head])
        return 0

    # -- pip, huggingface-cli, python --

    def pip(self, args: list[str]) -> int:
        if not args or args[0] != "install":
            self.emit("pip " + (args[0] if args else ""), 0, 0.0, [])
            return 0
        quiet = any(re.fullmatch(r"-q+|--quiet", a) for a in args)
        rest = _strip_opts(args[1:], ("--index-url", "-i", "--extra-index-url", "-c", "--constraint"))
        targets: list[str] = []
        editable = False
        k = 0
        while k < len(rest):
            a = rest[k]
            if a in ("-e", "--editable"):
                editable = True
                if k + 1 < len(rest):
                    targets.append(rest[k + 1])
                k += 2
                continue
            if a in ("-r", "--requirement"):
                req = rest[k + 1] if k + 1 < len(rest) else ""
                if not self.is_file(self.path(req)):
                    self.emit("pip install", 1, 1.0, [(ERR, "ERROR: Could not open requirements file: [Errno 2] No "
                                                             f"such file or directory: '{req}'")])
                    return 1
                k += 2
                continue
            if not a.startswith("-"):
                targets.append(a)
            k += 1
        for target in targets:
            if target.startswith((".", "/")) or editable:
                where = self.path(target)
                if not (self.is_file(where + "/setup.py") or self.is_file(where + "/pyproject.toml")):
                    text = (f"ERROR: file://{where} does not appear to be a Python project: neither 'setup.py' nor "
                            "'pyproject.toml' found.")
                    if not self.is_dir(where):
                        text = (f"ERROR: Invalid requirement: '{target}': Expected package name at the start of "
                                "dependency specifier")
                    self.emit("pip install", 1, 2.0, [(ERR, text)])
                    return 1
        names = [re.split(r"[\[<>=!~ ]", t)[0].lower().replace("-", "_") for t in targets]
        if "huggingface_hub" in names:
            self.hub = True
        out = [] if quiet else [(OUT, f"Collecting {t}") for t in targets] + \
            [(OUT, "Successfully installed " + " ".join(f"{t}-1.0" for t in targets))]
        self.emit("pip install", 0, self.took("pip"), out)
        return 0

    def hf_login(self, argv: list[str]) -> int:
        args = argv[1:]
        if argv[0] == "hf" and args[:1] == ["auth"]:
            args = args[1:]
        if args[:1] != ["login"]:
            self.emit(argv[0], 0, 0.5, [])
            return 0
        if "--token" in args:
            k = args.index("--token")
            if k + 1 >= len(args) or args[k + 1].startswith("--"):
                prog = "huggingface-cli" if argv[0] != "hf" else "hf"
                return self.git_fail(argv[0] + " login", 2, [f"usage: {prog} <command> [<args>] login [-h] "
                                                             "[--token TOKEN] [--add-to-git-credential]",
                                                             f"{prog} <command> [<args>]: error: argument --token: "
                                                             "expected one argument"])
        self.emit(argv[0] + " login", 0, self.durations.get("login", 1.5), [(OUT, "Login successful.")])
        return 0

    def python(self, args: list[str]) -> int:
        k = 0
        while k < len(args) and args[k] in ("-u", "-B", "-O", "-s", "-E", "-I"):
            k += 1
        rest = args[k:]
        if not rest:
            self.emit("python", 0, 0.0, [])
            return 0
        if rest[0] == "-c":
            return self.python_code(rest[1] if len(rest) > 1 else "")
        if rest[0] == "-m":
            module = rest[1] if len(rest) > 1 else ""
            if module == "pip":
                return self.pip(rest[2:])
            spec = _WORKERS.get(module)
            base = self.cwd
            top = module.split(".")[0]
            if spec is None and (top in _STD_MODULES or (top == "huggingface_hub" and self.hub)):
                self.emit("python -m " + module, 0, 0.5, [])
                return 0
            if spec is None or not self.is_file(posixpath.join(base, module.replace(".", "/") + ".py")):
                return self.python_fail(1, [self.no_module(module, base)])
            return self.worker(module, rest[2:])
        script = self.path(rest[0])
        if not self.is_file(script):
            return self.python_fail(2, [f"{PYTHON}: can't open file '{script}': [Errno 2] No such file or directory"])
        for module, _spec in _WORKERS.items():
            if script.endswith("/" + module.replace(".", "/") + ".py"):
                code_dir = script[: -len(module.replace(".", "/") + ".py") - 1]
                return self.worker(module, rest[1:], code_dir)
        self.emit("python", 0, 0.5, [])
        return 0

    def no_module(self, module: str, base: str) -> str:
        parts = module.split(".")
        for depth in range(1, len(parts)):
            package = "/".join(parts[:depth])
            if not self.is_dir(posixpath.join(base, package)):
                return (f"{PYTHON}: Error while finding module specification for '{module}' "
                        f"(ModuleNotFoundError: No module named '{'.'.join(parts[:depth])}')")
        return f"{PYTHON}: No module named {module}"

    def python_fail(self, status: int, lines: list[str], seconds: float = 0.5) -> int:
        self.emit("python", status, seconds, [(ERR, ln) for ln in lines])
        return status

    def python_code(self, code: str) -> int:
        if re.search(r"\b(import|from)\s+huggingface_hub\b", code) and not self.hub:
            return self.python_fail(1, ["Traceback (most recent call last):", '  File "<string>", line 1, in <module>',
                                        "ModuleNotFoundError: No module named 'huggingface_hub'"])
        if "torch.cuda" not in code:
            self.emit("python -c", 0, 0.5, [])
            return 0
        seconds = self.took("gpu")
        if not self.cuda and "is_available" in code:
            m = re.search(r"assert\s+torch\.cuda\.is_available\(\)\s*,\s*(['\"])(.*?)\1", code)
            if m is None:
                self.emit("python -c", 0, seconds, [(OUT, "False")] if "print" in code else [])
                return 0
            return self.python_fail(1, ["Traceback (most recent call last):", '  File "<string>", line 1, in <module>',
                                        f"AssertionError: {m.group(2)}"], seconds)
        device = f"NVIDIA GeForce {self.gpu_name}"
        out = []
        if "GPU OK" in code:
            out = [(OUT, f"GPU OK: {device}")]
        elif "get_device_name" in code and "print" in code:
            out = [(OUT, device)]
        self.emit("python -c", 0, seconds, out)
        return 0

    def worker(self, module: str, argv: list[str], code_dir: str | None = None) -> int:
        spec = _WORKERS[module]
        code_dir = code_dir or self.cwd
        path = f"{code_dir.rstrip('/')}/{module.replace('.', '/')}.py"
        prog = posixpath.basename(path)
        if not self.hub:
            return self.python_fail(1, [
                "Traceback (most recent call last):",
                '  File "<frozen runpy>", line 198, in _run_module_as_main',
                '  File "<frozen runpy>", line 88, in _run_code',
                f'  File "{path}", line 21, in <module>',
                "    from huggingface_hub import HfApi, hf_hub_download",
                "ModuleNotFoundError: No module named 'huggingface_hub'"])
        found = self.checkout_of(code_dir)
        commit = found[1].commit if found else ""
        fault = self.world.fault_of(found[1].url, commit) if found else None
        if fault == "bad_flag":
            # The broken commit's parser dropped --max-mcts-nodes, which the launch still passes.
            spec = tuple(o for o in spec if o.flag != "--max-mcts-nodes")
        parsed = parse_worker_args(spec, argv, prog)
        if isinstance(parsed, ArgError):
            return self.python_fail(2, list(parsed.lines))
        mode = "eval_aux" if module.endswith("run_eval_aux") else "selfplay"
        if mode == "eval_aux":
            checkpoint = str(parsed["checkpoint"])
            if not self.is_file(self.path(posixpath.join(code_dir, checkpoint))):
                return self.python_fail(1, [
                    f"Loading oracle checkpoint: {checkpoint}",
                    "Traceback (most recent call last):",
                    f'  File "{path}", line 112, in main',
                    "    oracle = load_oracle(args.checkpoint, device=args.device)",
                    f"FileNotFoundError: [Errno 2] No such file or directory: '{checkpoint}'"], self.took("start"))
        if str(parsed["device"]).startswith("cuda") and not self.cuda:
            return self.python_fail(1, [
                "Traceback (most recent call last):",
                f'  File "{path}", line 98, in main',
                "    model = model.to(args.device)",
                "RuntimeError: No CUDA GPUs are available"], self.took("start"))
        self.emit("python " + module, 0, self.took("start"), [])
        raise _Started(Worker(mode, module, parsed, code_dir, quiet=self.fds[OUT] != "log", commit=commit,
                              code_fault=fault))


def _strip_opts(args: list[str], with_value: tuple[str, ...]) -> list[str]:
    """Drop options that take a value, and their values, so the rest can be read positionally."""
    out: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in with_value:
            skip = True
            continue
        out.append(a)
    return out


# -- shell builtins --

def _echo(sh: _Shell, argv: list[str]) -> int:
    args = argv[1:]
    while args and args[0] in ("-n", "-e", "-E", "-ne", "-en"):
        args = args[1:]
    sh.emit("echo", 0, 0.0, [(OUT, " ".join(args))])
    return 0


def _cd(sh: _Shell, argv: list[str]) -> int:
    target = argv[1] if len(argv) > 1 else sh.vars.get("HOME", "/root")
    where = sh.path(target)
    if not sh.is_dir(where):
        sh.emit("cd", 1, 0.0, [(ERR, f"bash: line {sh.line}: cd: {target}: No such file or directory")])
        return 1
    sh.cwd = where
    sh.emit("cd", 0, 0.0, [])
    return 0


def _set(sh: _Shell, argv: list[str]) -> int:
    k = 1
    while k < len(argv):
        a = argv[k]
        if a in ("-o", "+o") and k + 1 < len(argv):
            on = a == "-o"
            if argv[k + 1] == "errexit":
                sh.errexit = on
            elif argv[k + 1] == "nounset":
                sh.nounset = on
            k += 2
            continue
        if a[:1] in ("-", "+"):
            on = a[0] == "-"
            if "e" in a:
                sh.errexit = on
            if "u" in a:
                sh.nounset = on
        k += 1
    sh.emit("set", 0, 0.0, [])
    return 0


def _exit(sh: _Shell, argv: list[str]) -> int:
    status = int(argv[1]) if len(argv) > 1 and argv[1].lstrip("-").isdigit() else sh.status
    sh.emit("exit", status, 0.0, [])
    raise _Exit(status)


def _false(sh: _Shell, argv: list[str]) -> int:
    sh.emit("false", 1, 0.0, [])
    return 1


def _command(sh: _Shell, argv: list[str]) -> int:
    if len(argv) >= 3 and argv[1] in ("-v", "-V"):
        found = sh.has_command(argv[2])
        out = [(OUT, argv[2] if argv[2] in _BUILTINS else f"/usr/bin/{argv[2]}")] if found else []
        sh.emit("command -v", 0 if found else 1, 0.0, out)
        return 0 if found else 1
    return sh.call(argv[1:], True) if len(argv) > 1 else 0


def _which(sh: _Shell, argv: list[str]) -> int:
    found = len(argv) > 1 and sh.has_command(argv[1])
    sh.emit("which", 0 if found else 1, 0.0, [(OUT, f"/usr/bin/{argv[1]}")] if found else [])
    return 0 if found else 1


def _test(sh: _Shell, argv: list[str]) -> int:
    args = argv[1:]
    if argv[0] == "[":
        if not args or args[-1] != "]":
            sh.emit("[", 2, 0.0, [(ERR, f"bash: line {sh.line}: [: missing `]'")])
            return 2
        args = args[:-1]
    try:
        ok = _evaluate_test(sh, args)
    except ValueError as exc:
        sh.emit("[", 2, 0.0, [(ERR, f"bash: line {sh.line}: [: {exc}")])
        return 2
    sh.emit("[", 0 if ok else 1, 0.0, [])
    return 0 if ok else 1


def _evaluate_test(sh: _Shell, args: list[str]) -> bool:
    if args and args[0] == "!":
        return not _evaluate_test(sh, args[1:])
    if not args:
        return False
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, x = args
        files = {"-d": lambda: sh.is_dir(sh.path(x)), "-f": lambda: sh.is_file(sh.path(x)),
                 "-e": lambda: sh.exists(sh.path(x)), "-s": lambda: sh.is_file(sh.path(x)),
                 "-x": lambda: sh.is_file(sh.path(x)), "-r": lambda: sh.exists(sh.path(x))}
        if op in files:
            return files[op]()
        if op == "-n":
            return x != ""
        if op == "-z":
            return x == ""
        raise ValueError(f"{op}: unary operator expected")
    if len(args) == 3:
        a, op, b = args
        if op in ("=", "=="):
            return a == b
        if op == "!=":
            return a != b
        numeric = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__,
                   "-gt": int.__gt__, "-ge": int.__ge__}
        if op in numeric:
            for v in (a, b):
                if not v.lstrip("-").isdigit():
                    raise ValueError(f"{v}: integer expression expected")
            return bool(numeric[op](int(a), int(b)))
        raise ValueError(f"{op}: binary operator expected")
    raise ValueError("too many arguments")


_BUILTINS: dict[str, Callable[[_Shell, list[str]], int]] = {
    "echo": _echo, "cd": _cd, "set": _set, "exit": _exit, "false": _false, "command": _command, "which": _which,
    "[": _test, "test": _test, "[[": _test,
}


# -- the worker's argument parsing -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Opt:
    flag: str
    kind: type | None            # str/int/float take a value; None: a store_true / store_false switch
    default: Any = None
    required: bool = False
    dest: str = ""
    store: bool = True           # for switches: the value stored when given

    @property
    def name(self) -> str:
        return self.dest or self.flag[2:].replace("-", "_")


@dataclass(frozen=True)
class ArgError:
    lines: tuple[str, ...]


_COMMON_HEAD = (Opt("--repo-id", str, required=True), Opt("--examples-repo-id", str), Opt("--output-dir", str),
                Opt("--worker-id", str, "worker-0"))
SELFPLAY_OPTS: tuple[Opt, ...] = _COMMON_HEAD + (
    Opt("--n-parallel-games", int, 128), Opt("--n-simulations", int, 200), Opt("--max-mcts-nodes", int, 512),
    Opt("--temperature", float, 1.0), Opt("--games-per-batch", int, 256), Opt("--weight-sync-interval", int, 10),
    Opt("--upload-interval", int, 240), Opt("--weights-name", str), Opt("--device", str, "cuda"),
)
EVAL_AUX_OPTS: tuple[Opt, ...] = (
    Opt("--repo-id", str, required=True), Opt("--examples-repo-id", str), Opt("--output-dir", str),
    Opt("--checkpoint", str, ORACLE_CHECKPOINT), Opt("--worker-id", str, "worker-0"), Opt("--n-samples", int, 100),
    Opt("--games-per-batch", int, 128), Opt("--eval-batch-size", int, 0), Opt("--zeb-temperature", float, 0.1),
    Opt("--eq-policy-targets", None, False, dest="eq_policy_targets", store=True),
    Opt("--no-eq-policy-targets", None, False, dest="eq_policy_targets", store=False),
    Opt("--base-seed", int, 0), Opt("--weight-sync-interval", int, 5), Opt("--upload-interval", int, 240),
    Opt("--weights-name", str), Opt("--device", str, "cuda"),
)
_WORKERS: dict[str, tuple[Opt, ...]] = {"forge.zeb.worker.run": SELFPLAY_OPTS,
                                        "forge.zeb.worker.run_eval_aux": EVAL_AUX_OPTS}


def _usage(opts: tuple[Opt, ...], prog: str) -> list[str]:
    """argparse's usage line, wrapped as argparse wraps it (continuation lines under the first option)."""
    parts = ["[-h]"]
    for o in opts:
        metavar = o.name.upper()
        text = o.flag if o.kind is None else f"{o.flag} {metavar}"
        parts.append(text if o.required else f"[{text}]")
    head = f"usage: {prog} "
    lines, current = [], head
    for part in parts:
        if len(current) + len(part) > 78 and current.strip() != head.strip():
            lines.append(current.rstrip())
            current = " " * len(head)
        current += part + " "
    lines.append(current.rstrip())
    return lines


def parse_worker_args(opts: tuple[Opt, ...], argv: list[str], prog: str = "run.py") -> dict[str, Any] | ArgError:
    """Parse like the worker's argparse: exact or unique-prefix long options, `--opt value` and `--opt=value`,
    typed values, required options, unknown arguments, then the worker's own examples/output rule."""
    def fail(message: str) -> ArgError:
        return ArgError(tuple(_usage(opts, prog)) + (f"{prog}: error: {message}",))

    by_flag = {o.flag: o for o in opts}
    values: dict[str, Any] = {o.name: o.default for o in opts}
    seen: set[str] = set()
    extras: list[str] = []
    k = 0
    while k < len(argv):
        arg = argv[k]
        k += 1
        if not arg.startswith("-") or arg == "-" or re.fullmatch(r"-\d+(\.\d*)?", arg):
            extras.append(arg)
            continue
        if arg in ("-h", "--help"):
            return ArgError(tuple(_usage(opts, prog)))
        flag, eq, inline = arg.partition("=")
        opt = by_flag.get(flag)
        if opt is None and flag.startswith("--"):
            matches = [o for f, o in by_flag.items() if f.startswith(flag)]
            if len(matches) > 1:
                return fail(f"ambiguous option: {flag} could match {', '.join(o.flag for o in matches)}")
            opt = matches[0] if matches else None
        if opt is None:
            extras.append(arg)
            continue
        seen.add(opt.flag)
        if opt.kind is None:
            if eq:
                return fail(f"argument {opt.flag}: ignored explicit argument '{inline}'")
            values[opt.name] = opt.store
            continue
        if eq:
            raw = inline
        elif k < len(argv) and not (argv[k].startswith("-") and argv[k] != "-"
                                    and not re.fullmatch(r"-\d+(\.\d*)?", argv[k])):
            raw = argv[k]
            k += 1
        else:
            return fail(f"argument {opt.flag}: expected one argument")
        if opt.kind in (int, float):
            try:
                values[opt.name] = opt.kind(raw)
            except ValueError:
                return fail(f"argument {opt.flag}: invalid {opt.kind.__name__} value: '{raw}'")
        else:
            values[opt.name] = raw
    missing = [o.flag for o in opts if o.required and o.flag not in seen]
    if missing:
        return fail(f"the following arguments are required: {', '.join(missing)}")
    if extras:
        return fail(f"unrecognized arguments: {' '.join(extras)}")
    if not values.get("examples_repo_id") and not values.get("output_dir"):
        return fail("Either --examples-repo-id or --output-dir is required")
    return values


# -- known-good launches -------------------------------------------------------------------------------------

# The user's launch in its self-play shape, with zeb's onstart structure (config.DEFAULT_ONSTART) and the
# fleet's values as defaults: the worker image already holds the code, so the script refreshes it to the
# branch's head (or the pinned ZEB_GIT_COMMIT), says which commit it runs, checks the GPU and starts the
# worker. Used for instances that exist when a scenario starts and wherever the sim builds a create body.
KNOWN_GOOD_ONSTART = r"""#!/bin/bash
set -e
echo "=== Setup started at $(date) ==="
if [ -d /root/code/.git ]; then
    cd /root/code
    git remote set-url origin "${ZEB_GIT_REPO:-https://github.com/jasonyandell/mk5-main.git}"
    git fetch -q --depth 1 origin "${ZEB_GIT_BRANCH:-forge}" &&
        git checkout -q -B "${ZEB_GIT_BRANCH:-forge}" FETCH_HEAD && echo "code updated" ||
        echo "code update failed; running the image's code"
else
    git clone -q --depth 1 --branch "${ZEB_GIT_BRANCH:-forge}" \
        "${ZEB_GIT_REPO:-https://github.com/jasonyandell/mk5-main.git}" /root/code
    echo "repo cloned"
    pip install -q huggingface_hub
    echo "deps installed"
fi
cd /root/code
if [ -n "$ZEB_GIT_COMMIT" ]; then
    git fetch -q --depth 1 origin "$ZEB_GIT_COMMIT"
    git checkout -q FETCH_HEAD
fi
echo "code at $(git rev-parse HEAD) (${ZEB_GIT_BRANCH:-forge})"
python -c "import torch; assert torch.cuda.is_available(), 'No CUDA'; print('GPU OK:', torch.cuda.get_device_name(0))"
echo "=== Starting worker ${WORKER_ID:-worker-vast-0} at $(date) ==="
exec python -u -m forge.zeb.worker.run \
    --repo-id "${ZEB_REPO_ID:-jasonyandell/zeb-42}" \
    --examples-repo-id "${ZEB_EXAMPLES_REPO_ID:-jasonyandell/zeb-42-examples}" \
    --worker-id "${WORKER_ID:-worker-vast-0}" \
    --device cuda \
    --n-parallel-games 128 \
    --n-simulations 200 \
    --max-mcts-nodes 512 \
    --games-per-batch 256 \
    --weights-name "${ZEB_WEIGHTS_NAME:-zeb-557k-1m}" \
    --weight-sync-interval 2 \
    --upload-interval "${ZEB_UPLOAD_INTERVAL:-240}"
"""

KNOWN_GOOD_LAUNCH: Mapping[str, Any] = {
    "image": "jasonyandell/zeb-worker:latest",
    "disk": 15,
    "onstart": KNOWN_GOOD_ONSTART,
    "env": {"HF_TOKEN": "hf_sim_token", "ZEB_REPO_ID": "jasonyandell/zeb-42",
            "ZEB_EXAMPLES_REPO_ID": "jasonyandell/zeb-42-examples", "ZEB_WEIGHTS_NAME": "zeb-557k-1m",
            "ZEB_UPLOAD_INTERVAL": "240", "ZEB_WORKER_MODE": "selfplay"},
}


def known_good_body(label: str | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A create body built on KNOWN_GOOD_LAUNCH: its env, overridden by `env`, and `label`."""
    body = dict(KNOWN_GOOD_LAUNCH)
    body["env"] = {**KNOWN_GOOD_LAUNCH["env"], **(env or {})}
    body["label"] = label
    return body


__all__ = [
    "CODE_FAULTS",
    "EVAL_AUX_OPTS",
    "HUB_FAULTS",
    "IMAGES",
    "KNOWN_GOOD_LAUNCH",
    "KNOWN_GOOD_ONSTART",
    "REPOS",
    "SELFPLAY_OPTS",
    "WORLD",
    "ArgError",
    "Commit",
    "HubWindow",
    "Image",
    "ImageWindow",
    "Plan",
    "Repo",
    "Step",
    "Worker",
    "World",
    "commit_sha",
    "image_name",
    "known_good_body",
    "parse_worker_args",
    "pull_error",
    "run_onstart",
    "stamp",
]
