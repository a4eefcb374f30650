"""The log classifier against a corpus of realistic tails (tests/corpus/*.log). Each file starts with
`# status: ...` (Vast's actual_status, or null) and `# expect: key=value` lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from zeb.lifecycle import WorkerState, classify

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
    if "upload_failing" in expect:
        assert obs.upload_failing is (expect["upload_failing"] == "True")
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
