"""The code stays `ruff` clean: lint rules and formatting of every Python file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON_DIRS = ["core", "plugins", "tests", "examples", "benchmarks", "docs"]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    if subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True).returncode:
        pytest.fail("ruff is not installed: pip install -e '.[dev]'")
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_check_is_clean():
    res = _ruff("check", *PYTHON_DIRS)
    assert res.returncode == 0, res.stdout + res.stderr


def test_python_files_are_ruff_formatted():
    files = [str(p.relative_to(ROOT)) for d in PYTHON_DIRS for p in (ROOT / d).rglob("*.py")]
    res = _ruff("format", "--check", *files)
    assert res.returncode == 0, res.stdout + res.stderr


def test_periods_in_messages_keep_their_time_of_day():
    """A period in a message or label goes through ``period_text`` (its date, with the time of
    day in hourly data): ``.date()`` dropped it, so two origins of one day read as one. Only
    the text helpers themselves (and the daily synthetic data's labels) call it."""
    allowed = {
        "core/data.py": 1,  # period_text
        "core/task.py": 1,  # origin_text
        "core/bundle.py": 1,  # _stamp (the manifest's ISO form)
        "core/datasets.py": 2,  # the synthetic data's launch dates (daily or coarser)
    }
    found = {}
    for folder in ("core", "plugins"):
        for path in (ROOT / folder).glob("*.py"):
            n = path.read_text().count(".date()")
            if n:
                found[path.relative_to(ROOT).as_posix()] = n
    assert found == allowed
