"""The log classifier against a corpus of realistic tails (tests/corpus/*.log). Each file starts with
`# status: ...` (Vast's actual_status, or null) and `# expect: key=value` lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from zeb.core.lifecycle import WorkerState, classify

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.log"))


def _load(path: Path):
    status, expect, body = None, {}, []
    for line in path.read_text().splitlines():
        if line.startswith("# status: "):
            value = line[len("# status: "):]
            status = None if value == "null" else value
        elif line.startswith("# expect: "):
            key, _, value = line[len("# expect: "):].partition("=")
            expect[key] = value
        else:
            body.append(line)
    return status, expect, "\n".join(body)


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus(path):
    status, expect, tail = _load(path)
    obs = classify(status, tail)
    assert obs.state is WorkerState(expect["state"]), (obs.state, obs.evidence)
    if "fatal" in expect:
        assert obs.fatal_kind == expect["fatal"], obs
    elif obs.state is not WorkerState.ERROR:
        assert obs.fatal_kind is None
    if "batch" in expect:
        assert obs.batch == int(expect["batch"])
    if "gps" in expect:
        assert obs.games_per_s == float(expect["gps"])
    if "step" in expect:
        assert obs.step == int(expect["step"])
    if obs.state not in (WorkerState.PENDING, WorkerState.STOPPED):
        assert obs.evidence, "every classification names the line that shows it"
        assert obs.evidence in tail or obs.evidence.startswith("vast:")


def test_evidence_is_the_newest_batch_line():
    tail = "[worker-vast-0] batch 1: 7168 examples, 1.4 games/s, step=1, total_games=256\n" \
           "[worker-vast-0] batch 2: 7168 examples, 1.6 games/s, step=1, total_games=512\n"
    obs = classify("running", tail)
    assert obs.batch == 2 and obs.games_per_s == 1.6 and obs.total_games == 512
    assert obs.evidence.startswith("[worker-vast-0] batch 2")


def test_ten_thousand_line_tail_is_handled():
    lines = [f"[worker-vast-0] batch {n}: 7168 examples, 1.4 games/s, step=1, total_games={256 * n}"
             for n in range(1, 10_001)]
    obs = classify("running", "\n".join(lines))
    assert obs.state is WorkerState.PRODUCING and obs.batch == 10_000


RUNNING = [p for p in CORPUS if _load(p)[0] in ("running", "loading")]


@pytest.mark.parametrize("path", RUNNING, ids=[p.stem for p in RUNNING])
def test_a_newer_batch_line_always_wins(path):
    """The newest evidence wins: whatever a tail said, a batch line after it means producing."""
    _, _, tail = _load(path)
    line = "[worker-vast-0] batch 77: 7168 examples, 2.5 games/s, step=300, total_games=19712"
    obs = classify("running", tail + "\n" + line + "\n")
    assert obs.state is WorkerState.PRODUCING and obs.batch == 77 and obs.fatal_kind is None
    assert obs.evidence == line


@pytest.mark.parametrize("status,intended,state", [
    (None, None, WorkerState.PENDING), (None, "stopped", WorkerState.STOPPED),
    ("running", "stopped", WorkerState.STOPPED), ("frozen", "running", WorkerState.STOPPED),
    ("exited", "running", WorkerState.STOPPED), ("loading", "running", WorkerState.BOOTING),
    ("running", "running", WorkerState.BOOTING), ("created", None, WorkerState.BOOTING),
])
def test_vast_status_alone(status, intended, state):
    obs = classify(status, "", intended_status=intended)
    assert obs.state is state and obs.evidence
    if state is WorkerState.STOPPED:
        assert obs.evidence.startswith("vast: ")


def test_broken_launch_needs_repeats():
    two = "bash: python: command not found\nbash: python: command not found\n"
    assert classify("running", two).state is WorkerState.BOOTING
    assert classify("running", two * 2).fatal_kind == "broken_launch"


def test_killed_is_a_whole_capitalised_word():
    for innocent in ("skilled", "unkilled", "Killedby", "reKilled", "killed"):
        assert classify("running", f"git installed\n{innocent}\n").state is WorkerState.SETUP, innocent
    for fatal in ("Killed", "bash: line 9:   431 Killed   python -m x", "OOM-Killed"):
        assert classify("running", f"git installed\n{fatal}\n").fatal_kind == "killed", fatal


def test_noise_after_the_newest_batch_does_not_hide_it():
    noise = "\n".join(f"debug: tick {n} Error-free" for n in range(10_000))
    tail = "[worker-vast-3] batch 9: 7168 examples, 3.1 games/s, step=5, total_games=2304\n" + noise
    obs = classify("running", tail)
    assert obs.state is WorkerState.PRODUCING and obs.batch == 9 and obs.games_per_s == 3.1


def test_a_fatal_line_ten_thousand_lines_back_with_no_progress_after_it():
    tail = "AssertionError: No CUDA\n" + "\n".join(f"waiting {n}" for n in range(10_000))
    obs = classify("running", tail)
    assert obs.state is WorkerState.ERROR and obs.fatal_kind == "no_cuda"


def test_very_long_lines_are_cut_not_choked_on():
    tail = "GPU OK: NVIDIA GeForce RTX 3070\n" + ("x" * 100_000 + " Killed\n") * 30
    assert classify("running", tail).state is WorkerState.SETUP   # the word past the line cap is not read
    # Past the whole-tail cap (4 MB) only the newest part is read.
    assert classify("running", tail + ("y" * 100_000 + "\n") * 20).state is WorkerState.BOOTING


def test_upload_flags():
    head = "[worker-vast-0] batch 1: 7168 examples, 1.4 games/s, step=1, total_games=256\n"
    assert classify("running", head + "Uploading 1 batches to HF...\n").uploading
    failed = head + "Uploading 1 batches to HF...\nUpload failed (412 Precondition Failed), will retry next cycle\n"
    obs = classify("running", failed)
    assert not obs.uploading and obs.state is WorkerState.PRODUCING
    again = failed + head.replace("batch 1", "batch 2") + "Uploading 2 batches to HF...\nUpload complete (2 batches)\n"
    obs = classify("running", again)
    assert not obs.uploading and obs.batch == 2
