"""Source/target similarity diagnostics (step 2 of the transfer method).

For each target domain, measured on data cut at an origin (nothing after it is read):

- ``domain_auc``: out-of-fold ROC AUC of a classifier that tries to tell source rows from target
  rows on the shared, scale-free features (lag and rolling-mean ratios, known covariates, the
  normalised label). Source rows are restricted to the target's anchor dates, so the calendar
  cannot give the domain away, and the folds are contiguous blocks of anchor dates (never random
  rows: the rows of one series and date would otherwise sit on both sides of a split). 0.5 means
  the classifier cannot tell the domains apart; 1.0 means they are fully separable.
- ``psi_mean`` / ``psi_max`` and ``ks_mean`` / ``ks_max``: per-feature drift, the population
  stability index (ten source-quantile bins) and the two-sample Kolmogorov-Smirnov statistic;
  ``drift_feature`` names the feature with the largest PSI. The per-feature values are in
  :func:`feature_drift`.
- ``season_corr``: Pearson correlation between the target's seasonal profile (domain total
  over its mean, by position in the year: ISO week for daily and weekly data, month for monthly,
  quarter for quarterly data) and the mean profile of the source domains, over the positions
  the target has observed; NaN with fewer than ``MIN_SEASON_WEEKS`` positions (all four for
  quarterly data) and always for yearly data, which has no within-year season.
- ``scale_ratio``: the target's mean domain total per period over the median of the sources'.
- ``season_unseen``: whether the horizon holds a season the target's history never showed, by
  the sources' seasonal index (:func:`horizon_season`, tolerance ``SEASON_TOLERANCE``); there
  the target's own level and models cannot know what is coming (``auto`` holds its flat
  forecasts to their miss of that season, :func:`transfercast.replay.season_floor`).
- ``season_gap``: the WAPE that a forecast held within the range of the target's periods must
  at least make over the horizon if the target follows the sources' seasonal index (0 when the
  horizon stays within that range).
- ``season_shown``: whether the sources' seasonal index moves over the target's periods (its
  highest value there exceeds its lowest by more than twice ``SEASON_TOLERANCE``,
  :func:`season_shown`). Where it does not, ``season_corr`` correlates noise (``auto``'s
  ``meta`` method still matches on it as a meta-feature).

With a change of regime (``[task] regime_start``), the ``regime_*`` columns compare each
target's new regime with its own old regime on measures that need no shared date
(:func:`regime_comparison`): the ratio of levels, PSI and KS of the sales scaled by the old
level, and the correlation of the seasonal profiles.

Plugins add columns through the ``transfercast_similarity`` hook (:func:`plugin_diagnostics`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from transfercast.data import DataWarning, in_task_zone, period_text
from transfercast.errors import DataError
from transfercast.features import FeatureTable
from transfercast.frequency import frequency_defaults, season_position, season_positions
from transfercast.panel import filled_totals

if TYPE_CHECKING:
    from transfercast.forecasting import OriginTables
    from transfercast.task import TransferTask

#: Feature columns never used for the domain classifier or the drift statistics: they identify
#: a domain or its history length rather than describe its sales pattern.
EXCLUDED = ("h", "log_level", "n_obs", "dayofweek", "week", "month", "quarter")
MIN_SEASON_WEEKS = 8
#: Relative distance the sources' seasonal index over the horizon may lie outside its range over
#: the target's weeks before the horizon's season counts as unseen.
SEASON_TOLERANCE = 0.1
MAX_SOURCE_ROWS = 20_000
#: PSI bins of the old-against-new regime comparison: its samples are a few periods per series
REGIME_BINS = 5
SIMILARITY_COLUMNS = [
    "target",
    "origin",
    "target_periods",
    "domain_auc",
    "psi_mean",
    "psi_max",
    "ks_mean",
    "ks_max",
    "drift_feature",
    "season_corr",
    "scale_ratio",
    "season_unseen",
    "season_gap",
    "season_shown",
]
#: the columns comparing each target's new regime with its old one (:func:`regime_comparison`)
REGIME_COLUMNS = [
    "regime_start",
    "old_regime",
    "regime_level_ratio",
    "regime_psi",
    "regime_ks",
    "regime_season_corr",
]


def shared_features(
    source: FeatureTable, target: FeatureTable, exclude: Sequence[str] = ()
) -> list[str]:
    """Numeric, scale-free feature columns observed in both tables, minus :data:`EXCLUDED`,
    ``exclude`` and the categorical columns."""
    skip = set(EXCLUDED) | set(source.categorical) | set(exclude)
    cols = []
    for col in source.X.columns:
        if col in skip or col not in target.X.columns:
            continue
        if not pd.api.types.is_numeric_dtype(source.X[col]):
            continue
        s, t = source.X[col], target.X[col]
        if s.notna().sum() < 10 or t.notna().sum() < 5:
            continue
        if s.nunique(dropna=True) <= 1 and t.nunique(dropna=True) <= 1:
            continue
        cols.append(col)
    return cols


def _frames(source: FeatureTable, target: FeatureTable) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Source rows over the target's anchor dates, with the label as column ``ratio``."""
    anchors = target.keys["anchor"]
    lo, hi = anchors.min(), anchors.max()
    mask = ((source.keys["anchor"] >= lo) & (source.keys["anchor"] <= hi)).to_numpy()
    if mask.sum() < 20:  # too few overlapping rows: use the latest source anchors instead
        mask = (source.keys["anchor"] >= source.keys["anchor"].max() - (hi - lo)).to_numpy()
    src = source.subset(mask)
    s = src.X.assign(ratio=src.y, _anchor=src.keys["anchor"].to_numpy())
    t = target.X.assign(ratio=target.y, _anchor=target.keys["anchor"].to_numpy())
    return s, t


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected`` (source-quantile bins)."""
    e = expected[~np.isnan(expected)]
    a = actual[~np.isnan(actual)]
    if len(e) < 2 or len(a) < 2:
        return float("nan")
    edges = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1)[1:-1]))
    pe = np.bincount(np.searchsorted(edges, e, side="right"), minlength=len(edges) + 1) / len(e)
    pa = np.bincount(np.searchsorted(edges, a, side="right"), minlength=len(edges) + 1) / len(a)
    pe, pa = np.clip(pe, 1e-4, None), np.clip(pa, 1e-4, None)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def feature_drift(
    source: FeatureTable, target: FeatureTable, exclude: Sequence[str] = ()
) -> pd.DataFrame:
    """PSI and KS statistic of every shared feature (columns ``feature``, ``psi``, ``ks``),
    each on the rows where the feature is observed."""
    s, t = _frames(source, target)
    return _drift(s, t, shared_features(source, target, exclude))


def _drift(s: pd.DataFrame, t: pd.DataFrame, shared: list[str]) -> pd.DataFrame:
    """:func:`feature_drift` on the rows of :func:`_frames` and the ``shared`` features."""
    from scipy.stats import ks_2samp

    rows = []
    for col in [*shared, "ratio"]:
        a, b = s[col].to_numpy(float), t[col].to_numpy(float)
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        ks = float(ks_2samp(a, b).statistic) if len(a) and len(b) else float("nan")
        rows.append({"feature": col, "psi": psi(a, b), "ks": ks})
    return pd.DataFrame(rows, columns=["feature", "psi", "ks"])


def domain_auc(
    source: FeatureTable,
    target: FeatureTable,
    exclude: Sequence[str] = (),
    folds: int = 4,
    seed: int = 0,
) -> float:
    """Out-of-fold AUC of a source-vs-target classifier, folds in blocks of anchor dates.

    Only features observed on at least 90% of the target rows are used, and rows with a missing
    value are dropped: a short target history leaves long lags missing, and the classifier must
    not learn the domain from that missingness."""
    s, t = _frames(source, target)
    return _auc(s, t, shared_features(source, target, exclude), folds, seed)


def _auc(
    s: pd.DataFrame, t: pd.DataFrame, shared: list[str], folds: int = 4, seed: int = 0
) -> float:
    """:func:`domain_auc` on the rows of :func:`_frames` and the ``shared`` features."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    cols = [c for c in shared if t[c].notna().mean() >= 0.9]
    cols.append("ratio")
    s, t = s.dropna(subset=cols), t.dropna(subset=cols)
    X = pd.concat([s[cols], t[cols]], ignore_index=True).to_numpy(float)
    y = np.r_[np.zeros(len(s)), np.ones(len(t))]
    anchors = pd.concat([s["_anchor"], t["_anchor"]], ignore_index=True)
    dates = np.sort(anchors.unique())
    k = min(folds, len(dates))
    if k < 2 or len(t) < 4:
        return float("nan")
    block = dict(zip(dates, np.arange(len(dates)) * k // len(dates), strict=True))
    fold = anchors.map(block).to_numpy()
    oof = np.full(len(y), np.nan)
    # AUC is a ranking measure, so the class imbalance needs no weights (sklearn's weighted
    # binning is also very slow); many source rows are subsampled, with a fixed seed
    keep = np.ones(len(y), dtype=bool)
    n_src = int((y == 0).sum())
    if n_src > MAX_SOURCE_ROWS:
        rng = np.random.default_rng(seed)
        drop = rng.choice(np.flatnonzero(y == 0), n_src - MAX_SOURCE_ROWS, replace=False)
        keep[drop] = False
    split = False  # a fold whose classifier could tell rows apart (else each is constant)
    for f in range(k):
        test = (fold == f) & keep
        train = (fold != f) & keep
        if len(np.unique(y[train])) < 2 or len(np.unique(y[test])) < 2:
            continue
        clf = HistGradientBoostingClassifier(
            max_iter=60, max_depth=3, learning_rate=0.1, random_state=seed
        )
        with threadpool_limits(1):
            clf.fit(X[train], y[train])
            oof[test] = clf.predict_proba(X[test])[:, 1]
        split = split or bool(np.ptp(oof[test]) > 0)
    ok = ~np.isnan(oof)
    # too few rows for a tree to split (its leaves need 20): the constant scores' 0.5 would
    # read as "indistinguishable" whatever the target is
    if len(np.unique(y[ok])) < 2 or not split:
        return float("nan")
    return float(roc_auc_score(y[ok], oof[ok]))


def _totals(tables: OriginTables, rows: np.ndarray) -> pd.Series:
    """The total of ``rows`` per period up to the origin, over the periods it is observed."""
    return tables.data.panel.totals(rows, tables.data.origin_idx)


def _position(tables: OriginTables, index: pd.DatetimeIndex) -> np.ndarray | None:
    """Each period's position in the year (:func:`~transfercast.frequency.season_position`:
    ISO week for daily and weekly data, month, quarter); ``None`` without a within-year season
    (yearly data, or ``[features] season_length = 1``)."""
    if tables.spec.season_length <= 1:
        return None
    return season_position(index, tables.data.panel.freq)


def _min_positions(tables: OriginTables) -> int:
    """Positions a season correlation needs: :data:`MIN_SEASON_WEEKS`, or every position of the
    year when a year has fewer (4 quarters)."""
    return min(MIN_SEASON_WEEKS, max(season_positions(tables.data.panel.freq), 2))


def _position_name(tables: OriginTables) -> str:
    """What a position in the year is, in words: ``weeks``, ``months``, ``quarters``."""
    defaults = frequency_defaults(tables.data.panel.freq)
    position = None if defaults is None else defaults.position
    return f"{position}s" if position else "periods"


def _positions_held(tables: OriginTables, totals: pd.Series) -> int:
    """How many positions in the year (weeks of daily data, not days) a domain's totals per
    period cover; their number of periods without a within-year season."""
    position = _position(tables, totals.index)
    return len(totals) if position is None else len(np.unique(position))


def source_profiles(tables: OriginTables) -> tuple[pd.Series, list[float]]:
    """The sources' mean seasonal index by position in the year (week of year for daily and
    weekly data, month, quarter; each source domain's total per period over its mean, averaged;
    empty for data without a within-year season) and each source domain's mean total per
    period. The same for every target
    of an origin: computed once and kept with the origin's tables."""
    memo = tables.__dict__.get("_source_profiles")
    if memo is None:
        memo = tables.__dict__["_source_profiles"] = _source_profiles(tables)
    return memo


def _source_profiles(tables: OriginTables) -> tuple[pd.Series, list[float]]:
    panel = tables.data.panel
    src_rows = tables.data.source_rows
    profiles, scales = [], []
    for dom in pd.unique(panel.domains[src_rows]):
        tot = _totals(tables, src_rows[panel.domains[src_rows] == dom])
        if len(tot) < 2 or tot.mean() == 0:
            continue
        scales.append(float(tot.mean()))
        position = _position(tables, tot.index)
        if position is not None:
            profiles.append((tot / tot.mean()).groupby(position).mean())
    profile = pd.concat(profiles, axis=1).mean(axis=1) if profiles else pd.Series(dtype=float)
    return profile, scales


def season_and_scale(tables: OriginTables, domain: Any) -> dict[str, float]:
    """``season_corr`` and ``scale_ratio`` of one target domain against the sources."""
    target = _totals(tables, tables.data.target_rows[domain])
    src_profile, scales = source_profiles(tables)
    out = {"target_periods": len(target), "season_corr": float("nan")}
    out["scale_ratio"] = (
        float(target.mean() / np.median(scales)) if scales and len(target) else float("nan")
    )
    need = _min_positions(tables)
    if len(src_profile) and _positions_held(tables, target) >= need and target.mean() != 0:
        tprof = (target / target.mean()).groupby(_position(tables, target.index)).mean()
        common = tprof.index.intersection(src_profile.index)
        if len(common) >= need and tprof[common].std() > 0:
            out["season_corr"] = float(np.corrcoef(tprof[common], src_profile[common])[0, 1])
    return out


def horizon_season(tables: OriginTables, domain: Any, tolerance: float) -> dict[str, Any]:
    """Does the forecast horizon hold a season the target's history never showed, and what
    does missing it cost?

    The sources' seasonal index (:func:`source_profiles`) is read over the positions in the
    year (weeks, months, quarters) of the horizon and over those the target has observed. The
    season is ``unseen`` when the index over the horizon leaves the range it spans over the
    target's periods by more than ``tolerance`` (relative): a store opened in May has never seen
    the sources' Christmas peak, so neither its recent level nor a model of its own history can
    forecast it, and an inner backtest on its own periods cannot tell how well anything does on
    it. ``gap`` is the WAPE that a forecast held within that range must at least make over the
    horizon if the target follows the sources' index: what the safe strategies lose to the
    season. ``flat`` is the WAPE of a forecast held at the index's mean over the target's
    level window (its last ``level_window`` periods): what the recent level itself makes if the
    target follows the index. Positions the sources have not observed give no evidence; data
    without a within-year season (yearly) give none. Only the calendar of the horizon is read,
    never its values.
    """
    panel, origin = tables.data.panel, tables.data.origin
    profile, _ = source_profiles(tables)
    target = _totals(tables, tables.data.target_rows[domain])
    future = pd.date_range(origin, periods=tables.horizon + 1, freq=panel.freq)[1:]
    out: dict[str, Any] = {
        "unseen": False,
        "gap": 0.0,
        "facts": "no seasonal evidence from the sources",
    }
    if not len(profile) or not len(target):
        return out
    seen = profile.reindex(np.unique(_position(tables, target.index))).dropna()
    ahead = profile.reindex(_position(tables, future)).dropna()
    if not len(seen) or not len(ahead):
        return out
    lo, hi = float(seen.min()), float(seen.max())
    index = ahead.to_numpy(float)
    out["gap"] = float(np.abs(index - np.clip(index, lo, hi)).sum() / np.abs(index).sum())
    out["facts"] = (
        f"source seasonal index {index.min():.2f}-{index.max():.2f} over the horizon, "
        f"{lo:.2f}-{hi:.2f} over the target's {len(target)} periods"
    )
    out["unseen"] = bool(index.max() > hi * (1 + tolerance) or index.min() < lo * (1 - tolerance))
    out["seen_range"] = (lo, hi)
    # the recent level's own miss: flat at the index over the target's level window
    recent = target.index[-tables.builder.level_window :]
    window = profile.reindex(_position(tables, recent)).dropna()
    if len(window):
        level = float(window.mean())
        out["flat"] = float(np.abs(index - level).sum() / np.abs(index).sum())
    return out


def season_shown(season: dict[str, Any], tolerance: float) -> bool:
    """Whether the sources' seasonal index moves over the target's observed weeks: its highest
    value there exceeds its lowest by more than twice ``tolerance`` (relative). Where it does
    not (a store that has lived through summer and autumn only), the target's weeks hold no
    season to compare, and a correlation of its profile with the sources' measures noise.
    ``season`` is :func:`horizon_season`'s answer; without seasonal evidence, ``True``."""
    if "seen_range" not in season:
        return True
    lo, hi = season["seen_range"]
    return bool(hi > lo * (1 + 2 * tolerance))


def matched_source(tables: OriginTables, domain: Any) -> FeatureTable:
    """Source training rows built as if the sources had the target's (short) history: source
    values before the target's first observed period are hidden. Features that depend on the
    history length (long lags, windows, the level over few periods) then have the same
    distribution in both domains, and only real differences remain. Targets whose history
    starts in the same period (a cold start's targets) share one table: the last one built is
    kept with ``tables``."""
    panel = tables.data.panel
    outer = tables.data.origin_idx
    first = tables.history_start(tables.data.target_rows[domain]) or 0
    kept = tables.__dict__.get("_matched_source")
    if kept is not None and kept[0] == first:
        return kept[1]
    Y = panel.Y.copy()
    Y[:, :first] = np.nan
    known = {c: arr.copy() for c, arr in panel.known.items()}
    for arr in known.values():  # as Panel.cut hides the targets' (their *_delta features)
        arr[:, :first] = np.nan
    cut = replace(panel, Y=Y, known=known)
    i, a, h = tables.builder.training_rows(
        cut, tables.data.source_rows, outer, tables.horizon, steps=tables.steps
    )
    table = tables.builder.build(cut, i, a, h, with_label=True)
    tables.__dict__["_matched_source"] = (first, table)
    return table


def domain_similarity(tables: OriginTables, domain: Any) -> dict[str, Any]:
    """Every built-in diagnostic of one target domain at the tables' origin."""
    target = tables.target(domain)
    source = matched_source(tables, domain) if len(target) else tables.source
    row: dict[str, Any] = {"target": domain, "origin": tables.data.origin}
    row.update(season_and_scale(tables, domain))
    # absolute covariates and static numerics identify a store; their relative forms stay
    exclude = [*tables.builder.known, *tables.builder.static_numeric]
    if len(target) >= 4:  # the compared rows and features once, for both measures
        (s, t), shared = _frames(source, target), shared_features(source, target, exclude)
        drift = _drift(s, t, shared)
        row["domain_auc"] = _auc(s, t, shared)
        row["psi_mean"] = float(drift["psi"].mean())
        row["psi_max"] = float(drift["psi"].max())
        row["ks_mean"] = float(drift["ks"].mean())
        row["ks_max"] = float(drift["ks"].max())
        row["drift_feature"] = (
            drift.loc[drift["psi"].idxmax(), "feature"] if drift["psi"].notna().any() else ""
        )
    else:  # no training rows yet: only the series-level diagnostics exist
        row.update(
            dict.fromkeys(["domain_auc", "psi_mean", "psi_max", "ks_mean", "ks_max"], float("nan"))
        )
        row["drift_feature"] = ""
    return row


def regime_comparison(
    tables: OriginTables, domain: Any, old: Any, start: pd.Timestamp
) -> dict[str, float]:
    """A target domain's new regime (its periods up to the origin) against its old regime, the
    source domain ``old`` (named ``"<domain> (before <date>)"``) of its periods before
    ``start``, on measures that need no date shared by the two regimes. Each target series is
    paired with its old regime's series (the same ``unique_id`` with the date suffix). Both
    regimes are read at the positions in the year (weeks, months, quarters) that the new regime
    and the old regime's year before ``start`` both cover; the reference periods are the old
    regime's periods there.

    - ``regime_level_ratio``: the new regime's mean domain total per period over the old
      regime's on the reference periods: a year-over-year ratio of levels (the domain's own
      growth is in it too);
    - ``regime_psi`` / ``regime_ks``: PSI (:data:`REGIME_BINS` bins) and KS statistic of the
      new regime's sales against the old regime's there, each series divided by its own
      old-regime mean on the reference periods: a level shift moves the distribution, a change
      of shape spreads it;
    - ``regime_season_corr``: correlation of the new regime's seasonal profile with the old
      regime's (each domain total over its regime's mean, by position in the year), over the
      positions both cover (at least ``MIN_SEASON_WEEKS``, as ``season_corr``).

    ``regime_start`` and ``old_regime`` come with them in :func:`similarity`'s table, whose
    ``regime_*`` columns exist only when the task has a regime start."""
    from scipy.stats import ks_2samp

    panel = tables.data.panel
    end = tables.data.origin_idx + 1
    times = panel.times[:end]
    out = dict.fromkeys(REGIME_COLUMNS[2:], float("nan"))
    from transfercast.task import old_regime_suffix

    suffix = old_regime_suffix(start)
    old_rows = {str(panel.ids[i]): i for i in np.flatnonzero(panel.domains == old)}
    pairs = [
        (old_rows[str(panel.ids[i]) + suffix], i)
        for i in tables.data.target_rows[domain]
        if str(panel.ids[i]) + suffix in old_rows
    ]
    if not pairs:
        return out
    Yo = panel.Y[[o for o, _ in pairs], :end]
    Yn = panel.Y[[n for _, n in pairs], :end]
    tot_o, tot_n = filled_totals(Yo), filled_totals(Yn)  # a gap is no sale of 0
    old_seen, new_seen = ~np.isnan(tot_o), ~np.isnan(tot_n)
    if not old_seen.any() or not new_seen.any():
        return out
    # the reference: the old regime's year before the change, at the positions in the year
    # that both it and the new regime cover (all of the new regime's, after a whole year)
    ref = old_seen & (times >= start - pd.DateOffset(years=1))
    if not ref.any():
        ref = old_seen
    new = new_seen.copy()
    position = _position(tables, times)
    if position is not None:
        common = np.isin(position, np.intersect1d(position[ref], position[new_seen]))
        if (ref & common).any():
            ref, new = ref & common, new & common
    old_level = tot_o[ref].mean()
    if old_level > 0:
        out["regime_level_ratio"] = float(tot_n[new].mean() / old_level)
    scale = np.nanmean(Yo[:, ref], axis=1)
    ok = np.isfinite(scale) & (scale > 0)
    a = (Yo[ok][:, ref] / scale[ok, None]).ravel()
    b = (Yn[ok][:, new] / scale[ok, None]).ravel()
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) >= 4 and len(b) >= 4:
        out["regime_psi"] = psi(a, b, bins=REGIME_BINS)
        out["regime_ks"] = float(ks_2samp(a, b).statistic)
    # the seasonal profiles, each over the regime's own periods
    need = _min_positions(tables)
    if position is not None:
        old_tot, new_tot = tot_o[old_seen], tot_n[new_seen]
        if old_tot.mean() > 0 and new_tot.mean() > 0:
            oprof = pd.Series(old_tot / old_tot.mean()).groupby(position[old_seen]).mean()
            nprof = pd.Series(new_tot / new_tot.mean()).groupby(position[new_seen]).mean()
            common = nprof.index.intersection(oprof.index)
            if len(common) >= need and nprof[common].std() > 0 and oprof[common].std() > 0:
                corr = np.corrcoef(nprof[common], oprof[common])[0, 1]
                out["regime_season_corr"] = float(corr)
    return out


def plugin_diagnostics(tables: OriginTables, domain: Any, pm: Any) -> dict[str, Any]:
    """The merged results of every ``transfercast_similarity`` hook implementation.

    Each must return ``None`` or a mapping of *new* column names (strings, none of the built-in
    :data:`SIMILARITY_COLUMNS` and :data:`REGIME_COLUMNS`, none another plugin returned) to
    scalar values (a number, string, bool, date or ``None``). A result that breaks this, or a
    hook that raises, is a :class:`~transfercast.strategy.PluginError` naming the plugin."""
    from transfercast.plugin_manager import each_answer
    from transfercast.strategy import PluginError
    from transfercast.task import plain

    panel = tables.data.panel
    source = panel.to_frame(tables.data.source_rows)
    target = panel.to_frame(tables.data.target_rows[domain])
    reserved = set(SIMILARITY_COLUMNS) | set(REGIME_COLUMNS)
    out: dict[str, Any] = {}
    owner: dict[str, str] = {}
    answers = each_answer(
        pm.hook.transfercast_similarity,
        "similarity plugin",
        f" (target domain {plain(domain)!r})",
        source=source,
        target=target,
    )
    for plugin, result in answers:
        name = f"similarity plugin '{plugin}'"
        if result is None:
            continue
        if not isinstance(result, Mapping):
            raise PluginError(
                f"{name} returned {type(result).__name__}; it must return a mapping of new "
                f"column names to values (a dict), or None"
            )
        for key, value in result.items():
            if not isinstance(key, str) or not key:
                raise PluginError(f"{name} returned the column name {key!r}; names are strings")
            if key in reserved:
                raise PluginError(
                    f"{name} returned the column '{key}', a built-in column of the similarity "
                    f"table; name its columns otherwise"
                )
            if key in owner:
                raise PluginError(
                    f"{name} returned the column '{key}', which {owner[key]} returned too"
                )
            if not pd.api.types.is_scalar(value):
                raise PluginError(
                    f"{name} returned {type(value).__name__} for column '{key}'; a value must "
                    f"be a scalar (a number, string, bool, date or None)"
                )
            owner[key] = name
            out[key] = value
    return out


def _warn_empty(frame: pd.DataFrame, tables: OriginTables) -> None:
    """One warning naming the target domains too young at the tables' origin for the drift
    diagnostics (4 training rows) or ``season_corr`` (enough periods to read a season), which
    are then left empty."""
    need = _min_positions(tables)
    young = {d for d in frame["target"] if len(tables.target(d)) < 4}
    unsplit = frame.loc[frame["domain_auc"].isna(), "target"] if "domain_auc" in frame else []
    short = {
        "drift (domain_auc, psi, ks: needs 4 training rows)": sorted(young, key=str),
        "domain_auc (too few rows for its classifier to tell the target's from the sources')": [
            d for d in unsplit if d not in young
        ],
        f"season_corr (needs {need} {_position_name(tables)})": [
            d
            for d in frame["target"]
            if _positions_held(tables, _totals(tables, tables.data.target_rows[d])) < need
        ],
    }
    parts = [
        f"{', '.join(repr(d) for d in domains)} too young for {what}"
        for what, domains in short.items()
        if domains
    ]
    if parts:
        warnings.warn(
            f"similarity at {period_text(tables.data.origin)}: {'; '.join(parts)}; left empty",
            DataWarning,
            stacklevel=3,
        )


@in_task_zone("task")
def similarity(
    task: TransferTask,
    origin: Any = None,
    *,
    targets: Sequence[Any] | None = None,
    plugins: Sequence[str] = (),
    hooks: bool = True,
) -> pd.DataFrame:
    """The similarity table: one row per target domain (see the module docstring).

    ``origin`` defaults to the task's forecast origin; ``targets`` to all target domains;
    ``hooks=False`` leaves out the ``transfercast_similarity`` plugins' columns.
    """
    from transfercast.forecasting import OriginTables
    from transfercast.plugin_manager import get_plugin_manager

    if origin is None:
        origin = task.forecast_origin()
    else:  # on the grid, within the data: a date off the grid is named as such
        origin = task.check_origins([origin])[0]
    if targets is not None:  # named: target domains of the task, matched as the config's
        from transfercast.task import match_domains

        targets = match_domains(list(targets), np.asarray(task.targets, dtype=object), "targets")
    data = task.at_origin(origin, absent="skip")  # a target not there yet: no row
    present = [d for d in (targets or task.targets) if d in data.target_rows]
    if not present:
        raise DataError(
            f"no target domain has a row up to the horizon of the origin {period_text(origin)}"
        )
    tables = OriginTables(task, data, task.features)
    pm = get_plugin_manager(plugins)
    rows = []
    for dom in present:
        row = domain_similarity(tables, dom)
        season = horizon_season(tables, dom, SEASON_TOLERANCE)
        row["season_unseen"], row["season_gap"] = season["unseen"], season["gap"]
        row["season_shown"] = season_shown(season, SEASON_TOLERANCE)
        if task.old_regimes:
            row["regime_start"] = task.regime_start.get(dom, pd.NaT)
            row["old_regime"] = task.old_regimes.get(dom, "")
            if dom in task.old_regimes:
                row.update(
                    regime_comparison(tables, dom, task.old_regimes[dom], task.regime_start[dom])
                )
        if hooks:
            row.update(plugin_diagnostics(tables, dom, pm))
        rows.append(row)
    frame = pd.DataFrame(rows)
    _warn_empty(frame, tables)
    first = [*SIMILARITY_COLUMNS, *(REGIME_COLUMNS if task.old_regimes else [])]
    frame = frame.reindex(columns=[*first, *(c for c in frame.columns if c not in first)])
    return frame
