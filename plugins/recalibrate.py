"""``recalibrate``: the source model, its response to the known covariates recalibrated on the
target's own rows.

The forecast is the source model's times ``exp(z . b)``. ``z`` holds, for each known covariate,
its change at the forecast period against its mean over the level window: for a positive
covariate with more than two values (a price) the log of that ratio, for the others (flags,
counts) the difference. ``b`` is a ridge regression of the log ratio of the target's sales to
the source model's forecast on ``z`` over the target's labelled rows (weighted by their level,
as the models' losses are; log ratios clipped to +-``CLIP``), shrunk towards 0 by ``penalty``.
So the shape, season and level come from the sources, and only how strongly the target's sales
answer its prices, promotions and holidays is learnt from its few periods: a market more
sensitive to price than the sources, a changed price policy. With no rows (before launch) or no
covariate, ``b`` is 0 and the forecast is ``source_only``'s.

By default only covariates that differ between the target's series in some period are
recalibrated (prices, promotions): their response shows in contrasts between series of the same
period. A covariate the same for every series at every period (a holiday flag) moves with the
period's own shocks, and its one or two occurrences in a short history say little about the
others.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

import transfercast
from transfercast.engines import GBM
from transfercast.errors import ConfigError
from transfercast.features import FeatureTable
from transfercast.strategy import GBMParams, SourceSpec, Strategy

FORMAT = "transfercast-recalibrate/1"
CLIP = 1.5  # log ratios and corrections beyond a factor of exp(1.5) = 4.5 are clipped


class RecalibrateParams(GBMParams):
    """``[strategies.recalibrate]``: the source model and the ridge fit on the target's rows."""

    penalty: float = Field(
        0.3,
        ge=0,
        description="ridge penalty on the correction's coefficients, in units of weighted target "
        "rows (0: least squares; larger: closer to `source_only`)",
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


class Recalibrate(Strategy):
    """The source model with its response to known covariates refitted on the target's rows."""

    name = "recalibrate"
    Params = RecalibrateParams
    uses_source_rows = False  # the source model alone (so it can be fitted with Dask)
    auto_default = False  # weighed by auto only where its candidates name it

    def source_spec(self) -> SourceSpec:
        p = self.params
        return SourceSpec("gbm", p.engine, p.source_params, p.seed)

    def fine_tune(self, target: FeatureTable, source: FeatureTable | None) -> None:
        known = [c[: -len("_delta")] for c in target.X.columns if c.endswith("_delta")]
        if self.params.covariates is None:
            names = [c for c in known if varies_within_periods(target, c)]
        else:
            names = list(self.params.covariates)
        missing = [c for c in names if c not in known]
        if missing:
            raise ConfigError(
                f"[strategies.recalibrate] covariates: {missing[0]!r} is not a known covariate; "
                f"valid: {', '.join(known) or '(none)'}"
            )
        self.kinds_ = covariate_kinds(target.X, names)
        self.coef_ = np.zeros(len(names))
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
        gram = z.T @ (z * w[:, None]) + self.params.penalty * np.eye(z.shape[1])
        self.coef_ = np.linalg.lstsq(gram, z.T @ (w * r), rcond=None)[0]

    def correction(self, table: FeatureTable) -> np.ndarray:
        """The factor ``exp(z . b)`` applied to the source model's forecast of each row."""
        z = covariate_changes(table.X, self.kinds_)
        return np.exp(np.clip(z @ self.coef_, -CLIP, CLIP))

    def predict(self, table: FeatureTable) -> np.ndarray:
        return self.source_model_.predict(table.X) * self.correction(table)

    def save(self, directory: Path) -> dict[str, Any]:
        state = {"format": FORMAT, "kinds": self.kinds_, "coef": self.coef_.tolist()}
        (directory / "recalibrate.json").write_text(json.dumps(state, indent=1))
        return {"model": self.source_model_.save(directory, "source"), "state": "recalibrate.json"}

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any]) -> Strategy:
        obj = cls(manifest["params"])
        obj.source_model_ = GBM.load(directory, manifest["model"])
        state = json.loads((directory / manifest["state"]).read_text())
        obj.kinds_, obj.coef_ = dict(state["kinds"]), np.asarray(state["coef"], float)
        return obj


@transfercast.hookimpl
def transfercast_register_strategies(register) -> None:
    register(Recalibrate)
