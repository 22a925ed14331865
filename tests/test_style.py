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
