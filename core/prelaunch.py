"""The level of a domain that has not sold yet, estimated from the source domains.

A pre-launch target series has no recent level to scale its forecast by. :class:`LevelModel`
estimates it from what is known before launch: the series' categorical keys shared with the
sources (a department), its static covariates (store type, size). It is a log-linear model of
the level, ``log E[level] = b0 + sum of category effects + pairwise category interactions +
slopes of the numeric covariates`` (each on the log scale when it is positive in every source
series), fitted with scikit-learn's :class:`~sklearn.linear_model.PoissonRegressor` on the
source series' recent levels at the origin, so that errors weigh by volume as WAPE does. The
strategies then forecast the ratio of sales to that level, as for any series.

Where the data show source series opening (their first sales after the data's first period,
with a full level window of sales by the origin), their level over their first periods enters
the fit too, as rows of their own marked by an ``opening`` indicator: its coefficient is how
much a series sells in its first periods against what a series like it sells at the origin
(a slow start or an opening rush), learnt from those series, and a pre-launch level is
predicted with it. Without such series the model has no indicator and nothing changes.

Why a hand-written design matrix: the one-hot and interaction columns must be rebuilt from a
model bundle without pickle; the model travels as JSON (:meth:`LevelModel.to_json`).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from transfercast.data import category_text
from transfercast.errors import DataError

#: the L2 penalty of the Poisson fit (on standardised numeric covariates and 0/1 indicators)
ALPHA = 1e-4


@dataclass
class LevelModel:
    """A fitted log-linear level model: its columns, encodings and coefficients.

    ``categorical`` and ``numeric`` name the per-series columns it reads, ``categories`` the
    values seen in the sources (an unseen value contributes nothing), ``pairs`` the categorical
    pairs whose combinations are columns too, ``log_numeric`` the numeric columns taken on the
    log scale, ``center`` and ``scale`` their standardisation."""

    categorical: list[str]
    numeric: list[str]
    categories: dict[str, list[str]]
    pairs: list[list[str]]
    combos: dict[str, list[str]]
    log_numeric: list[str]
    center: dict[str, float]
    scale: dict[str, float]
    intercept: float = 0.0
    coef: list[float] | None = None
    unit: float = 1.0
    series: int = 0
    #: how many source series' opening levels the fit had (the last coefficient is then
    #: their indicator's)
    opening_series: int = 0

    @property
    def opening(self) -> bool:
        """Whether the fit had opening levels, so that :meth:`predict` gives opening levels."""
        return self.opening_series > 0

    # -- design ------------------------------------------------------------------------------
    def _numeric(self, frame: pd.DataFrame, col: str) -> np.ndarray:
        x = frame[col].to_numpy(float)
        if col in self.log_numeric:
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.log(x)
        return (x - self.center[col]) / self.scale[col]

    def design(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's input matrix for one row per series of ``frame``."""
        blocks = []
        for col in self.categorical:
            values = category_text(frame[col])
            blocks.append(values[:, None] == np.asarray(self.categories[col], dtype=object))
        for a, b in self.pairs:
            key = f"{a}*{b}"
            values = np.array(
                [
                    f"{x}\x1f{y}"
                    for x, y in zip(category_text(frame[a]), category_text(frame[b]), strict=True)
                ],
                dtype=object,
            )
            blocks.append(values[:, None] == np.asarray(self.combos[key], dtype=object))
        for col in self.numeric:
            blocks.append(self._numeric(frame, col)[:, None])
        if not blocks:
            return np.zeros((len(frame), 0))
        return np.hstack([b.astype(float) for b in blocks])

    # -- fitting and prediction --------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        level: np.ndarray,
        categorical: list[str],
        numeric: list[str],
        opening: np.ndarray | None = None,
    ) -> LevelModel:
        """Fit on one row per source series (``frame``: its key and static columns) and its
        recent level; a series without a level (NaN) is left out. ``opening`` (per series, NaN
        where unknown) is each series' level over its first periods, where the data show it
        open."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import PoissonRegressor

        level = np.asarray(level, float)
        opening = np.full(len(level), np.nan) if opening is None else np.asarray(opening, float)
        valid = np.ones(len(frame), dtype=bool)
        for col in numeric:
            valid &= np.isfinite(frame[col].to_numpy(float))
        opened = valid & np.isfinite(opening) & (opening >= 0)
        ok = valid & np.isfinite(level) & (level >= 0)
        opening_frame, opening = frame.loc[opened].reset_index(drop=True), opening[opened]
        frame, level = frame.loc[ok].reset_index(drop=True), level[ok]
        if len(frame) < 2 or not level.sum() > 0:
            raise DataError(
                f"a pre-launch target's level is estimated from the source series, but only "
                f"{len(frame)} source series have a recent level at the origin"
            )
        categories = {c: sorted(set(category_text(frame[c])) - {None}) for c in categorical}
        pairs = [list(p) for p in combinations(categorical, 2)]
        combos = {}
        for a, b in pairs:
            seen = {
                f"{x}\x1f{y}"
                for x, y in zip(category_text(frame[a]), category_text(frame[b]), strict=True)
            }
            combos[f"{a}*{b}"] = sorted(seen)
        log_numeric, center, scale = [], {}, {}
        for col in numeric:
            x = frame[col].to_numpy(float)
            if (x > 0).all():
                log_numeric.append(col)
                x = np.log(x)
            center[col] = float(x.mean())
            sd = float(x.std())
            scale[col] = sd if sd > 0 else 1.0
        model = cls(
            list(categorical),
            list(numeric),
            categories,
            pairs,
            combos,
            log_numeric,
            center,
            scale,
            unit=float(level.mean()),
            series=len(frame),
            opening_series=len(opening),
        )
        X = model.design(frame)
        if model.opening:  # the opening rows, marked by an indicator column
            X = np.vstack([X, model.design(opening_frame)])
            X = np.hstack([X, np.r_[np.zeros(len(frame)), np.ones(len(opening))][:, None]])
            level = np.r_[level, opening]
        glm = PoissonRegressor(alpha=ALPHA, max_iter=1000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if X.shape[1]:
                glm.fit(X, level / model.unit)
                model.coef, model.intercept = glm.coef_.tolist(), float(glm.intercept_)
            else:  # nothing to tell series apart: the mean level
                model.coef, model.intercept = [], 0.0
        return model

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The estimated level of each series (row) of ``frame``: its level over its first
        periods when the model was fitted with opening levels, its recent level otherwise."""
        X = self.design(frame)
        if self.opening:
            X = np.hstack([X, np.ones((len(frame), 1))])
        eta = self.intercept + (X @ np.asarray(self.coef, float) if X.shape[1] else 0.0)
        return self.unit * np.exp(eta)

    # -- persistence -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The model as plain JSON values (for a model bundle)."""
        return asdict(self)

    @classmethod
    def from_json(cls, state: dict[str, Any]) -> LevelModel:
        """A model from :meth:`to_json`'s output."""
        return cls(**state)
