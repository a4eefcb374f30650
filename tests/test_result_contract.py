"""The JSON envelope is a contract: scripts parse it. Changing it means bumping zeb_result_version."""

from __future__ import annotations

import io
import json

from rich.console import Console

from zeb.cli.output import Result, render
from zeb.core.errors import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL


def _render_json(result: Result) -> dict:
    out, err = io.StringIO(), io.StringIO()
    render(result, as_json=True, stdout=Console(file=out), stderr=Console(file=err))
    assert err.getvalue() == ""
    return json.loads(out.getvalue())


def test_envelope_keys_and_version_are_stable():
    doc = _render_json(Result(command="status", data={"instances": []}))
    assert doc == {
        "zeb_result_version": 1,
        "command": "status",
        "status": "success",
        "exit_code": 0,
        "data": {"instances": []},
        "errors": [],
    }


def test_status_follows_exit_code():
    assert Result("up", exit_code=EXIT_OK).status == "success"
    assert Result("up", exit_code=EXIT_PARTIAL).status == "partial"
    assert Result("up", exit_code=EXIT_FAILED).status == "error"


def test_human_errors_go_to_stderr_only():
    out, err = io.StringIO(), io.StringIO()
    render(Result.failure("down", "no TTY"), as_json=False, stdout=Console(file=out), stderr=Console(file=err))
    assert out.getvalue() == ""
    assert "zeb: error: no TTY" in err.getvalue()
