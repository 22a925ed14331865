"""The speed benchmark's hand-written twin (benchmarks/speed.py) does the toolkit's work."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
speed = importlib.import_module("speed")


@pytest.mark.parametrize("name", ["target_only", "source_only"])
def test_twin_forecasts_equal_the_toolkit(name: str) -> None:
    """The overhead ratio compares equal work: the twin's forecasts are the toolkit's."""
    frame = speed.make_frame(8, 2, 2)
    table = speed.overhead(frame, [name], repeat=1)
    assert table.loc[0, "max_rel_diff"] == pytest.approx(0.0, abs=1e-9)
    assert np.isfinite(table.loc[0, "defaults_s"])
