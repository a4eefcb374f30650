"""`zeb report --out` through the CLI runner: a directory gets the default file inside it, a missing parent
directory is refused (never created), and a file that cannot be written is one line, never a traceback."""

from __future__ import annotations

import os

import pytest


def _one_line(res, needle: str) -> None:
    assert res.exit_code != 0 and "Traceback" not in res.stderr and "Traceback" not in res.stdout
    assert res.stderr.strip().count("\n") == 0 and needle in res.stderr, res.stderr


def test_a_directory_gets_the_default_name_inside_it(sim, tmp_path):
    where = tmp_path / "reports"
    where.mkdir()
    doc = sim.json("report", "--fleet", "zeb", "--out", str(where))
    assert doc["status"] == "success" and doc["data"]["path"] == str(where / "report.html")
    assert (where / "report.html").stat().st_size == doc["data"]["bytes"] > 0
    assert sorted(os.listdir(where)) == ["report.html"]


def test_a_missing_parent_directory_is_refused_and_not_created(sim, tmp_path):
    res = sim.run("report", "--fleet", "zeb", "--out", str(tmp_path / "no" / "such" / "x.html"))
    _one_line(res, "does not exist")
    assert res.exit_code == 2 and not (tmp_path / "no").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="as root (CI) a 0500 directory is still writable, so nothing "
                    "fails; test_any_other_os_error_is_one_line covers the same path by refusing the write")
def test_a_directory_it_may_not_write_is_one_line(sim, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        res = sim.run("report", "--fleet", "zeb", "--out", str(locked / "x.html"))
    finally:
        locked.chmod(0o700)
    _one_line(res, f"cannot write {locked / 'x.html'}")
    assert res.exit_code == 1 and os.listdir(locked) == []


def test_any_other_os_error_is_one_line(sim, tmp_path, monkeypatch):
    # As root the read-only directory above is writable: the same failure, raised where the write happens.
    import zeb.storage.store

    def refuse(path, data, mode=0o600):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(zeb.storage.store, "atomic_write_bytes", refuse)
    res = sim.run("report", "--fleet", "zeb", "--out", str(tmp_path / "x.html"))
    _one_line(res, f"cannot write {tmp_path / 'x.html'}: Permission denied")
    assert res.exit_code == 1


def test_the_help_says_what_a_directory_does(sim):
    res = sim.run("report", "--help")
    assert res.exit_code == 0 and "directory gets report.html inside it" in " ".join(res.stdout.split())
