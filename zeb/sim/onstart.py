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
        source = script.splitlines()[exc.line - 1] if 0 < exc.line <= len(script.splitlines()) else ""
        lines = (line, f"bash: line {exc.line}: `{source}'")     # bash quotes the line it gave up on
        return Plan((Step("bash", 0.0, lines, 2, exc.line),), None, 2, lines)
    except _Refused as refused:
        return Plan((Step("simulator", 0.0, (refused.message,), REFUSED_STATUS, refused.line),), None,
                    REFUSED_STATUS, (refused.message,))
    status: int | None
    try:
        status = shell.run_list(tree)
    except _Exit as done:
        status = done.status
    except _Started as started:
        return Plan(tuple(shell.steps), started.worker, None)
    except _Refused as refused:
        shell.steps.append(Step("simulator", 0.0, (refused.message,), REFUSED_STATUS, refused.line))
        return Plan(tuple(shell.steps), None, REFUSED_STATUS, (refused.message,))
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


# How a script the model cannot run exactly ends: not a bash status (bash would have run it), so a test or a
# log reader never mistakes it for one; the instance never produces.
REFUSED_STATUS = 98


class _Refused(Exception):
    """A construct the model does not implement: the script stops here, rather than run on a guess."""

    def __init__(self, construct: str, line: int) -> None:
        self.construct, self.line = construct, line
        self.message = f"the simulator cannot run this construct: {construct} (line {line})"
        super().__init__(self.message)


_REDIR = re.compile(r"(\d*)(<<<|<<-|<<|&>>|>>|>&|<&|&>|>\||<>|>|<)")
# Redirections bash has and the model does not: their effect on files and descriptors is not modelled.
_REDIR_REFUSED = {"<<": "here-document <<", "<<-": "here-document <<-", "<<<": "here-string <<<",
                  "&>>": "redirection &>>", ">|": "redirection >|", "<>": "redirection <>", "<&": "redirection <&"}
_OPS = ("&&", "||", ";;", ";", "|&", "|", "&", "((", "(", ")")


class _LexRefusal(Exception):
    def __init__(self, construct: str, pos: int) -> None:
        super().__init__(construct)
        self.construct, self.pos = construct, pos


def _lex(text: str, first_line: int = 1) -> list[_Tok]:
    try:
        return _lex_tokens(text, first_line)
    except _LexRefusal as exc:
        raise _Refused(exc.construct, first_line + text.count("\n", 0, exc.pos)) from None


def _lex_tokens(text: str, first_line: int) -> list[_Tok]:
    toks: list[_Tok] = []
    i, line, n = 0, first_line, len(text)
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
        if text.startswith(("<(", ">("), i):
            j = _skip_balanced(text, i + 1)
            # Only `> >(tee ...)`, the onstart's own log line: its output goes on to the log.
            after_out = toks and toks[-1].kind == "redir" and toks[-1].text.lstrip("0123456789") in (">", ">>")
            if not (after_out and re.match(r">\(\s*tee\b", text[i:j])):
                raise _LexRefusal(f"process substitution {text[i:i + 2]}...)", i)
            toks.append(_Tok("word", text[i:j], line))
            line += text.count("\n", i, j)
            i = j
            continue
        m = _REDIR.match(text, i)
        if m:
            if m.group(2) in _REDIR_REFUSED:
                raise _LexRefusal(_REDIR_REFUSED[m.group(2)], i)
            toks.append(_Tok("redir", m.group(0), line))
            i = m.end()
            continue
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op is not None:
            if op == "((":
                raise _LexRefusal("arithmetic command (( ))", i)
            if op == "|&":
                raise _LexRefusal("pipe |&", i)
            toks.append(_Tok("op", op, line))
            i += len(op)
            continue
        j, end_line = _word_end(text, i, line)
        toks.append(_Tok("word", text[i:j], line))
        i, line = j, end_line
    toks.append(_Tok("op", "\n", line))
    return toks


def _word_end(text: str, j: int, line: int) -> tuple[int, int]:
    """(index just past the word starting at j, the line it ends on): quotes, escapes, $(...) and ${...}
    keep a word going past blanks and newlines."""
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
        elif ch == "`":
            raise _LexRefusal("backtick command substitution `...`", j)
        elif text.startswith(("$'", '$"'), j):
            raise _LexRefusal(f"{text[j:j + 2]}...{text[j + 1]} quoting", j)
        elif text.startswith("$(", j):
            k = _skip_balanced(text, j + 1)
            line += text.count("\n", j, k)
            j = k
        elif text.startswith("${", j):
            k = _skip_brace(text, j + 1)
            line += text.count("\n", j, k)
            j = k
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
        elif ch == "`":
            raise _LexRefusal("backtick command substitution `...`", j)
        elif text.startswith("$(", j):
            j = _skip_balanced(text, j + 1)
        elif text.startswith("${", j):
            j = _skip_brace(text, j + 1)
        else:
            j += 1
    raise _SyntaxError('"', text.count("\n", 0, n) + 1)


def _skip_brace(text: str, j: int) -> int:
    """j is at the "{" of "${": the index just past its matching "}" (nested ${...}, $(...), quotes)."""
    n = len(text)
    j += 1
    while j < n:
        ch = text[j]
        if ch == "}":
            return j + 1
        if ch == "\\":
            j += 2
        elif ch == "'":
            k = text.find("'", j + 1)
            j = n if k < 0 else k + 1
        elif ch == '"':
            j = _skip_double(text, j + 1)
        elif ch == "`":
            raise _LexRefusal("backtick command substitution `...`", j)
        elif text.startswith("$(", j):
            j = _skip_balanced(text, j + 1)
        elif text.startswith("${", j):
            j = _skip_brace(text, j + 1)
        else:
            j += 1
    raise _SyntaxError("${", text.count("\n", 0, n) + 1)


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
class _For:                          # for NAME in WORDS; do BODY; done
    name: str
    words: list[str]
    body: list
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
# Reserved words and command forms bash has and the model does not run: each is refused by name.
_KEYWORDS_REFUSED = {"while": "while loop", "until": "until loop", "case": "case statement",
                     "select": "select loop", "function": "function definition", "{": "brace group { ...; }",
                     "}": "brace group { ...; }", "[[": "[[ ]] conditional", "]]": "[[ ]] conditional",
                     "time": "time pipeline", "coproc": "coproc", "in": "reserved word in"}


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
            if tok is not None and tok.kind == "op" and tok.text == "&":
                raise _Refused("background job &", tok.line)
            if tok is not None and tok.kind == "op" and tok.text in ("\n", ";"):
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
        if tok.kind == "word" and tok.text == "for":
            return self.for_()
        if tok.kind == "word" and tok.text in _KEYWORDS_REFUSED:
            raise _Refused(_KEYWORDS_REFUSED[tok.text], tok.line)
        if tok.kind == "op":
            raise _SyntaxError("newline" if tok.text == "\n" else tok.text, tok.line)
        nxt = self.toks[self.pos + 1] if self.pos + 1 < len(self.toks) else None
        if nxt is not None and nxt.kind == "op" and nxt.text == "(":
            if re.fullmatch(r"[A-Za-z_][\w-]*", tok.text):
                raise _Refused("function definition", tok.line)
            if tok.text.endswith("=") and re.fullmatch(r"[A-Za-z_]\w*\+?=", tok.text):
                raise _Refused("array assignment", tok.line)
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

    def for_(self) -> _For:
        line = self.take().line
        name = self.peek()
        if name is None or name.kind != "word" or not re.fullmatch(r"[A-Za-z_]\w*", name.text):
            if name is not None and name.kind == "op" and name.text in ("(", "(("):
                raise _Refused("arithmetic for loop for ((...))", line)
            raise _SyntaxError(name.text if name else "end of file", name.line if name else line)
        self.pos += 1
        tok = self.peek()
        if tok is None or tok.kind != "word" or tok.text != "in":
            raise _Refused("for loop without `in WORDS`", line)
        self.pos += 1
        words: list[str] = []
        while (tok := self.peek()) is not None and tok.kind in ("word", "redir"):
            if tok.kind == "redir":
                raise _SyntaxError(tok.text, tok.line)
            words.append(self.take().text)
        self.skip_newlines()
        self.expect("do")
        body = self.list_()
        self.expect("done")
        return _For(name.text, words, body, self.redirs(), line)


# -- running -------------------------------------------------------------------------------------------------

class _Exit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _LoopControl(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


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
_NAME = re.compile(r"[A-Za-z_]\w*|[?$#0-9@*!-]")
_SHA = re.compile(r"[0-9a-f]{40}")
# Special parameters the model has no value for ($@ and $* of a script without arguments are simple, but
# "$@" makes no field at all, which the expansion does not model).
_SPECIAL_REFUSED = frozenset({"@", "*", "!", "-", "_"})
# Variables bash itself sets or changes as it runs: their values are not modelled.
_DYNAMIC_VARS = frozenset({
    "RANDOM", "SRANDOM", "LINENO", "SECONDS", "EPOCHSECONDS", "EPOCHREALTIME", "BASHPID", "PPID", "UID", "EUID",
    "GROUPS", "BASH", "BASH_VERSION", "BASH_VERSINFO", "BASH_SOURCE", "BASH_LINENO", "BASH_COMMAND",
    "BASH_SUBSHELL", "BASH_ARGV", "BASH_ARGC", "BASHOPTS", "SHELLOPTS", "PIPESTATUS", "FUNCNAME", "SHLVL",
    "OLDPWD", "HOSTNAME", "HOSTTYPE", "OSTYPE", "MACHTYPE", "DIRSTACK", "IFS", "OPTIND", "OPTARG", "REPLY",
})
# The account and token name the model's Hub gives every token.
_HF_USER = "zeb-sim"
_HF_TOKEN_NAME = "zeb-sim-write"
# Modules a pytorch image can run with `python -m` besides the worker's.
_STD_MODULES = frozenset({"pip", "torch", "http", "json", "venv", "ensurepip", "site", "platform", "timeit"})
_HARMLESS = frozenset({"true", ":", "sleep", "mkdir", "rm", "export", "tee", "nvidia-smi", "touch", "chmod",
                       "chown", "cat", "wait", "unset", "df", "free", "ulimit", "sync", "umask", "pwd", "whoami",
                       "hostname", "nproc"})
_ALWAYS = frozenset({"python", "python3", "pip", "pip3", "apt-get", "apt", "nvidia-smi", "date", "echo", "cd", "tee",
                     "cat", "mkdir", "rm", "sleep", "test", "true", "false"})
# Commands that print what the model does not know: allowed only with their output thrown away.
_SILENT_PRINTERS = frozenset({"nvidia-smi", "cat", "df", "free"})
# Builtins and programs every image has whose behaviour the model does not know: refused by name, never
# "command not found".
_REFUSED_COMMANDS: dict[str, str] = {
    **{b: f"bash builtin {b}" for b in (
        "source", ".", "eval", "trap", "read", "shift", "local", "declare", "typeset", "readonly", "let", "alias",
        "unalias", "shopt", "getopts", "pushd", "popd", "dirs", "kill", "return", "type", "hash", "builtin",
        "enable", "disown", "jobs", "fg", "bg", "suspend", "logout", "caller", "compgen", "complete", "mapfile",
        "readarray", "printf", "times", "help", "history", "fc")},
    **{c: f"command {c} (not modelled)" for c in (
        "grep", "egrep", "fgrep", "sed", "awk", "head", "tail", "sort", "uniq", "wc", "cut", "tr", "xargs", "find",
        "curl", "wget", "tar", "gzip", "gunzip", "unzip", "zip", "uname", "id", "ps", "pkill", "pgrep", "killall",
        "basename", "dirname", "readlink", "realpath", "stat", "du", "seq", "timeout", "nohup", "sh", "bash",
        "dash", "env", "cp", "mv", "ln", "ls", "stdbuf", "sudo", "su", "ssh", "scp", "rsync", "make", "jq",
        "conda", "nvcc", "git-lfs", "tput", "yes", "md5sum", "sha256sum", "base64", "mktemp", "install",
        "diff", "cmp", "file", "less", "more", "watch", "top", "htop", "lsof", "netstat", "ping", "nc",
        "screen", "tmux", "crontab", "service", "systemctl", "useradd", "chgrp", "dd", "mount", "umount",
        "uv", "pipx", "hf_transfer", "ldconfig", "update-alternatives", "locale", "python2")},
}


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
        self.pipefail = False
        self.loops = 0                    # how many for loops the running command is inside
        self.captures: list[list[str]] = []   # the output of each $(...) being run, innermost last
        self.hf_login: bool = False       # `hf auth login` stored a token
        self.hf_hinted = False            # `hf` printed its one-a-day skill hint
        self.subst_status = 0             # the status of the newest $(...)
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
        if len(pipe.commands) == 1:
            status = self.run_command(pipe.commands[0], checked or pipe.negate)
        else:
            status = self.run_piped(pipe.commands, checked or pipe.negate)
        if pipe.negate:
            status = 0 if status else 1
        if status != 0 and self.errexit and not checked:
            raise _Exit(status)
        return status

    def run_piped(self, commands: list, checked: bool) -> int:
        """A pipeline into `tee` or `cat`, the only sinks the model knows: what the others print passes on
        unchanged. Each command runs in a subshell of its own, as bash runs them."""
        last = commands[-1]
        if not (isinstance(last, _Simple) and last.words and
                ((last.words[0] == "tee" and all(w == "-a" or not w.startswith("-") for w in last.words[1:]))
                 or last.words == ["cat"])):
            first = last.words[0] if isinstance(last, _Simple) and last.words else "a compound command"
            raise _Refused(f"pipeline into {first}", self.line_of(last))
        saved = dict(self.fds)
        try:
            self.apply_redirs(last.redirs)
            sink = self.fds[OUT]
        finally:
            self.fds = saved
        statuses = []
        for k, cmd in enumerate(commands):
            state = (dict(self.vars), self.cwd, self.errexit, self.nounset, self.pipefail, dict(self.fds))
            if k < len(commands) - 1:
                self.fds[OUT] = sink
            try:
                statuses.append(self.run_command(cmd, checked))
            except _Exit as done:
                statuses.append(done.status)
            finally:
                self.vars, self.cwd, self.errexit, self.nounset, self.pipefail, self.fds = state
        if self.pipefail:
            return next((st for st in reversed(statuses) if st != 0), 0)
        return statuses[-1]

    @staticmethod
    def line_of(cmd: Any) -> int:
        return int(getattr(cmd, "line", 0))

    def run_for(self, cmd: _For, checked: bool) -> int:
        self.line = cmd.line
        status = 0
        self.loops += 1
        try:
            for word in self.expand(cmd.words):
                self.vars[cmd.name] = word
                try:
                    status = self.run_list(cmd.body, checked)
                except _LoopControl as ctl:
                    status = 0
                    if ctl.kind == "break":
                        break
        finally:
            self.loops -= 1
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
            if isinstance(cmd, _For):
                return self.run_for(cmd, checked)
            for cond, body in cmd.clauses:
                if self.run_list(cond, checked=True) == 0:
                    return self.run_list(body, checked)
            return self.run_list(cmd.orelse, checked) if cmd.orelse is not None else 0
        finally:
            self.fds = saved

    def run_group(self, cmd: _Group, checked: bool) -> int:
        # A subshell: variables, options and the directory are its own; the filesystem is shared.
        saved = (dict(self.vars), self.cwd, self.errexit, self.nounset, self.pipefail, self.loops)
        self.loops = 0      # `break` in a subshell does not leave the loop around it
        try:
            return self.run_list(cmd.body, checked)
        except _Exit as done:
            return done.status
        finally:
            self.vars, self.cwd, self.errexit, self.nounset, self.pipefail, self.loops = saved

    def apply_redirs(self, redirs: list[tuple[str, str]]) -> None:
        for op, target in redirs:
            m = _REDIR.fullmatch(op)
            assert m is not None
            fd_text, kind = m.groups()
            if kind == "<":
                if self.expand_one(target) != "/dev/null":
                    raise _Refused(f"input redirection < {target}", self.line)
                continue
            if kind == ">&":
                if not target.isdigit():
                    raise _Refused(f"redirection >& {target}", self.line)
                self.fds[int(fd_text or 1)] = self.fds.get(int(target), "log")
                continue
            where = self.redirect_target(target)
            if kind == "&>":
                self.fds[OUT] = self.fds[ERR] = where
            else:
                self.fds[int(fd_text or 1)] = where

    def redirect_target(self, target: str) -> str:
        if target.startswith(">("):
            return "log"        # the lexer lets through only >(tee ...), whose output is the log
        fields = self.expand_word(target, split=True)
        if len(fields) != 1:
            raise _Refused(f"ambiguous redirect {target}", self.line)
        if fields[0] == "/dev/null":
            return "null"
        self.files.add(self.path(fields[0]))
        return "file"

    # -- output and time --

    def emit(self, command: str, status: int, seconds: float, out: list[tuple[int, str]]) -> None:
        lines: list[str] = []
        for fd, text in out:
            sink = self.fds.get(fd, "log")
            for piece in text.split("\n"):      # one text may be several lines (echo "a\nb")
                if sink == "log":
                    lines.append(piece)
                elif sink == "capture" and self.captures:
                    self.captures[-1].append(piece)
        self.elapsed += seconds
        self.steps.append(Step(command, seconds, tuple(lines), status, self.line))

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
        """An assignment's value: expanded, never split or globbed."""
        return self.expand_word(word, split=False)[0]

    def expand_word(self, word: str, split: bool = True) -> list[str]:
        """Tilde, parameter, arithmetic and command expansion, quote removal, and (when `split`) field
        splitting of unquoted results. Brace expansion and globs are refused, never left literal."""
        pieces: list[tuple[str, bool, bool]] = []   # (text, split: an unquoted expansion, unquoted)
        quoted = False
        i, n = 0, len(word)
        while i < n:
            ch = word[i]
            if ch == "'":
                k = word.index("'", i + 1)
                pieces.append((word[i + 1:k], False, False))
                quoted, i = True, k + 1
            elif ch == '"':
                k = _skip_double(word, i + 1)
                pieces.append((self.expand_double(word[i + 1:k - 1]), False, False))
                quoted, i = True, k
            elif ch == "\\":
                pieces.append((word[i + 1:i + 2], False, False))
                i += 2
            elif ch == "$":
                text, i = self.dollar(word, i)
                pieces.append((text, True, True))
            else:
                k = i
                while k < n and word[k] not in "'\"\\$":
                    k += 1
                text = word[i:k]
                if i == 0 and text.startswith("~"):
                    head = text.split("/", 1)[0]
                    if head != "~":
                        raise _Refused(f"tilde expansion {head}", self.line)
                    if split:
                        text = self.vars.get("HOME", "/root") + text[1:]
                if not split and ":~" in text:
                    raise _Refused("tilde expansion after : in an assignment", self.line)
                pieces.append((text, False, True))
                i = k
        if not split:      # an assignment: no brace expansion, splitting or globbing
            return ["".join(text for text, _, _ in pieces)]
        # Brace expansion sees the word's own unquoted text; globs see every unquoted character, expansions
        # included (quoted characters stand as NUL, which no pattern character is).
        own = "".join(text if unquoted and not split_ else "\0" for text, split_, unquoted in pieces)
        if re.search(r"\{[^}\0]*(,|\.\.)[^}\0]*\}", own):
            raise _Refused(f"brace expansion in {word}", self.line)
        view = "".join(text if unquoted else "\0" * len(text) for text, _, unquoted in pieces)
        if re.search(r"[*?]|\[[^\]]+\]", view):
            raise _Refused(f"pathname expansion (glob) in {word}", self.line)
        fields: list[str] = []
        current: str | None = None
        for text, splittable, _ in pieces:
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
        if text.startswith("$((", i):
            k = _skip_balanced(text, i + 1)
            if text[k - 2:k] == "))":
                return self.arithmetic(text[i + 3:k - 2]), k
        if text.startswith("$(", i):
            k = _skip_balanced(text, i + 1)
            return self.substitute(text[i + 2:k - 1]), k
        if text.startswith("${", i):
            k = _skip_brace(text, i + 1)
            return self.parameter(text[i + 2:k - 1]), k
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
        if name == "0":
            return "bash"
        if name == "PWD":
            return self.cwd
        if name in _SPECIAL_REFUSED or (name in _DYNAMIC_VARS and name not in self.vars):
            raise _Refused(f"special parameter ${name}", self.line)
        if name not in self.vars and self.nounset:
            shown = f"${name}" if name.isdigit() else name
            self.emit("bash", 1, 0.0, [(ERR, f"bash: line {self.line}: {shown}: unbound variable")])
            raise _Exit(1)
        return self.vars.get(name, "")

    def parameter(self, inner: str) -> str:
        construct = f"parameter expansion ${{{inner if len(inner) <= 40 else inner[:37] + '...'}}}"
        m = re.fullmatch(r"#([A-Za-z_]\w*|\d+)", inner)
        if m:
            return str(len(self.lookup(m.group(1))))
        m = re.fullmatch(r"([A-Za-z_]\w*|\d+|[?$#])(?:(:?[-=+?])(.*))?", inner, re.DOTALL)
        if not m:
            raise _Refused(construct, self.line)
        name, op, rest = m.groups()
        if op is None:
            return self.lookup(name)
        if "'" in rest or '"' in rest:
            raise _Refused(construct, self.line)     # quotes inside ${...}: their removal is not modelled
        if not re.fullmatch(r"[A-Za-z_]\w*|\d+", name) or name in _DYNAMIC_VARS or name in ("PWD", "0"):
            raise _Refused(construct, self.line)
        value = self.vars.get(name)
        empty = value is None or (op.startswith(":") and value == "")
        if op.endswith("+"):
            return "" if empty else self.expand_double(rest)
        if op.endswith("?"):
            if not empty:
                return value or ""
            why = self.expand_double(rest) or ("parameter null or not set" if op == ":?" else "parameter not set")
            self.emit("bash", 1, 0.0, [(ERR, f"bash: line {self.line}: {name}: {why}")])
            raise _Exit(1)
        if empty:
            default = self.expand_double(rest)
            if op.endswith("="):
                if name.isdigit():
                    raise _Refused(construct, self.line)
                self.vars[name] = default
            return default
        return value or ""

    def arithmetic(self, expression: str) -> str:
        """$((...)) over integers: + - * / % and parentheses, decimal numbers and variables holding them."""
        text = self.expand_double(expression)
        construct = f"arithmetic $(({expression}))"
        if "++" in text or "--" in text:
            raise _Refused(construct, self.line)
        toks = re.findall(r"\s*(\d+|[A-Za-z_]\w*|[-+*/%()]|\S)", text)
        if "".join(toks).replace(" ", "") != re.sub(r"\s+", "", text):
            raise _Refused(construct, self.line)
        pos = 0

        def number(tok: str) -> int:
            if tok.isdigit():
                if len(tok) > 1 and tok.startswith("0"):
                    raise _Refused(construct + " (octal)", self.line)
                return int(tok)
            value = self.vars.get(tok, "").strip()
            if tok in _DYNAMIC_VARS:
                raise _Refused(construct, self.line)
            if value == "":
                return 0
            if not re.fullmatch(r"-?(0|[1-9]\d*)", value):
                raise _Refused(construct + f" (the value of {tok})", self.line)
            return int(value)

        def peek() -> str | None:
            return toks[pos] if pos < len(toks) else None

        def primary() -> int:
            nonlocal pos
            tok = peek()
            if tok is None:
                raise _Refused(construct, self.line)
            pos += 1
            if tok in ("+", "-"):
                v = primary()
                return -v if tok == "-" else v
            if tok == "(":
                v = sum_()
                if peek() != ")":
                    raise _Refused(construct, self.line)
                pos += 1
                return v
            if re.fullmatch(r"\d+|[A-Za-z_]\w*", tok):
                return number(tok)
            raise _Refused(construct, self.line)

        def product() -> int:
            nonlocal pos
            v = primary()
            while peek() in ("*", "/", "%"):
                op = toks[pos]
                pos += 1
                w = primary()
                if op == "*":
                    v *= w
                elif w == 0:
                    raise _Refused(construct + " (division by 0)", self.line)
                else:
                    q = abs(v) // abs(w) * (1 if (v < 0) == (w < 0) else -1)   # C's truncation
                    v = q if op == "/" else v - w * q
            return v

        def sum_() -> int:
            nonlocal pos
            v = product()
            while peek() in ("+", "-"):
                op = toks[pos]
                pos += 1
                w = product()
                v = v + w if op == "+" else v - w
            return v

        toks = [t.strip() for t in toks]
        if not toks:
            return "0"
        result = sum_()
        if pos != len(toks) or not -(2 ** 63) <= result < 2 ** 63:
            raise _Refused(construct, self.line)
        return str(result)

    def substitute(self, command: str) -> str:
        """$(...): the commands run in a subshell (without set -e, as bash runs them) and their standard
        output, trailing newlines removed, is the value."""
        tree = _Parser(_lex(command, self.line)).parse()
        state = (dict(self.vars), self.cwd, self.errexit, self.nounset, self.pipefail, dict(self.fds), self.loops,
                 self.line)
        self.captures.append([])
        self.fds[OUT] = "capture"
        self.errexit, self.loops = False, 0
        try:
            status = self.run_list(tree)
        except _Exit as done:
            status = done.status
        except _Started as started:
            raise _Refused("a worker started inside $(...)", self.line) from started
        finally:
            captured = self.captures.pop()
            self.vars, self.cwd, self.errexit, self.nounset, self.pipefail, self.fds, self.loops, self.line = state
        self.subst_status = status
        return "\n".join(captured).rstrip("\n")

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
        if name == "hf":
            return self.hub
        if name == "huggingface-cli":
            # huggingface_hub 1.0 removed it (only `hf` is left); every image's hub and what `pip install
            # huggingface_hub` gives today is 1.x or later.
            return False
        if name in ("apt-get", "apt"):
            return self.image.apt
        return name in _ALWAYS or name in _HARMLESS or name in _BUILTINS

    # -- simple commands --

    def run_simple(self, cmd: _Simple, checked: bool) -> int:
        self.line = cmd.line
        words = list(cmd.words)
        assigns = []
        while words and re.match(r"[A-Za-z_]\w*(\+?=|\[)", words[0]):
            if not re.match(r"[A-Za-z_]\w*=", words[0]):
                raise _Refused(f"assignment {words[0].split('=', 1)[0]}=", cmd.line)
            assigns.append(words.pop(0))
        self.subst_status = 0
        if not words:
            for a in assigns:
                name, _, value = a.partition("=")
                if name in _DYNAMIC_VARS:
                    raise _Refused(f"assignment to {name}", cmd.line)
                self.vars[name] = self.expand_one(value) if value else ""
            if not assigns and cmd.redirs:
                self.emit("redirect", 0, 0.0, [])
            return self.subst_status       # `X=$(cmd)` has the status of cmd
        if words[0] in ("export", "unset") and len(words) > 1:
            # Declaration arguments are not split: `export X=$A` keeps A's blanks.
            argv = self.expand(words[:1]) + [self.expand_one(w) if re.match(r"[A-Za-z_]\w*=", w)
                                             else " ".join(self.expand_word(w)) for w in words[1:]]
        else:
            argv = self.expand(words)
        if not argv:
            return self.subst_status
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
            if argv[1] in _REFUSED_COMMANDS:
                raise _Refused(_REFUSED_COMMANDS[argv[1]], self.line)
            if not self.has_command(argv[1]) and argv[1] not in _BUILTINS:
                self.emit("exec", 127, 0.0, [(ERR, f"bash: line {self.line}: exec: {argv[1]}: not found")])
                raise _Exit(127)
            status = self.call(argv[1:], True)
            raise _Exit(status)
        if name in _REFUSED_COMMANDS:
            raise _Refused(_REFUSED_COMMANDS[name], self.line)
        handler = _BUILTINS.get(name)
        if handler is not None:
            return handler(self, argv)
        if not self.has_command(name):
            self.emit(name, 127, 0.0, [(ERR, f"bash: line {self.line}: {name}: command not found")])
            return 127
        if name == "cat" and len(argv) > 1:
            raise _Refused("cat of a file", self.line)
        if name in _SILENT_PRINTERS and self.fds[OUT] in ("log", "capture") and argv != ["cat"]:
            raise _Refused(f"the output of {name}", self.line)     # the model does not know what it prints
        if name in ("apt-get", "apt"):
            return self.apt(argv)
        if name == "git":
            return self.git_cmd(argv[1:])
        if name in ("pip", "pip3"):
            return self.pip(argv[1:])
        if name in ("python", "python3"):
            return self.python(argv[1:])
        if name == "hf":
            return self.hf(argv[1:])
        if name == "nvidia-smi" and not self.cuda:
            self.emit(name, 9, 0.5, [(OUT, "NVIDIA-SMI has failed because it couldn't communicate with the "
                                           "NVIDIA driver. Make sure that the latest NVIDIA driver is installed "
                                           "and running.")])
            return 9
        printed = {"pwd": self.cwd, "whoami": "root", "hostname": "c0ffee", "nproc": "8"}
        if name in printed:
            if len(argv) > 1:
                raise _Refused(f"{name} with arguments", self.line)
            self.emit(name, 0, 0.0, [(OUT, printed[name])])
            return 0
        if name == "date":
            if argv[1:] not in ([], ["+%s"]):
                raise _Refused("date with arguments other than +%s", self.line)
            self.emit("date", 0, 0.0, [(OUT, str(int(self.now())) if argv[1:] else stamp(self.now()))])
            return 0
        if name in ("mkdir", "touch", "rm"):
            return self.file_cmd(argv)
        if name == "sleep":
            m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", argv[1] if len(argv) == 2 else "")
            if m is None:
                raise _Refused("sleep " + " ".join(argv[1:]), self.line)
            unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
            self.emit("sleep", 0, float(m.group(1)) * unit, [])
            return 0
        if name == "export":
            for a in argv[1:]:
                key, eq, value = a.partition("=")
                if key.startswith("-") or not re.fullmatch(r"[A-Za-z_]\w*", key):
                    raise _Refused("export " + a, self.line)
                if eq:
                    self.vars[key] = value
            if len(argv) == 1:
                raise _Refused("export without names", self.line)
        if name == "unset":
            for a in argv[1:]:
                if a == "-v":
                    continue
                if a.startswith("-") or not re.fullmatch(r"[A-Za-z_]\w*", a):
                    raise _Refused("unset " + a, self.line)
                self.vars.pop(a, None)
        if name == "tee":
            for a in argv[1:]:
                if not a.startswith("-"):
                    self.files.add(self.path(a))
        if name in ("umask", "ulimit") and len(argv) == 1:
            raise _Refused(f"the output of {name}", self.line)
        self.emit(name, 0, 0.0, [])
        return 0

    def file_cmd(self, argv: list[str]) -> int:
        """mkdir, touch, rm: their effect on the model's files; a case that would fail on a real machine
        (and print an error the model does not word) is refused."""
        name = argv[0]
        flags = "".join(a[1:] for a in argv[1:] if a.startswith("-") and a != "-")
        paths = [self.path(a) for a in argv[1:] if not a.startswith("-")]
        if not paths or any(c not in {"mkdir": "p", "touch": "", "rm": "rfv"}[name] for c in flags):
            raise _Refused(" ".join(argv), self.line)
        for p in paths:
            parent = posixpath.dirname(p)
            if name == "mkdir":
                if "p" not in flags and (self.exists(p) or not self.is_dir(parent)):
                    raise _Refused(f"mkdir of {p}, which would fail", self.line)
                self.dirs.add(p)
            elif name == "touch":
                if not self.exists(p) and not self.is_dir(parent):
                    raise _Refused(f"touch of {p}, which would fail", self.line)
                if not self.is_dir(p):
                    self.files.add(p)
            else:
                if not self.exists(p):
                    if "f" not in flags:
                        raise _Refused(f"rm of {p}, which would fail", self.line)
                    continue
                if self.is_dir(p) and "r" not in flags:
                    raise _Refused(f"rm of the directory {p} without -r", self.line)
                self.remove(p)
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
        # status, log, show, diff, branch, clean, submodule, stash: what they print or change is not modelled.
        raise _Refused(f"git {sub}", self.line)

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
        raise _Refused(f"git rev-parse {' '.join(rest)}", self.line)

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

    def hf(self, args: list[str]) -> int:
        """huggingface_hub's `hf` (2.x, as `pip install huggingface_hub` gives it): `hf auth login --token T
        [--add-to-git-credential]` and `hf auth whoami`, in their words; any other use is refused. The
        model's Hub takes every non-empty token, as an account's write token."""
        sub = " ".join(args[:2])
        if sub not in ("auth login", "auth whoami"):
            raise _Refused("hf " + " ".join(args[:2]), self.line)
        hint: list[tuple[int, str]] = []
        if not self.hf_hinted and not self.vars.get("HF_HUB_DISABLE_UPDATE_CHECK"):
            self.hf_hinted = True      # once a day, from a stamp file under HF_HOME: the container is new
            hint = [(ERR, "\x1b[90mHint: The `hf-cli` skill is not installed. Run `hf skills add -g` to teach "
                          "your AI agents how to use the `hf` CLI.\x1b[0m")]
        home = self.vars.get("HF_HOME") or self.path("~/.cache/huggingface")
        if sub == "auth whoami":
            if len(args) > 2:
                raise _Refused("hf auth whoami " + " ".join(args[2:]), self.line)
            if not (self.hf_login or self.vars.get("HF_TOKEN")):
                self.emit("hf auth whoami", 1, 0.5, [*hint, (ERR, "\x1b[1m\x1b[31mError: Not logged in. Run "
                                                                "`hf auth login` first.\x1b[0m")])
                return 1
            self.emit("hf auth whoami", 0, 0.5, [*hint, (OUT, "\x1b[32m\u2713 Logged in\x1b[0m"),
                                                 (OUT, f"  user: {_HF_USER}")])
            return 0
        token: str | None = None
        git_credential = False
        k = 2
        while k < len(args):
            a = args[k]
            if a == "--token" or a.startswith("--token="):
                if a == "--token":
                    if k + 1 >= len(args):
                        self.emit("hf auth login", 2, 0.5, [*hint, (ERR, "Error: Option '--token' requires an "
                                                                       "argument.")])
                        return 2
                    k += 1
                    token = args[k]
                else:
                    token = a.split("=", 1)[1]
            elif a in ("--add-to-git-credential", "--no-add-to-git-credential"):
                git_credential = a == "--add-to-git-credential"
            elif a not in ("--force", "--no-force"):
                raise _Refused("hf auth login " + a, self.line)
            k += 1
        if not token:
            raise _Refused("hf auth login without a token (interactive)", self.line)
        err = [] if git_credential else [
            "The token has not been saved to the git credentials helper. Pass `add_to_git_credential=True` in this "
            "function directly or `--add-to-git-credential` if using via `hf`CLI if you want to set the git "
            "credential as well."]
        err += ["Token is valid (permission: write).", f"The token `{_HF_TOKEN_NAME}` has been saved to "
                f"{home}/stored_tokens"]
        if git_credential:
            err.append("Token has not been saved to git credential helper.")
        err += [f"Your token has been saved to {home}/token", "Login successful."]
        if self.vars.get("HF_TOKEN"):
            err.append("Note: Environment variable`HF_TOKEN` is set and is the current active token independently "
                       "from the token you've just configured.")
        else:
            err.append(f"The current active token is: `{_HF_TOKEN_NAME}`")
        # The git-credential advice is print()ed: block-buffered into the log, it lands after the logging lines.
        out = [] if not git_credential else [
            "\x1b[1m\x1b[31mCannot authenticate through git-credential as no helper is defined on your machine.",
            "You might have to re-authenticate when pushing to the Hugging Face Hub.",
            "Run the following command in your terminal in case you want to set the 'store' credential helper as "
            "default.", "", "git config --global credential.helper store", "",
            "Read https://git-scm.com/book/en/v2/Git-Tools-Credential-Storage for more details.\x1b[0m"]
        self.hf_login = True
        self.files.update({f"{home}/token", f"{home}/stored_tokens"})
        self.emit("hf auth login", 0, self.durations.get("login", 1.5),
                  [*hint, *((ERR, ln) for ln in err), *((OUT, ln) for ln in out)])
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
    flags = ""
    while args and re.fullmatch(r"-[neE]+", args[0]):
        flags += args.pop(0)[1:]
    if "n" in flags:
        raise _Refused("echo -n", sh.line)      # a line without its newline joins the next one
    if "e" in flags.rsplit("E", 1)[-1] and any("\\" in a for a in args):
        raise _Refused("echo -e with backslash escapes", sh.line)
    sh.emit("echo", 0, 0.0, [(OUT, " ".join(args))])
    return 0


def _cd(sh: _Shell, argv: list[str]) -> int:
    if len(argv) > 2 or argv[1:] == ["-"] or (len(argv) > 1 and argv[1].startswith("-")):
        raise _Refused("cd " + " ".join(argv[1:]), sh.line)
    target = argv[1] if len(argv) > 1 else sh.vars.get("HOME", "/root")
    where = sh.path(target)
    if not sh.is_dir(where):
        sh.emit("cd", 1, 0.0, [(ERR, f"bash: line {sh.line}: cd: {target}: No such file or directory")])
        return 1
    sh.cwd = where
    sh.emit("cd", 0, 0.0, [])
    return 0


_SET_OPTIONS = {"e": "errexit", "u": "nounset"}


def _set(sh: _Shell, argv: list[str]) -> int:
    if len(argv) == 1:
        raise _Refused("set without arguments", sh.line)
    k = 1
    while k < len(argv):
        a = argv[k]
        if a[:1] not in ("-", "+") or a in ("-", "--", "+"):
            raise _Refused("set " + " ".join(argv[k:]), sh.line)    # positional parameters
        on = a[0] == "-"
        for c in a[1:]:
            if c == "o":
                k += 1
                option = argv[k] if k < len(argv) else ""
                if option not in ("errexit", "nounset", "pipefail"):
                    raise _Refused(f"set {a[0]}o {option}".rstrip(), sh.line)
                setattr(sh, option, on)
            elif c in _SET_OPTIONS:
                setattr(sh, _SET_OPTIONS[c], on)
            else:
                raise _Refused(f"set {a[0]}{c}", sh.line)
        k += 1
    sh.emit("set", 0, 0.0, [])
    return 0


def _exit(sh: _Shell, argv: list[str]) -> int:
    if len(argv) > 2 or (len(argv) == 2 and not re.fullmatch(r"-?\d+", argv[1])):
        raise _Refused("exit " + " ".join(argv[1:]), sh.line)
    status = int(argv[1]) % 256 if len(argv) > 1 else sh.status
    sh.emit("exit", status, 0.0, [])
    raise _Exit(status)


def _loop_control(sh: _Shell, argv: list[str]) -> int:
    if len(argv) > 1 or not sh.loops:
        raise _Refused(" ".join(argv) + ("" if sh.loops else " outside a loop"), sh.line)
    raise _LoopControl(argv[0])


def _false(sh: _Shell, argv: list[str]) -> int:
    sh.emit("false", 1, 0.0, [])
    return 1


def _where(sh: _Shell, name: str) -> str:
    if name in _BUILTINS or name in ("true", ":", "pwd", "echo", "cd", "test", "false", "umask", "ulimit", "wait",
                                      "export", "unset"):
        return name
    conda = ("python", "python3", "pip", "pip3", "hf")
    return f"/opt/conda/bin/{name}" if name in conda else f"/usr/bin/{name}"


def _command(sh: _Shell, argv: list[str]) -> int:
    if len(argv) >= 2 and argv[1].startswith("-"):
        if argv[1] != "-v" or len(argv) != 3:
            raise _Refused("command " + " ".join(argv[1:]), sh.line)
        if argv[2] in _REFUSED_COMMANDS or argv[2] in _KEYWORDS_REFUSED:
            raise _Refused(f"command -v {argv[2]}", sh.line)
        found = sh.has_command(argv[2]) or argv[2] in ("exec", "if", "for", "then", "fi", "do", "done")
        out = [(OUT, _where(sh, argv[2]) if sh.has_command(argv[2]) else argv[2])] if found else []
        sh.emit("command -v", 0 if found else 1, 0.0, out)
        return 0 if found else 1
    return sh.call(argv[1:], True) if len(argv) > 1 else 0


def _which(sh: _Shell, argv: list[str]) -> int:
    if len(argv) != 2 or argv[1].startswith("-") or argv[1] in _REFUSED_COMMANDS:
        raise _Refused(" ".join(argv), sh.line)
    # which looks on PATH only: builtins have no file.
    found = sh.has_command(argv[1]) and _where(sh, argv[1]) != argv[1]
    sh.emit("which", 0 if found else 1, 0.0, [(OUT, _where(sh, argv[1]))] if found else [])
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
        sh.emit(argv[0], 2, 0.0, [(ERR, f"bash: line {sh.line}: {argv[0]}: {exc}")])
        return 2
    sh.emit("[", 0 if ok else 1, 0.0, [])
    return 0 if ok else 1


# Unary and binary operators of test that bash has and the model does not evaluate.
_TEST_UNARY_REFUSED = frozenset({"-a", "-b", "-c", "-g", "-h", "-k", "-p", "-t", "-u", "-w", "-x", "-G", "-L", "-N",
                                 "-O", "-S", "-o", "-v", "-R"})
_TEST_BINARY_REFUSED = frozenset({"<", ">", "-nt", "-ot", "-ef", "-a", "-o", "=~"})


def _evaluate_test(sh: _Shell, args: list[str]) -> bool:
    if len(args) > 4 or (len(args) == 4 and args[0] != "!") or (len(args) > 1 and ("(" in args or ")" in args)):
        raise _Refused("test with " + " ".join(args), sh.line)   # -a/-o/( ) combinations
    if not args:
        return False
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 4:
        return not _evaluate_test(sh, args[1:])
    if len(args) == 2:
        op, x = args
        if op == "!":
            return x == ""
        if op in _TEST_UNARY_REFUSED:
            raise _Refused(f"test {op}", sh.line)
        p = sh.path(x)
        if op == "-s" and p in sh.files:
            raise _Refused("test -s of a file the script wrote", sh.line)   # its size is not modelled
        files = {"-d": lambda: sh.is_dir(p), "-f": lambda: sh.is_file(p), "-e": lambda: sh.exists(p),
                 "-s": lambda: sh.is_file(p), "-r": lambda: sh.exists(p)}
        if op in files:
            return files[op]()
        if op == "-n":
            return x != ""
        if op == "-z":
            return x == ""
        raise ValueError(f"{op}: unary operator expected")
    a, op, b = args
    if op in _TEST_BINARY_REFUSED:
        raise _Refused(f"test {op}", sh.line)
    if a == "!" and op not in ("=", "==", "!=", "-eq", "-ne", "-lt", "-le", "-gt", "-ge"):
        return not _evaluate_test(sh, [op, b])
    if op in ("=", "=="):
        return a == b
    if op == "!=":
        return a != b
    numeric = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__,
               "-gt": int.__gt__, "-ge": int.__ge__}
    if op in numeric:
        for v in (a, b):
            if not re.fullmatch(r"\s*-?\d+\s*", v):
                if re.fullmatch(r"\s*\+\d+\s*", v):
                    raise _Refused(f"test {op} of {v}", sh.line)
                raise ValueError(f"{v}: integer expression expected")
        return bool(numeric[op](int(a), int(b)))
    raise ValueError(f"{op}: binary operator expected")


_BUILTINS: dict[str, Callable[[_Shell, list[str]], int]] = {
    "echo": _echo, "cd": _cd, "set": _set, "exit": _exit, "false": _false, "command": _command, "which": _which,
    "[": _test, "test": _test, "break": _loop_control, "continue": _loop_control,
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
