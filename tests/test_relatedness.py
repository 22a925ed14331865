"""The synthetic generator is honest: transfer helps when domains are related, not otherwise."""

from __future__ import annotations

import pytest

import transfercast as tc
from transfercast.config import parse_config
from transfercast.datasets import synthetic_config, synthetic_sales

STRATEGIES = ["target_only", "source_only", "pooled"]


def _board(relatedness: float):
    frame = synthetic_sales(
        n_domains=12, series_per_domain=2, n_targets=4, relatedness=relatedness, seed=3
    )
    raw = synthetic_config("unused.csv", frame.attrs["targets"], windows=2)
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    return tc.compare(task, STRATEGIES).leaderboard().set_index("strategy")["wape"]


@pytest.mark.slow
def test_transfer_helps_only_when_related():
    related, unrelated = _board(1.0), _board(0.0)
    gain_related = related["target_only"] - min(related["source_only"], related["pooled"])
    gain_unrelated = unrelated["target_only"] - min(unrelated["source_only"], unrelated["pooled"])
    assert gain_related > 0.05  # transfer clearly beats target_only at relatedness 1
    assert gain_unrelated < gain_related / 3
