"""Commands that do not talk to Vast must not pay for the SDK (issue #2: `zeb --help` is fast)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("vastai", "huggingface_hub", "requests", "tenacity")


def test_help_imports_no_heavy_module():
    code = (
        "import sys; from zeb.cli import app; from typer.testing import CliRunner; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at start-up: {out.stdout.strip()}"


def test_python_dash_m_zeb_works():
    out = subprocess.run([sys.executable, "-m", "zeb", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("zeb ")
