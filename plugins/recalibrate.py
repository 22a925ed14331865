"""``recalibrate``: the source model, its response to the known covariates recalibrated on the
target's own rows.

The forecast is the source model's times ``exp(z . b)``. ``z`` holds, for each recalibrated
known covariate, its change at the forecast period against its mean over the level window: for
a positive covariate with more than two values (a price) the log of that ratio, for the others
(flags, counts) the difference. ``b`` is a ridge regression of the log ratio of the target's
sales to the source model's forecast (clipped to +-``CLIP``) on ``z`` over the target's
labelled rows, weighted by their level as the models' losses are. Its penalty is by default the
one of :data:`GRID` (or no correction at all) whose fits best predict each of the target's
periods when that period is left out, so that a target whose response is the sources' mostly
keeps the source model.

So the shape, season and level come from the sources, and only how strongly the target's sales
answer its prices and promotions is learnt from its few periods: a market more sensitive to
price than the sources, a changed price policy. With no rows (before launch) or no covariate,
``b`` is 0 and the forecast is ``source_only``'s.

By default the covariates are those that differ between the target's series in some period
(prices, promotions): their response shows in contrasts between series of the same period. A
covariate the same for every series at every period (a holiday flag) moves with the period's
own shocks, and its one or two occurrences in a short history say little about the others.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

import transfercast
from transfercast.errors import ConfigError
from transfercast.features import FeatureTable
from transfercast.plugins.baselines import SourceOnly
from transfercast.strategy import GBMParams, Strategy

FORMAT = "transfercast-recalibrate/1"
CLIP = 1.5  # log ratios and corrections beyond a factor of exp(1.5) = 4.5 are clipped


class RecalibrateParams(GBMParams):
    """``[strategies.recalibrate]``: the source model and the ridge fit on the target's rows."""

    penalty: float | None = Field(
        None,
        ge=0,
        description="ridge penalty on the correction's coefficients, in units of weighted target "
        "rows (0: least squares; larger: closer to `source_only`); default: chosen per target "
        "from 0.1 to 100 or no correction, by leaving each of its periods out in turn",
    )
    covariates: list[str] | None = Field(
        None,
        description="known covariates whose response is recalibrated (default: those that "
        "differ between the target's series in some period, such as prices and promotions, "
        "not calendar flags; [] leaves the source model unchanged)",
    )


def covariate_kinds(X: pd.DataFrame, names: list[str]) -> dict[str, str]:
    """For each covariate, ``"log"`` (positive with more than two values) or ``"diff"``."""
    kinds = {}
    for col in names:
        v = X[col].to_numpy(float)
        v = v[np.isfinite(v)]
        positive = len(v) > 0 and bool((v > 0).all()) and len(np.unique(v)) > 2
        kinds[col] = "log" if positive else "diff"
    return kinds


def varies_within_periods(table: FeatureTable, col: str) -> bool:
    """Whether the covariate differs between the table's series in at least one period."""
    values = pd.DataFrame({"ds": table.keys["ds"].to_numpy(), "v": table.X[col].to_numpy()})
    return bool((values.dropna().groupby("ds")["v"].nunique() > 1).any())


def covariate_changes(X: pd.DataFrame, kinds: dict[str, str]) -> np.ndarray:
    """The matrix ``z``: each covariate's change against its mean over the level window (0 where
    either is missing)."""
    cols = []
    for col, kind in kinds.items():
        now = X[col].to_numpy(float)
        delta = X[f"{col}_delta"].to_numpy(float)
        if kind == "log":
            before = now - delta
            with np.errstate(invalid="ignore", divide="ignore"):
                z = np.log(np.where(before > 0, now / before, np.nan))
        else:
            z = delta
        cols.append(np.where(np.isfinite(z), z, 0.0))
    return np.column_stack(cols) if cols else np.zeros((len(X), 0))


#: the penalties tried when ``penalty`` is chosen from the target's rows (inf: no correction)
GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, np.inf)


def chosen_penalty(z: np.ndarray, r: np.ndarray, w: np.ndarray, ds: np.ndarray) -> float:
    """The penalty of :data:`GRID` whose fits predict the log ratios ``r`` of each label period
    best when that period is left out of the fit (weighted squared error summed over the
    periods); inf (no correction) with fewer than three periods."""
    periods = np.unique(ds)
    if len(periods) < 3:
        return np.inf
    G = z.T @ (z * w[:, None])
    c = z.T @ (w * r)
    err = np.zeros(len(GRID))
    for p in periods:
        k = ds == p
        Gk = z[k].T @ (z[k] * w[k][:, None])
        ck = z[k].T @ (w[k] * r[k])
        for j, lam in enumerate(GRID):
            if np.isfinite(lam):
                b = np.linalg.lstsq(G - Gk + lam * np.eye(len(c)), c - ck, rcond=None)[0]
                res = r[k] - z[k] @ b
            else:
                res = r[k]
            err[j] += np.sum(w[k] * res**2)
    return float(GRID[int(np.argmin(err))])


def _refuse_unknown(names: list[str], known: list[str]) -> None:
    """A :class:`ConfigError` naming the first of ``names`` that is not a known covariate."""
    missing = [c for c in names if c not in known]
    if missing:
        raise ConfigError(
            f"[strategies.recalibrate] covariates: {missing[0]!r} is not a known covariate; "
            f"valid: {', '.join(known) or '(none)'}"
        )


class Recalibrate(SourceOnly):
    """The source model with its response to known covariates refitted on the target's rows."""

    name = "recalibrate"
    Params = RecalibrateParams
    params: RecalibrateParams
    auto_default = False  # weighed by auto only where its candidates name it

    @classmethod
    def check_task(cls, params: RecalibrateParams, task: Any) -> None:
        """Its covariates must be known columns of the task."""
        _refuse_unknown(params.covariates or [], list(task.known))

    def fine_tune(self, target: FeatureTable, source: FeatureTable | None) -> None:
        known = [c[: -len("_delta")] for c in target.X.columns if c.endswith("_delta")]
        if self.params.covariates is None:
            names = [c for c in known if varies_within_periods(target, c)]
        else:
            names = list(self.params.covariates)
        _refuse_unknown(names, known)
        self.kinds_ = covariate_kinds(target.X, names)
        self.coef_ = np.zeros(len(names))
        self.penalty_: float | None = None  # None: nothing was fitted
        if not len(target) or not names:
            return
        pred = self.source_model_.predict(target.X)
        y = np.asarray(target.y, float)
        ok = np.isfinite(y) & (y > 0) & np.isfinite(pred) & (pred > 0)
        if not ok.any():
            return
        r = np.clip(np.log(y[ok]) - np.log(pred[ok]), -CLIP, CLIP)
        z = covariate_changes(target.X, self.kinds_)[ok]
        w = target.level[ok] / np.nanmean(target.level[ok])
        ds = target.keys["ds"].to_numpy()[ok]
        penalty = self.params.penalty
        if penalty is None:
            penalty = chosen_penalty(z, r, w, ds)
        self.penalty_ = penalty
        if not np.isfinite(penalty):
            return
        gram = z.T @ (z * w[:, None]) + penalty * np.eye(z.shape[1])
        self.coef_ = np.linalg.lstsq(gram, z.T @ (w * r), rcond=None)[0]

    def correction(self, table: FeatureTable) -> np.ndarray:
        """The factor ``exp(z . b)`` applied to the source model's forecast of each row."""
        z = covariate_changes(table.X, self.kinds_)
        return np.exp(np.clip(z @ self.coef_, -CLIP, CLIP))

    def predict(self, table: FeatureTable) -> np.ndarray:
        return self.source_model_.predict(table.X) * self.correction(table)

    def save(self, directory: Path) -> dict[str, Any]:
        penalty = self.penalty_
        state = {
            "format": FORMAT,
            "kinds": self.kinds_,
            "coef": self.coef_.tolist(),
            "penalty": None if penalty is None or not np.isfinite(penalty) else penalty,
        }
        (directory / "recalibrate.json").write_text(json.dumps(state, indent=1))
        return {**super().save(directory), "state": "recalibrate.json"}

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any]) -> Strategy:
        obj = super().load(directory, manifest)
        from transfercast.bundle import read_bundle_file

        state = json.loads(read_bundle_file(directory, manifest["state"]))
        obj.kinds_, obj.coef_ = dict(state["kinds"]), np.asarray(state["coef"], float)
        obj.penalty_ = state.get("penalty")
        return obj


@transfercast.hookimpl
def transfercast_register_strategies(register) -> None:
    register(Recalibrate)
