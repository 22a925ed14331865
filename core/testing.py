"""Checks for strategy authors, to run in their own tests.

:func:`check_round_trip` fits a strategy, writes its model bundle, reads it back and requires
the same forecasts from it. :func:`check_no_lookahead` is the test transfercast runs on its own
strategies: forecast at one
origin from a small synthetic panel as it is, then from the same panel with everything after
the origin changed (sales scrambled, set to missing, or deleted beyond the horizon, and the
known covariates beyond the horizon with them), and require the same forecasts. A strategy that
reads what it should not (the uncut task behind ``context_["tables"]``, a table built from the
whole data) fails it, named, with the first forecast that moved. A cache that returns the same
stale model for both runs hides its staleness from this check: key caches on the data and
parameters they are built from (``FeatureTable.fingerprint``).
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from transfercast.data import period_text

#: how :func:`change_future` changes what follows an origin
FUTURES = ("scrambled", "nan", "deleted")
#: the known covariates of :func:`transfercast.datasets.synthetic_sales`
SYNTHETIC_KNOWN = ("price", "promo", "is_holiday")


def change_future(
    frame: pd.DataFrame,
    origin: pd.Timestamp,
    how: str,
    horizon: int,
    known: Sequence[str] = SYNTHETIC_KNOWN,
    *,
    time: str = "date",
    target: str = "sales",
    freq: str = "W-FRI",
) -> pd.DataFrame:
    """``frame`` with what follows ``origin`` changed: the target after it scrambled
    (``how="scrambled"``, the ``known`` columns beyond ``origin + horizon`` periods too), missing
    (``"nan"``, likewise), or missing up to the horizon's end with every row beyond it deleted
    (``"deleted"``). The known columns within the horizon stay: they are planned values, read
    by design."""
    out = frame.copy()
    for col in known:
        out[col] = out[col].astype(float)
    rng = np.random.default_rng(1)
    dates = pd.to_datetime(out[time])
    after = dates > origin
    beyond = dates > origin + horizon * pd.tseries.frequencies.to_offset(freq)
    if how == "scrambled":
        out.loc[after, target] = rng.uniform(0, 1e6, after.sum())
        for col in known:
            out.loc[beyond, col] = rng.uniform(0, 50, beyond.sum())
    elif how == "nan":
        out.loc[after, target] = np.nan
        out.loc[beyond, list(known)] = np.nan
    elif how == "deleted":
        out.loc[after, target] = np.nan
        out = out[~beyond]
    else:
        raise ValueError(f"how={how!r}: one of {', '.join(FUTURES)}")
    return out


def _small_panel() -> tuple[pd.DataFrame, dict[str, Any], int]:
    """The checks' synthetic panel (8 stores x 2 departments, 3 targets with 13 weeks of
    history), its config and its horizon."""
    from transfercast.datasets import synthetic_config, synthetic_sales

    frame = synthetic_sales(
        n_domains=8, series_per_domain=2, n_periods=120, n_targets=3, target_periods=40
    )
    horizon = 6
    raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=horizon, target_history=13)
    return frame, raw, horizon


def check_round_trip(
    strategy: str,
    params: dict[str, Any] | None = None,
    *,
    plugins: Sequence[str] = (),
    rtol: float = 1e-9,
) -> None:
    """Raise ``AssertionError`` when ``strategy`` (with ``params``; its module named in
    ``plugins`` when it is not installed), fitted on a small synthetic panel, cannot be written
    as a model bundle and read back (``save`` and ``load``), or when the bundle's forecasts
    differ from the fitted model's."""
    from transfercast.bundle import load_bundle, predict_bundle, write_bundle
    from transfercast.config import parse_config
    from transfercast.data import DataWarning
    from transfercast.forecaster import TransferForecaster
    from transfercast.task import TransferTask

    frame, raw, _ = _small_panel()
    task = TransferTask.from_config(parse_config(raw), data=frame)
    with warnings.catch_warnings():  # about the checks' own panel, not the strategy
        warnings.simplefilter("ignore", DataWarning)
        model = TransferForecaster(strategy, plugins=list(plugins), **(params or {})).fit(task)
        fitted = model.predict()
        with tempfile.TemporaryDirectory() as folder:
            try:
                write_bundle(model, Path(folder) / "model")
                loaded = predict_bundle(load_bundle(Path(folder) / "model"), frame)
            except NotImplementedError as exc:
                raise AssertionError(f"strategy {strategy!r}: {exc}") from None
            except Exception as exc:  # save, load or the loaded model's forecast: named
                raise AssertionError(
                    f"strategy {strategy!r}: writing its model bundle and reading it back "
                    f"failed: {type(exc).__name__}: {exc}"
                ) from exc
    keys = [c for c in fitted.columns if c != "forecast"]
    both = fitted.merge(loaded, on=keys, how="left", suffixes=("", "_loaded"))
    moved = ~np.isclose(both["forecast_loaded"], both["forecast"], rtol=rtol, atol=0)
    if moved.any():
        row = both[moved].iloc[0]
        raise AssertionError(
            f"strategy {strategy!r}: read back from its bundle, it forecasts "
            f"{float(row['forecast_loaded'])!r} where the fitted model forecast "
            f"{float(row['forecast'])!r} ({int(moved.sum())} of "
            f"{len(moved)} forecasts differ)"
        )


def check_no_lookahead(
    strategy: str,
    params: dict[str, Any] | None = None,
    *,
    plugins: Sequence[str] = (),
    futures: Sequence[str] = FUTURES,
    rtol: float = 1e-9,
) -> None:
    """Raise ``AssertionError`` when ``strategy``'s forecasts (with ``params``; its module named
    in ``plugins`` when it is not installed) at an origin move with the data after that origin,
    or when it fails there. Uses a synthetic panel of 8 stores x 2 departments, 3 of them
    targets with 13 weeks of history, horizon 6: a few seconds for a small model. A strategy
    whose forecasts move between two runs on the same data is said to be not deterministic
    (seed it), not to read the future; one that makes no forecast there fails, with the
    reason it gave."""
    from transfercast.config import parse_config
    from transfercast.data import DataWarning
    from transfercast.evaluation import compare
    from transfercast.task import TransferTask

    frame, raw, horizon = _small_panel()

    def forecasts(data: pd.DataFrame, origin: pd.Timestamp) -> pd.Series:
        with warnings.catch_warnings():  # about the checks' own panel, not the strategy
            warnings.simplefilter("ignore", DataWarning)
            task = TransferTask.from_config(parse_config(raw), data=data)
            comp = compare(
                task, [strategy], params={strategy: params or {}}, origins=[origin],
                plugins=plugins,
            )  # fmt: skip
        bad = comp.scores[comp.scores["status"] == "failed"]
        if len(bad):
            raise AssertionError(f"strategy {strategy!r} failed: {bad['error'].iloc[0]}")
        if comp.forecasts.empty:  # every target skipped: nothing would be checked
            said = comp.scores["error"].iloc[0] if len(comp.scores) else "no cell ran"
            raise AssertionError(
                f"strategy {strategy!r} made no forecast on the check's panel (3 targets with 13 "
                f"periods of history, horizon {horizon}), so nothing was checked: {said}"
            )
        keys = ["unique_id", "ds"]
        return comp.forecasts.sort_values(keys).set_index(keys)["forecast"]

    task = TransferTask.from_config(parse_config(raw), data=frame)
    origin = task.evaluation_origins()[0]
    before = forecasts(frame, origin)

    def moved_from(before: pd.Series, after: pd.Series) -> str:
        """The first forecast that moved and how many did, or '' when none did."""
        after = after.reindex(before.index)
        moved = ~np.isclose(after.to_numpy(), before.to_numpy(), rtol=rtol, atol=0, equal_nan=True)
        if not moved.any():
            return ""
        (uid, ds), was, now = before.index[moved][0], before[moved].iloc[0], after[moved].iloc[0]
        return (
            f"its forecast of {uid} for {period_text(ds)} moved from {float(was)!r} to "
            f"{float(now)!r} ({int(moved.sum())} of {len(moved)} forecasts moved)"
        )

    for how in futures:
        said = moved_from(before, forecasts(change_future(frame, origin, how, horizon), origin))
        if said:
            again = moved_from(before, forecasts(frame, origin))  # the same data once more
            if again:
                raise AssertionError(
                    f"strategy {strategy!r} is not deterministic: on the same data twice, "
                    f"{again}; seed its random draws, then the check can tell whether it reads "
                    f"the data after the origin"
                )
            raise AssertionError(
                f"strategy {strategy!r} reads the data after the origin {period_text(origin)}: "
                f"with them {how}, {said}"
            )
