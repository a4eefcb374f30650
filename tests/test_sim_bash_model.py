"""The onstart model's bash: each construct it implements gives bash's own lines and status (EXACT, which
tests/test_onstart_differential.py also runs through real bash), and each it does not is refused by name
(REFUSED), never expanded wrongly or turned into a misleading bash error."""

from __future__ import annotations

import re

import pytest

from zeb.sim.clock import ManualClock
from zeb.sim.market import Market
from zeb.sim.onstart import REFUSED_STATUS, run_onstart

PYTORCH_26 = "pytorch/pytorch:2.6.0-cuda12.6-cudnn9-runtime"
WORKER_IMAGE = "jasonyandell/zeb-worker:latest"


def _log(plan):
    return [ln for step in plan.steps for ln in step.lines]


# (id, script, env, image, the log, the exit status): plain bash over the model's commands, exact.
EXACT: list[tuple[str, str, dict[str, str], str, list[str], int]] = [
    ("default and arithmetic", "echo ${UNSET:-dflt} $((2+3))", {}, PYTORCH_26, ["dflt 5"], 0),
    ("for loop", "for i in 1 2; do echo $i; done", {}, PYTORCH_26, ["1", "2"], 0),
    ("for loop over lines", "for w in a 'b c' $L; do\n  echo \"[$w]\"\ndone\necho $?", {"L": "d  e"}, PYTORCH_26,
     ["[a]", "[b c]", "[d]", "[e]", "0"], 0),
    ("arithmetic operators", "echo $((7/2)) $((-7/2)) $((-7%3)) $((7%-3)) $((2*(3+4))) $((10-2-3)) $(( X + 1 ))",
     {"X": "41"}, PYTORCH_26, ["3 -3 -1 1 14 5 42"], 0),
    ("arithmetic variables", "X=5\nY=$((X*X))\necho $Y $(($X+1)) $(( -(-3) + +2 )) $((NOPE + 1))", {}, PYTORCH_26,
     ["25 6 5 1"], 0),
    ("arithmetic counter", "N=0\nfor i in a b c; do N=$((N+1)); done\necho \"$N items\"", {}, PYTORCH_26,
     ["3 items"], 0),
    ("assignment keeps blanks", 'A="x  y"\nB=$A\necho "$B" $B', {}, PYTORCH_26, ["x  y x y"], 0),
    ("length", 'A=hello\necho ${#A} ${#NOPE}', {}, PYTORCH_26, ["5 0"], 0),
    ("nested default", "echo ${A:-${B:-nested}} ${A-x}${C:+set}", {"C": "1"}, PYTORCH_26, ["nested xset"], 0),
    ("assign default", 'echo ${A:=first}; echo "$A"', {}, PYTORCH_26, ["first", "first"], 0),
    ("command substitution", 'X=$(echo hi; echo there)\necho "$X"\necho $X', {}, PYTORCH_26,
     ["hi", "there", "hi there"], 0),
    ("substitution status", "X=$(false)\necho $?\nX=$(true)\necho $?", {}, PYTORCH_26, ["1", "0"], 0),
    ("substitution under set -e", "set -e\nX=$(exit 3)\necho no", {}, PYTORCH_26, [], 3),
    ("substitution in arithmetic", "echo $(( $(echo 4) * 2 ))", {}, PYTORCH_26, ["8"], 0),
    ("substitution is a subshell", "X=1\nY=$(X=2; cd /tmp; echo $X)\necho $X $Y $(pwd)", {}, PYTORCH_26,
     ["1 2 /"], 0),
    ("error if unset", "true\necho ${Y:?custom $((1+2))}\necho no", {}, PYTORCH_26, ["bash: line 2: Y: custom 3"], 1),
    ("error if null", "X=\necho ${X:?}", {}, PYTORCH_26, ["bash: line 2: X: parameter null or not set"], 1),
    ("nounset", "set -u\necho $NOPE\necho no", {}, PYTORCH_26, ["bash: line 2: NOPE: unbound variable"], 1),
    ("continue", "for f in a b c; do if [ $f = b ]; then continue; fi; echo $f; done", {}, PYTORCH_26, ["a", "c"], 0),
    ("break", "for f in a b c; do [ $f = b ] && break; echo $f; done; echo end", {}, PYTORCH_26, ["a", "end"], 0),
    ("pipefail", "false | tee\necho $?\nset -o pipefail\nfalse | tee\necho $?", {}, PYTORCH_26, ["0", "1"], 0),
    ("set -euo pipefail", "set -euo pipefail\necho a | tee\nfalse | cat\necho never", {}, PYTORCH_26, ["a"], 1),
    ("set -e and a pipeline", "set -e\nfalse | tee\necho survived", {}, PYTORCH_26, ["survived"], 0),
    ("tee writes its file", "echo x | tee /root/f >/dev/null\n[ -f /root/f ] && echo yes", {}, PYTORCH_26,
     ["yes"], 0),
    ("pipeline subshells", "X=1 | tee\ncd /tmp | tee\necho \"[$X]\" $(pwd)", {}, PYTORCH_26, ["[] /"], 0),
    ("tilde", 'echo ~ ~/x "~" a~', {}, PYTORCH_26, ["/root /root/x ~ a~"], 0),
    ("test negation", '[ ! = x ] && echo a || echo b\n[ ! -z "" ] || echo empty\n[ ! ] && echo bang', {},
     PYTORCH_26, ["b", "empty", "bang"], 0),
    ("test integers", "if [ 1 -lt 2 ] && [ 3 -ge 3 ] && [ 2 -ne 3 ]; then echo lt; fi\n[ abc -eq 1 ]", {},
     PYTORCH_26, ["lt", "bash: line 2: [: abc: integer expression expected"], 2),
    ("test unary error", "test foo bar", {}, PYTORCH_26, ["bash: line 1: test: foo: unary operator expected"], 2),
    ("exit modulo", "exit 300", {}, PYTORCH_26, [], 44),
    ("unset", 'unset A\necho "${A-unset}"', {"A": "set"}, PYTORCH_26, ["unset"], 0),
    ("echo keeps backslashes", 'echo "a\\nb" \'c\\d\'', {}, PYTORCH_26, ["a\\nb c\\d"], 0),
    ("a quoted newline", 'echo "two\nlines"', {}, PYTORCH_26, ["two", "lines"], 0),
    ("files", "mkdir -p /root/a/b && [ -d /root/a ] && echo dir\ntouch /root/a/f\n[ -f /root/a/f ] && echo file\n"
     "rm -rf /root/a\n[ -e /root/a ] || echo gone", {}, PYTORCH_26, ["dir", "file", "gone"], 0),
    ("brackets that are no glob", "echo [$NOPE] a[]b [ ]", {}, PYTORCH_26, ["[] a[]b [ ]"], 0),
    ("redirect to a file", "echo hidden > /root/out.txt\n[ -f /root/out.txt ] && echo written", {}, PYTORCH_26,
     ["written"], 0),
    ("stderr to stdout to null", "nosuch 2>&1 >/dev/null | tee\nnosuch >/dev/null 2>&1 || echo quiet", {},
     PYTORCH_26, ["bash: line 1: nosuch: command not found", "quiet"], 0),
    ("double semicolon", "echo a;; echo b", {}, PYTORCH_26, ["bash: line 1: syntax error near unexpected token `;;'",
                                                      "bash: line 1: `echo a;; echo b'"],
     2),
    ("dollar zero and literal dollar", 'echo $0 "$" a$ $?', {}, PYTORCH_26, ["bash $ a$ 0"], 0),
    ("command -v of a builtin and a missing command", "command -v cd\ncommand -v nope || echo missing", {},
     PYTORCH_26, ["cd", "missing"], 0),
    ("huggingface-cli is gone", "pip install -q huggingface_hub\nhuggingface-cli login --token x", {}, PYTORCH_26,
     ["bash: line 2: huggingface-cli: command not found"], 127),
    ("hf without the hub", "hf auth whoami", {}, PYTORCH_26, ["bash: line 1: hf: command not found"], 127),
    ("export keeps blanks", 'A="p  q"\nexport B=$A C\necho "$B"', {}, PYTORCH_26, ["p  q"], 0),
]

# (script, what the refusal names): each construct bash has and the model does not run.
REFUSED: list[tuple[str, str]] = [
    ("echo ${x/a/b}", "parameter expansion ${x/a/b}"), ("echo ${x%.*}", "parameter expansion"),
    ("echo ${x#a}", "parameter expansion"), ("echo ${x:1:2}", "parameter expansion"),
    ("echo ${x^^}", "parameter expansion"), ("echo ${arr[0]}", "parameter expansion"),
    ("echo ${!x}", "parameter expansion"), ('echo ${x:-"q"}', "parameter expansion"),
    ("arr=(a b)", "array assignment"), ("x+=1", "assignment x+="), ("x[0]=1", "assignment x[0]"),
    ("[[ -n x ]]", "[[ ]] conditional"), ("case x in a) echo a;; esac", "case statement"),
    ("while true; do :; done", "while loop"), ("until false; do :; done", "until loop"),
    ("f() { :; }", "function definition"), ("function f { :; }", "function definition"),
    ("{ echo a; }", "brace group"), ("time true", "time pipeline"),
    ("cat <<EOF\nx\nEOF", "here-document"), ("cat <<< x", "here-string"), ("echo x &>> /root/f", "&>>"),
    ("diff <(echo a) <(echo b)", "process substitution <("), ("echo x > >(cat)", "process substitution >("),
    ("echo `date`", "backtick"), ("echo \"`date`\"", "backtick"), ("echo $'a'", "quoting"),
    ("echo {a,b}", "brace expansion"), ("echo x{1..3}", "brace expansion"), ("echo *.py", "glob"),
    ("echo a?", "glob"), ("echo [ab]", "glob"), ("X='*'\necho $X", "glob"),
    ("sleep 1 &", "background job"), ("(( x = 1 ))", "arithmetic command"),
    ("for ((i=0;i<2;i++)); do :; done", "arithmetic command"), ("for x; do :; done", "for loop without"),
    ("echo $((2**3))", "arithmetic"), ("echo $((1<<2))", "arithmetic"), ("echo $((x++))", "arithmetic"),
    ("echo $((010))", "octal"), ("echo $((1/0))", "division by 0"), ("echo $((a ? 1 : 2))", "arithmetic"),
    ("X=abc\necho $((X+1))", "the value of X"), ("echo $RANDOM", "special parameter $RANDOM"),
    ("echo $@", "special parameter $@"), ("echo \"$*\"", "special parameter $*"), ("echo $!", "$!"),
    ("echo $_", "$_"), ("IFS=:", "assignment to IFS"), ("echo ~root", "tilde expansion ~root"),
    ("grep x /etc/hosts", "command grep"), ("sed -n 1p f", "command sed"), ("printf '%s\\n' x", "builtin printf"),
    ("source /root/x", "builtin source"), (". /root/x", "builtin ."), ("eval echo x", "builtin eval"),
    ("trap 'echo x' EXIT", "builtin trap"), ("read x", "builtin read"), ("cp /a /b", "command cp"),
    ("ls /root", "command ls"), ("bash -c 'echo x'", "command bash"), ("env", "command env"),
    ("exec env X=1 python", "command env"), ("set -x", "set -x"), ("set -o posix", "set -o posix"),
    ("set", "set without arguments"), ("set -- a b", "set -- a b"), ("echo -n x", "echo -n"),
    ('echo -e "a\\tb"', "echo -e"), ("exit x", "exit x"), ("cd -", "cd -"),
    ("[ -n a -a -n b ]", "test with"), ("[ a \\< b ]", "test <"), ("[ -x /root ]", "test -x"),
    ("[ \\( a \\) ]", "test with"), ("[ /a -nt /b ]", "test -nt"), ("echo x | grep x", "pipeline into grep"),
    ("echo x |& tee", "pipe |&"), ("echo x | tee -p", "pipeline into tee"), ("break", "break outside a loop"),
    ("date +%Y", "date with arguments"), ("nvidia-smi", "the output of nvidia-smi"),
    ("cat /etc/os-release", "cat of a file"), ("rm /nope", "rm of /nope"), ("mkdir /root", "mkdir of /root"),
    ("touch /nope/x", "touch of /nope/x"), ("echo x < /root/in", "input redirection"),
    ("echo x >& /root/f", "redirection >&"), ("X='a b'\necho x > $X", "ambiguous redirect"),
    ("echo $(echo `date`)", "backtick"), ("touch /root/f\n[ -s /root/f ]", "test -s"),
    ("pip install -q huggingface_hub\nhf upload r f", "hf upload r"),
    ("echo ${#@}", "parameter expansion"), ("export -p", "export -p"), ("ulimit", "the output of ulimit"),
    ("sleep 1m2s", "sleep 1m2s"), ("date -u", "date with arguments"), ("which -a git", "which -a git"),
    ("command -V git", "command -V git"), ("command -v grep", "command -v grep"),
]


@pytest.mark.parametrize("case", EXACT, ids=[c[0] for c in EXACT])
def test_exact_constructs_give_bashs_lines_and_status(case):
    _id, script, env, image, log, status = case
    plan = run_onstart(script, env=env, image=image)
    assert (_log(plan), plan.exit_status) == (log, status)


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_unimplemented_constructs_are_refused_by_name(case):
    script, construct = case
    plan = run_onstart("echo before\n" + script + "\necho after", env={}, image=PYTORCH_26)
    assert plan.exit_status == REFUSED_STATUS and plan.worker is None
    refusal = plan.error[0]
    assert re.fullmatch(r"the simulator cannot run this construct: .+ \(line \d+\)", refusal), refusal
    assert construct in refusal, refusal
    log = _log(plan)
    assert log[-1] == refusal and "after" not in log
    # A refusal found while parsing stops the script before it starts; one found while running, where it is.
    assert log[:1] in (["before"], [refusal])


def test_a_refusal_names_its_line():
    plan = run_onstart("echo a\necho b\nfor i in 1; do\n  echo ${i/1/2}\ndone", env={}, image=PYTORCH_26)
    assert _log(plan) == ["a", "b", "the simulator cannot run this construct: parameter expansion ${i/1/2} (line 4)"]
    plan = run_onstart("echo a\n\ncase x in\nesac", env={}, image=PYTORCH_26)
    assert plan.error == ("the simulator cannot run this construct: case statement (line 3)",)
    plan = run_onstart("cd /root/code\nX=$(exec python -m forge.zeb.worker.run --repo-id r --output-dir o)",
                       env={}, image=WORKER_IMAGE)
    assert plan.error == ("the simulator cannot run this construct: a worker started inside $(...) (line 2)",)


def test_a_refused_launch_never_produces_and_its_log_says_why():
    clock = ManualClock()
    m = Market(clock, seed=3)
    body = {"image": WORKER_IMAGE, "label": "zeb-worker-vast-1", "env": {"HF_TOKEN": "hf_x"},
            "onstart": "#!/bin/bash\nset -e\necho \"=== Setup started at $(date) ===\"\ncd /root/code\n"
                       "while true; do sleep 1; done\n"
                       "exec python -u -m forge.zeb.worker.run --repo-id r --output-dir o\n"}
    iid = m.create(m.add_machine("RTX 3080", gps=3.0).id, body)
    clock.advance(3 * 3600)
    log = m.logs(iid, None)
    assert "the simulator cannot run this construct: while loop (line 5)" in log
    assert "games/s" not in log and "=== Setup started" not in log      # refused before it ran
