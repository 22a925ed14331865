"""The output files of `run` and `compare`: their columns are public API."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from transfercast.evaluation import Comparison
from transfercast.forecaster import in_zone, to_user_columns
from transfercast.intervals import quantile_columns
from transfercast.outputs import write_csv
from transfercast.task import TransferTask


def comparison_frames(comp: Comparison) -> dict[str, pd.DataFrame]:
    """The tables `compare` writes, by file name."""
    task = comp.task
    forecasts = comp.forecasts
    if task is not None and "unique_id" in forecasts:  # with no row too: the same header
        forecasts = to_user_columns(task, forecasts)
    frames = {
        "scores.csv": in_zone(comp.scores, task, []),
        "forecasts.csv": forecasts,
        "leaderboard.csv": comp.leaderboard(),
    }
    if len(comp.selection):
        frames["selection.csv"] = in_zone(comp.selection, task, [])
    if len(comp.replays):
        frames["replays.csv"] = in_zone(comp.replays, task, ["cut"])
    return frames


#: every file `compare` writes into its output directory (the report's files included)
COMPARISON_FILES = (
    "scores.csv",
    "forecasts.csv",
    "leaderboard.csv",
    "selection.csv",
    "replays.csv",
    "regret.csv",
    "similarity.csv",
    "leaderboard.png",
    "forecasts.png",
    "weights.png",
    "report.html",
)


def write_comparison(comp: Comparison, directory: Path) -> list[Path]:
    """Write ``scores.csv``, ``forecasts.csv``, ``leaderboard.csv`` (and, with ``auto``,
    ``selection.csv`` and ``replays.csv``), first removing every file of
    :data:`COMPARISON_FILES` an earlier comparison wrote into ``directory`` (its report and
    charts too, which the caller writes next): the folder never mixes two runs' results, even
    when the writing is interrupted. Other files in it are never touched."""
    directory = Path(directory)
    for name in COMPARISON_FILES:
        earlier = directory / name
        if earlier.is_file() or earlier.is_symlink():
            earlier.unlink()
    return [write_csv(frame, directory / name) for name, frame in comparison_frames(comp).items()]


def write_forecasts(task: TransferTask, forecasts: pd.DataFrame, directory: Path) -> Path:
    """Write `run`'s ``forecasts.csv``: the series key columns, the time column, ``forecast``
    and the quantile columns (``q0.1``, ...) when there are any."""
    cols = [*task.series, task.time, "forecast", *quantile_columns(forecasts).values()]
    return write_csv(forecasts[cols], Path(directory) / "forecasts.csv")
