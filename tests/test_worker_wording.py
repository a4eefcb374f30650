"""The classifier reads the real worker's own wording (forge/zeb/worker/run.py and run_eval_aux.py), as
the strict simulator now prints it, not only the runbook's paraphrase."""

from __future__ import annotations

from zeb.core.lifecycle import WorkerState, classify


def test_selfplay_weights_update_in_the_workers_words():
    tail = "\n".join([
        "  Model loaded (step 140), 557,186 params",
        "[worker-vast-0] batch 4: 7168 examples, 3.1 games/s, step=140, total_games=1024",
        "[worker-vast-0] Weights updated: step 140 -> 150",
    ])
    obs = classify("running", tail)
    assert obs.state is WorkerState.PRODUCING and obs.step == 150


def test_eval_aux_lines():
    tail = "\n".join([
        "Loading oracle checkpoint: forge/models/domino-qval-large-3.3M-qgap0.071-qmae0.94.ckpt",
        "Pulling initial Zeb weights from jasonyandell/zeb-42/zeb-large-belief-eq.pt...",
        "  Zeb loaded (step 77), 3,301,250 params, tokenizer=v1",
        "[worker-vast-0] batch 2: 5120 examples, 0.95 games/s, eq_win=51.2%, step=77, total_games=256",
        "[worker-vast-0] Zeb weights updated: step 77 -> 80",
    ])
    obs = classify("running", tail)
    assert obs.state is WorkerState.PRODUCING and obs.batch == 2 and obs.games_per_s == 0.95 and obs.step == 80


def test_logs_says_whose_fault_a_stop_was_as_the_monitor_decides():
    from zeb.cli.logs import whose_fault
    from zeb.core.lifecycle import Observation

    crash = Observation(WorkerState.STOPPED, fatal_kind="traceback", batch=34)
    assert "gets a strike" in whose_fault(crash)
    assert "blocked at once" in whose_fault(Observation(WorkerState.STOPPED, fatal_kind="no_cuda"))
    assert "preempted" in whose_fault(Observation(WorkerState.STOPPED))
