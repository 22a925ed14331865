"""``auto``: choose the strategy per target domain from an inner backtest on its own history.

For one target domain at one (outer) origin:

1. **Inner backtest.** Inner origins lie ``inner_step``, ``2 * inner_step``, ... periods before
   the outer origin (at most ``inner_origins`` of them), each keeping at least ``min_history``
   periods of target history. The inner tables are cut from the outer origin's data with
   :meth:`OriginTables.at`, sources included, so no source value from an inner test period
   reaches an inner model. Every candidate, and the naive forecast (the recent level, i.e. a
   ratio of 1), is fitted at each inner origin and scored on the target's observed periods
   between the inner and the outer origin. Inner tables and inner source models are the same
   for every target of an outer origin and are built once.
2. **Plugin policy.** ``transfercast_select_strategy(target, scores)`` may choose instead.
3. **Default policy with a negative-transfer guard.** A transfer strategy (anything but
   ``target_only`` and ``naive``) is chosen only when its inner score is lower than both the
   ``target_only`` and the naive score by more than ``margin`` (relative). Otherwise the better
   of ``target_only`` and ``naive`` is chosen. ``guard = false`` turns the guard off: the
   transfer candidates are then ranked among themselves (for sources known to be related; on
   Walmart the guard costs 0.001 to 0.002 WAPE, see ``docs/selection.md``).

   **Unseen season.** The guard trusts the inner backtest, and the inner backtest only knows the
   weeks the target has lived through. When the horizon holds a season the target never showed
   (:func:`~transfercast.similarity.horizon_season`: the sources' seasonal index over the
   horizon leaves its range over the target's weeks by more than ``season_tolerance``, as
   Christmas does for a store opened in May), the "safe" strategies are not safe: the recent
   level and a model of the target's own weeks cannot forecast a peak they never saw, and a
   flat inner backtest cannot show it. Two costs are then weighed, both in WAPE: what the safe
   strategies must lose to the season (the ``gap``: the least WAPE of a forecast held within
   the target's range, if the target follows the sources' index) and what the best transfer
   candidate lost to the best safe one in the inner backtest. If the sources pass the prior
   rule's similarity test (step 4) and the transfer loss is below the gap, the guard is waived
   for that target and origin and the transfer candidates are ranked among themselves; the
   reason says ``unseen season`` and gives the figures. The seasonal correlation of that test
   counts only where the sources' index moves over the target's weeks (by more than twice
   ``season_tolerance``, highest over lowest): over a store's flat summer weeks it measures
   noise (:meth:`Auto.sources_similar`), and the domain AUC decides alone. Where the sources
   fail the test, or a source model misfits the weeks we can see by more than the season is
   worth, the guard holds and the reason says why. ``season_check = false`` applies the guard
   everywhere.
4. **Prior rule** when the target history allows no inner origin: the similarity diagnostics
   decide. If the seasonal profile correlation is at least ``prior_min_season_corr`` (or cannot
   be measured, or the sources' index hardly moves over the target's weeks, as above) and the
   domain-classifier AUC is at most ``prior_max_auc`` (or cannot be measured), the source is
   trusted and ``prior_transfer`` is chosen; otherwise ``naive``, because a model fitted on so
   short a target history is less reliable than its recent level.
5. ``blend = k`` (default 2; 1 keeps only the best) combines the k best candidates by inner
   score with weights proportional to their inverse inner errors: the transfer strategies that
   passed the guard when any did, otherwise ``target_only`` and ``naive`` (with ``ranking =
   "target"``; the season ranking keeps the safer of those two alone, step 6). A candidate whose
   inner forecasts equal a later candidate's (``source_only`` and a ``boost_continue`` that
   added no tree) counts once, as the later, more adaptive one. Blending two is the default
   because single picks from a few inner weeks are noisy: see ``docs/selection.md`` for the
   figures behind that choice.

6. ``ranking = "season"`` (the default) ranks and weights the transfer candidates that the guard
   lets through by a different backtest: the *source* domains, in ``ranking_folds`` folds, take
   turns as new targets at the origin minus ``season_length`` periods, each cut to the target's
   history length, with the other source domains as their sources. Everything it reads lies
   before the origin. It answers "which strategy did best for a store this new at this time of
   year", from many stores instead of the target's few weeks. When the guard holds, the same
   backtest names the safer of ``target_only`` and ``naive``, and that one is used alone: the
   two differ in kind (a model of the target's own weeks, its recent level), which of them
   suits a store this young at this time of year is what many stores show better than the
   target's few inner weeks, and a blend keeps half of the worse one. The guard itself still
   reads only the target's own inner backtest. Computed once per origin and history length.
   Only source domains that had at least the target's history one season before the origin
   take turns as targets (a younger one answers for a younger store: at 52 weeks before
   Christmas, a store that has seen one Christmas against stores that have not); where none
   had (or the data do not reach that far back, or no candidate could be scored there), the
   target's inner backtest ranks and the reason says which.

   ``ranking = "recent"`` runs the same backtest at the origin minus one horizon instead: the
   source domains, cut to the target's history length, forecast the horizon that ends at the
   origin. It trades the time of year for the sources' depth: one season earlier the sources
   themselves had a season less history (on Walmart at the summer 2011 origin, 25 weeks
   against 77), so the strategies that lean on a deep source model look worse there than they
   are at the origin; one horizon earlier the sources are nearly as deep as at the origin, but
   the horizon lies in another part of the year. When the guard holds, the safer one is still
   named one season earlier (only ``target_only`` and ``naive`` are fitted there, no source
   model): whether a young store's own model beats its recent level depends on the season
   ahead, and named over a horizon in another part of the year it was the wrong one (synthetic
   data, unrelated targets: ``auto`` 1.135 x ``target_only``, against 0.83 x; see
   ``docs/selection.md``).

The chosen strategy is then fitted on the outer origin's tables and ``predict`` delegates to
it. ``selection_`` holds one row: ``target``, ``origin``, ``chosen``, ``reason``, ``weights``,
``inner_<candidate>`` (the mean inner score) for each candidate and, with ``ranking =
"season"``, ``season_<candidate>`` and ``season_naive`` (their scores on the sources one
season earlier; with ``ranking = "recent"``, ``recent_<candidate>`` for the transfer
candidates and ``season_target_only`` and ``season_naive``).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

import transfercast
from transfercast.errors import ConfigError, TransfercastError
from transfercast.features import FeatureTable
from transfercast.forecasting import OriginTables, fit_and_forecast
from transfercast.metrics import score
from transfercast.similarity import (
    SEASON_TOLERANCE,
    domain_similarity,
    horizon_season,
    season_shown,
)
from transfercast.strategy import Strategy, StrategyParams
from transfercast.task import OriginData

DEFAULT_CANDIDATES = ["target_only", "source_only", "pooled", "boost_continue", "representation"]
SAFE = ("target_only", "naive")


class AutoParams(StrategyParams):
    """``auto``: candidates, inner backtest, guard margin, prior rule and blending."""

    candidates: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CANDIDATES),
        description="strategies to choose from; the default list keeps the registered ones",
    )
    strategies: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="parameter tables of the candidates, by name"
    )
    plugins: list[str] = Field(
        default_factory=list, description="plugin modules whose hooks and strategies auto uses"
    )
    inner_origins: int = Field(2, ge=1, description="inner backtest origins at most")
    inner_step: int | None = Field(
        None, ge=1, description="periods between inner origins (default: half the horizon)"
    )
    min_history: int = Field(
        6, ge=1, description="target periods an inner origin must keep for training"
    )
    metric: Literal["wape", "mae", "rmse", "mase", "rmsse"] = "wape"
    margin: float = Field(
        0.02, ge=0, lt=1, description="relative margin a transfer strategy must win by"
    )
    guard: bool = Field(
        True,
        description="the negative-transfer guard; off: choose among the transfer candidates only",
    )
    season_check: bool = Field(
        True,
        description="waive the guard when the horizon holds a season the target never showed "
        "and the sources are similar (see the module doc)",
    )
    season_tolerance: float = Field(
        SEASON_TOLERANCE,
        ge=0,
        description="how far (relative) the sources' seasonal index over the horizon may leave "
        "its range over the target's observed weeks before the season counts as unseen",
    )
    ranking: Literal["target", "season", "recent"] = Field(
        "season",
        description="what ranks the transfer candidates: the target's own inner backtest, or "
        "the source domains backtested as new targets one season earlier (`season`) or over "
        "the horizon just before the origin (`recent`; see the module doc)",
    )
    ranking_folds: int = Field(
        3,
        ge=2,
        description="ranking = season or recent: folds of source domains taking turns as targets",
    )
    blend: int = Field(
        2,
        ge=1,
        description="combine the top k candidates by inverse inner error (1: the best one only)",
    )
    prior_transfer: str = Field(
        "source_only", description="the transfer strategy the prior rule picks"
    )
    prior_max_auc: float = Field(0.8, description="prior rule: largest domain AUC to transfer")
    prior_min_season_corr: float = Field(
        0.3, description="prior rule: smallest seasonal correlation to transfer"
    )


# the rankings by source domains backtested as new targets: where their backtest stands and
# how the reason names it
SOURCE_RANKINGS: dict[str, dict[str, str]] = {
    "season": {
        "before": "one season before the origin",
        "then": "one season earlier",
        "by": "the sources one season earlier",
    },
    "recent": {
        "before": "one horizon before the origin",
        "then": "one horizon before the origin",
        "by": "the sources over the horizon before the origin",
    },
}


def similar_enough(auc: float, corr: float, params: AutoParams) -> bool:
    """The prior rule's similarity test: a domain AUC at most ``prior_max_auc`` and a seasonal
    correlation at least ``prior_min_season_corr``; a figure that cannot be measured (NaN)
    does not count against the sources."""
    ok_auc = not np.isfinite(auc) or auc <= params.prior_max_auc
    ok_corr = not np.isfinite(corr) or corr >= params.prior_min_season_corr
    return ok_auc and ok_corr


class Naive(Strategy):
    """The recent level: every step forecast at the series' level (normalised ratio 1)."""

    name = "naive"

    def predict(self, table: FeatureTable) -> np.ndarray:
        return np.ones(len(table))

    def save(self, directory: Path) -> dict[str, Any]:
        return {}

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any]) -> Strategy:
        return cls()


_lock = threading.Lock()


def _inner_state(tables: OriginTables) -> dict[str, Any]:
    """Per-outer-origin memo shared by every target: inner tables and a lock per inner origin."""
    with _lock:
        state = tables.__dict__.get("_auto_inner")
        if state is None:
            state = {"tables": {}, "locks": {}, "lock": threading.Lock()}
            tables.__dict__["_auto_inner"] = state
    return state


def inner_tables(tables: OriginTables, inner_idx: int) -> OriginTables:
    """The inner-origin tables of ``tables``, built once per outer origin and inner origin."""
    state = _inner_state(tables)
    with state["lock"]:
        lock = state["locks"].setdefault(inner_idx, threading.Lock())
    with lock:
        if inner_idx not in state["tables"]:
            inner = tables.at(inner_idx)
            _ = inner.source  # build the shared source table once, under the lock
            state["tables"][inner_idx] = inner
    return state["tables"][inner_idx]


def history_start(tables: OriginTables, domain: Any) -> int | None:
    """Panel position of the target domain's first observed period before the origin."""
    return tables.history_start(tables.data.target_rows[domain])


def same_forecasts(preds: dict[str, list[np.ndarray]], names: list[str]) -> dict[str, str]:
    """For each candidate whose inner forecasts equal a later candidate's, that later candidate.

    Equal inner forecasts (for example ``boost_continue`` adding no tree to the source model)
    mean the inner backtest cannot tell the two apart; the later one in the candidate list, the
    one that adapts more to the target, then stands for both, so that one forecast neither wins
    twice in a blend nor hides the more adaptive strategy behind a tie.
    """
    out: dict[str, str] = {}
    usable = [n for n in names if n in preds]
    for i, name in enumerate(usable):
        for later in reversed(usable[i + 1 :]):
            a, b = preds[name], preds[later]
            if len(a) == len(b) and all(
                x.shape == y.shape and np.allclose(x, y, rtol=1e-9, atol=1e-12)
                for x, y in zip(a, b, strict=True)
            ):
                out[name] = later
                break
    return out


class Auto(Strategy):
    """Per-target selection by an inner backtest, guarded against negative transfer."""

    name = "auto"
    Params = AutoParams

    # -- candidates -----------------------------------------------------------------------------
    def _registry(self) -> Any:
        return transfercast.get_plugin_manager(self.params.plugins).registry

    def candidate_names(self) -> list[str]:
        """The candidates to rank: the configured ones (the default list: those registered)."""
        registry = self._registry()
        p = self.params
        explicit = "candidates" in p.model_fields_set and p.candidates != DEFAULT_CANDIDATES
        names = []
        for name in p.candidates:
            if name in (self.name, "naive"):
                continue
            try:
                entry = registry.get(name)
            except TransfercastError:
                if explicit:
                    raise ConfigError(
                        f"[strategies.auto] candidates: unknown strategy '{name}'; "
                        f"valid: {', '.join(registry.names())}"
                    ) from None
                continue
            names.append(entry.name)
        if not names:
            raise ConfigError("[strategies.auto] candidates: no registered candidate strategy")
        return list(dict.fromkeys(names))

    def make(self, name: str) -> Strategy:
        """A candidate instance with its parameter table."""
        if name == "naive":
            return Naive()
        return self._registry().create(name, self.params.strategies.get(name, {}))

    # -- inner backtest -------------------------------------------------------------------------
    def inner_indices(self, tables: OriginTables, domain: Any) -> list[int]:
        """Inner origins (panel positions), latest first, that keep ``min_history`` periods."""
        p = self.params
        outer = tables.data.origin_idx
        first = history_start(tables, domain)
        if first is None:
            return []
        step = p.inner_step or max(1, math.ceil(tables.horizon / 2))
        out = []
        for k in range(1, p.inner_origins + 1):
            idx = outer - k * step
            if idx - first + 1 >= p.min_history:
                out.append(idx)
        return out

    def backtest(
        self,
        name: str,
        tables: OriginTables,
        domain: Any,
        cache: Any,
        actuals: pd.DataFrame,
        history: pd.DataFrame,
    ) -> tuple[dict[str, Any], np.ndarray | None]:
        """One candidate fitted at an earlier origin and scored on what followed it: the
        metrics and the forecast values, or ``{"error": ...}`` and ``None`` when it failed (a
        candidate that fails is not chosen; a TransfercastError, a user error, propagates)."""
        try:
            fc = fit_and_forecast(self.make(name), tables, domain, cache).forecasts
        except TransfercastError:
            raise
        except Exception as exc:  # noqa: BLE001
            return {"error": f"{type(exc).__name__}: {exc}"}, None
        # the policy reads WAPE and the ranking metric: MASE and RMSSE only when asked for
        wanted = {"wape", self.params.metric}
        metrics = score(fc.merge(actuals, on=["unique_id", "ds"]), history, wanted)
        return metrics, fc["forecast"].to_numpy(float)

    def inner_scores(
        self, tables: OriginTables, domain: Any, names: list[str], cache: Any
    ) -> pd.DataFrame:
        """Mean inner-backtest metrics per candidate (and ``naive``); NaN where a fit failed."""
        rows = []
        preds: dict[str, list[np.ndarray]] = {}
        for idx in self.inner_indices(tables, domain):
            inner = inner_tables(tables, idx)
            if domain not in inner.data.target_rows:
                continue
            actuals = inner.actuals(domain)
            history = inner.data.panel.to_frame(inner.data.target_rows[domain])
            for name in [*names, "naive"]:
                row = {"strategy": name, "inner_origin": inner.data.origin}
                metrics, forecast = self.backtest(name, inner, domain, cache, actuals, history)
                row.update(metrics)
                if forecast is not None:
                    preds.setdefault(name, []).append(forecast)
                rows.append(row)
        if not rows:
            return pd.DataFrame(columns=["strategy", "n_origins", self.params.metric])
        frame = pd.DataFrame(rows)
        metrics = [c for c in frame.columns if c not in ("strategy", "inner_origin", "error")]
        agg = frame.groupby("strategy", sort=False)[metrics].mean()
        agg["n_origins"] = frame.groupby("strategy", sort=False)[metrics[0]].count()
        twins = same_forecasts(preds, [n for n in names if n not in SAFE])
        agg["same_as"] = pd.Series(twins, dtype=object).reindex(agg.index)
        return agg.reset_index()

    # -- policies -------------------------------------------------------------------------------
    def default_policy(
        self,
        scores: pd.DataFrame,
        season: tuple[bool, str, float] | None = None,
        ranking: pd.Series | None = None,
    ) -> tuple[list[str], list[float], str]:
        """The guarded choice: (names, weights, reason) from the inner scores. ``season`` is
        :meth:`unseen_season`'s answer (similar sources, facts, the season's cost to the safe
        strategies in WAPE): with similar sources and a transfer loss below that cost, an
        unseen season waives the guard."""
        p = self.params
        m = scores.set_index("strategy")[p.metric].dropna()
        if m.empty:
            return ["naive"], [1.0], "every candidate failed in the inner backtest"
        safe = m[m.index.isin(SAFE)]
        transfer = m[~m.index.isin(SAFE)]
        same = scores.set_index("strategy").get("same_as", pd.Series(dtype=object))
        twins = {n: same[n] for n in transfer.index if isinstance(same.get(n), str)}
        transfer = transfer.drop(list(twins))
        note = "".join(f"; {n} forecast as {t} in the inner backtest" for n, t in twins.items())
        best_safe = safe.idxmin()
        safer = f"; {best_safe} is safer"
        # with the season ranking, the sources one season earlier name the safer one, alone
        by_season = ranking.reindex(safe.index).dropna() if ranking is not None else safe[:0]
        if len(safe) > 1 and len(by_season) == len(safe):
            safe = by_season.sort_values(kind="stable").iloc[:1]
            safer = f"; the safer one by {self.ranked_by(safe=True)}: " + ", ".join(
                f"{n} {v:.3f}" for n, v in by_season.sort_values(kind="stable").items()
            )
        if len(transfer):
            best = transfer.idxmin()
            # in WAPE whatever the metric: the unit of the unseen season's gap
            wape = scores.set_index("strategy")["wape"] if "wape" in scores else m
            loss = float(wape.get(best, np.nan) - wape[wape.index.isin(SAFE)].min())
            bars = {s: m[s] for s in SAFE if s in m.index}
            beats = [all(t < (1 - p.margin) * v for v in bars.values()) for t in transfer]
            passed = transfer[beats]
            if not p.guard:
                pool = transfer
                reason = f"guard off: best transfer {best} inner {p.metric} {m[best]:.3f}"
            elif season is not None and season[0] and loss < season[2]:
                pool = transfer
                reason = (
                    f"unseen season, guard waived ({season[1]}): best transfer {best} "
                    f"inner {p.metric} {m[best]:.3f}, {loss:+.3f} WAPE from the best safe one"
                )
            elif len(passed):
                pool = passed
                reason = (
                    f"{best} inner {p.metric} {m[best]:.3f} beats "
                    + " and ".join(f"{s} {v:.3f}" for s, v in bars.items())
                    + f" by more than {p.margin:.0%}"
                )
            else:
                pool = safe
                reason = (
                    f"guard: best transfer {best} inner {p.metric} {m[best]:.3f} does not beat "
                    + " and ".join(f"{s} {v:.3f}" for s, v in bars.items())
                    + f" by {p.margin:.0%}"
                    + safer
                )
                if season is not None:
                    why = (
                        f"{best} lost the inner backtest by {loss:.3f} WAPE, more than the "
                        f"{season[2]:.3f} the season costs the safe strategies,"
                        if season[0]
                        else "the sources are not similar enough"
                    )
                    reason += (
                        f"; the horizon holds a season the target never showed, but {why} to "
                        f"waive the guard ({season[1]})"
                    )
        else:
            pool = safe
            reason = "no transfer candidate scored" + (
                safer if len(safe) == 1 else f"; {best_safe} has the lower inner {p.metric}"
            )
        reason += note
        if ranking is not None and pool is not safe:
            ranked = ranking.reindex(pool.index).dropna()
            if len(ranked):
                pool = ranked
                reason += f"; ranked by {self.ranked_by()}: " + ", ".join(
                    f"{n} {v:.3f}" for n, v in ranked.sort_values(kind="stable").items()
                )
        top = pool.sort_values(kind="stable").iloc[: p.blend]
        if len(top) == 1:
            return [top.index[0]], [1.0], reason
        inv = 1.0 / np.maximum(top.to_numpy(float), 1e-9)
        weights = list(inv / inv.sum())
        return list(top.index), weights, f"blend of top {len(top)} by inverse inner error; {reason}"

    def sources_similar(
        self, tables: OriginTables, domain: Any, season: dict[str, Any] | None = None
    ) -> tuple[bool, str]:
        """The prior rule's similarity test of the sources against one target, and its facts.

        The seasonal correlation counts only where the sources' seasonal index moves over the
        target's weeks (:func:`~transfercast.similarity.season_shown`; ``season`` is
        :func:`~transfercast.similarity.horizon_season`'s answer, computed when not given):
        over weeks without a season it measures noise, and it then counts as a figure that
        cannot be measured."""
        p = self.params
        sim = domain_similarity(tables, domain)
        auc, corr = sim.get("domain_auc", np.nan), sim.get("season_corr", np.nan)
        if season is None:
            season = horizon_season(tables, domain, p.season_tolerance)
        facts = f"domain AUC {auc:.2f}, seasonal correlation {corr:.2f}"
        if np.isfinite(corr) and not season_shown(season, p.season_tolerance):
            lo, hi = season["seen_range"]
            facts += (
                f" (not counted: the sources' seasonal index spans only {lo:.2f}-{hi:.2f} "
                "over the target's weeks)"
            )
            corr = np.nan
        return similar_enough(auc, corr, p), facts

    def ranked_by(self, safe: bool = False) -> str:
        """How reasons name the source ranking of the transfer candidates (``safe``: of the
        safe ones, which is always the season's: see the module doc)."""
        mode = "season" if safe else self.params.ranking
        return SOURCE_RANKINGS.get(mode, SOURCE_RANKINGS["season"])["by"]

    def ranking_column(self, name: str) -> str:
        """The selection column of ``name``'s score on the source ranking."""
        return f"{'season' if name in SAFE else self.params.ranking}_{name}"

    def source_ranking(
        self, tables: OriginTables, domain: Any, names: list[str], cache: Any
    ) -> pd.Series | None:
        """Mean score of each candidate on the source domains backtested as new targets
        (``ranking = "season"`` or ``"recent"``); ``None`` when off or when no such backtest
        could be scored (``ranking_none_`` then says why). Computed once per origin and target
        history length."""
        p = self.params
        self.ranking_none_ = None
        if p.ranking not in SOURCE_RANKINGS:
            return None
        first = history_start(tables, domain)
        length = tables.data.origin_idx - first + 1 if first is not None else 0
        state = _inner_state(tables)
        with state["lock"]:
            memo = state.setdefault(p.ranking, {})
            lock = state["locks"].setdefault((p.ranking, length), threading.Lock())
        with lock:
            if length not in memo:
                memo[length] = self._ranking_scores(tables, names, length, cache)
        if isinstance(memo[length], str):
            self.ranking_none_ = memo[length]
            return None
        return memo[length]

    def _ranking_scores(
        self, tables: OriginTables, names: list[str], length: int, cache: Any
    ) -> pd.Series | str:
        """The scores :meth:`source_ranking` returns, or why there are none."""
        if self.params.ranking == "season":
            return self._source_scores(tables, names, length, cache, "season")
        # recent: the transfer candidates over the horizon before the origin; the safe ones,
        # which need no source model, one season earlier (without those, the safe pick falls
        # back to the target's inner scores)
        transfer = [n for n in names if n not in SAFE]
        safe = [n for n in [*names, "naive"] if n in SAFE]
        recent = self._source_scores(tables, names, length, cache, "recent", transfer)
        season = self._source_scores(tables, names, length, cache, "season", safe)
        if isinstance(recent, str) or isinstance(season, str):
            return recent
        return pd.concat([recent, season])

    def _source_scores(
        self,
        tables: OriginTables,
        names: list[str],
        length: int,
        cache: Any,
        mode: str,
        scored: list[str] | None = None,
    ) -> pd.Series | str:
        """The scores of ``scored`` (default: the candidates and ``naive``) on the sources
        backtested one season (``mode = "season"``) or one horizon (``"recent"``) before the
        origin, or why there are none."""
        p = self.params
        panel, outer = tables.data.panel, tables.data.origin_idx
        words = SOURCE_RANKINGS[mode]
        pidx = outer - (tables.spec.season_length if mode == "season" else tables.horizon)
        src = tables.data.source_rows
        if length < 1 or pidx < 0:
            return f"the data do not reach {words['before']}"
        # only a source domain as old then as the target is now stands for it as a target; the
        # younger ones are sources in every fold
        starts = {
            d: tables.history_start(src[panel.domains[src] == d], until=pidx)
            for d in pd.unique(panel.domains[src])
        }
        domains = np.array(
            [d for d, s in starts.items() if s is not None and s <= pidx + 1 - length],
            dtype=object,
        )
        if not len(domains):
            return f"no source domain had the target's history {words['then']}"
        folds = [f for f in np.array_split(np.arange(len(domains)), p.ranking_folds) if len(f)]
        scored = [*names, "naive"] if scored is None else scored
        rows: list[dict[str, Any]] = []
        for fold in folds:
            in_fold = np.isin(panel.domains[src], domains[fold])
            mask = np.zeros(panel.n_series, dtype=bool)
            mask[src[in_fold]] = True
            cut = panel.cut(pidx, tables.horizon, target_mask=mask, target_history=length)
            has = ~np.all(np.isnan(cut.Y), axis=1)
            targets = {
                d: src[in_fold & has[src] & (panel.domains[src] == d)] for d in domains[fold]
            }
            targets = {d: r for d, r in targets.items() if len(r)}
            sources = src[~in_fold & has[src]]
            if not targets or not len(sources):
                continue
            data = OriginData(panel.times[pidx], pidx, cut, sources, targets)
            pseudo = OriginTables(tables.task, data, tables.spec, parent=panel)
            for dom in targets:
                actuals = pseudo.actuals(dom)
                history = cut.to_frame(targets[dom])
                for name in scored:
                    metrics, _ = self.backtest(name, pseudo, dom, cache, actuals, history)
                    if p.metric in metrics:  # a candidate that failed is not ranked
                        rows.append({"strategy": name, p.metric: metrics[p.metric]})
        if not rows:
            return f"no candidate could be scored on {words['by']}"
        return pd.DataFrame(rows).groupby("strategy")[p.metric].mean()

    def unseen_season(self, tables: OriginTables, domain: Any) -> tuple[bool, str, float] | None:
        """When the horizon holds a season the target never showed: whether the sources are
        similar, the facts, and the WAPE the safe strategies must lose to the season; ``None``
        otherwise."""
        p = self.params
        if not (p.guard and p.season_check):
            return None
        season = horizon_season(tables, domain, p.season_tolerance)
        if not season["unseen"]:
            return None
        similar, facts = self.sources_similar(tables, domain, season)
        gap = season["gap"]
        return similar, f"{season['facts']}, season gap {gap:.3f} WAPE; {facts}", gap

    def prior_rule(self, tables: OriginTables, domain: Any, names: list[str]) -> tuple[str, str]:
        """The choice when no inner origin fits in the target history (see the module doc)."""
        p = self.params
        similar, facts = self.sources_similar(tables, domain)
        transfer = (
            p.prior_transfer
            if p.prior_transfer in names
            else next((n for n in names if n not in SAFE), None)
        )
        rule = "prior rule (history too short for an inner backtest)"
        if similar and transfer is not None:
            return transfer, f"{rule}, source similar: {facts}"
        return "naive", f"{rule}, source not similar: {facts}"

    def choose(
        self, tables: OriginTables, domain: Any, cache: Any
    ) -> tuple[list[str], list[float], str, pd.DataFrame]:
        """Names and weights of the chosen strategies, the reason, and the inner scores."""
        names = self.candidate_names()
        scores = self.inner_scores(tables, domain, names, cache)
        if scores.empty:
            name, reason = self.prior_rule(tables, domain, names)
            return [name], [1.0], reason, scores
        pm = transfercast.get_plugin_manager(self.params.plugins)
        picked = pm.hook.transfercast_select_strategy(target=domain, scores=scores.copy())
        if picked is not None:
            if picked not in [*names, "naive"]:
                raise TransfercastError(
                    f"transfercast_select_strategy returned '{picked}', which is not a "
                    f"candidate; candidates: {', '.join([*names, 'naive'])}"
                )
            return [picked], [1.0], "chosen by a transfercast_select_strategy plugin", scores
        self.ranking_ = self.source_ranking(tables, domain, names, cache)
        chosen, weights, reason = self.default_policy(
            scores, self.unseen_season(tables, domain), self.ranking_
        )
        if self.params.ranking in SOURCE_RANKINGS and self.ranking_ is None:
            reason += f"; ranked by the target's inner backtest: {self.ranking_none_}"
        return chosen, weights, reason, scores

    # -- the strategy contract --------------------------------------------------------------------
    def transfer(
        self, source_model: Any, target: FeatureTable, source: FeatureTable | None = None
    ) -> Strategy:
        context = getattr(self, "context_", None)
        if not context:
            raise TransfercastError(
                "auto needs the origin's tables: fit it through compare, run or TransferForecaster"
            )
        tables, domain, cache = context["tables"], context["domain"], context["cache"]
        chosen, weights, reason, scores = self.choose(tables, domain, cache)
        self.members_: list[Strategy] = []
        for name in chosen:
            member = self.make(name)
            model = cache.get(member, tables.source)
            fitted = member.clone()
            fitted.context_ = {"tables": tables, "domain": domain, "cache": cache}
            fitted.transfer(model, tables.target(domain), tables.source)
            self.members_.append(fitted)
        self.chosen_, self.weights_ = chosen, weights
        row: dict[str, Any] = {
            "target": domain,
            "origin": tables.data.origin,
            "chosen": "+".join(chosen),
            "reason": reason,
            "weights": ";".join(f"{w:.3f}" for w in weights),
        }
        metric = self.params.metric
        by_name = scores.set_index("strategy")[metric] if len(scores) else pd.Series(dtype=float)
        for name in [*self.candidate_names(), "naive"]:
            row[f"inner_{name}"] = float(by_name.get(name, np.nan))
        ranking = getattr(self, "ranking_", None)
        if ranking is not None:  # ranking = season or recent: each candidate's score on it
            for name in [*self.candidate_names(), "naive"]:
                row[self.ranking_column(name)] = float(ranking.get(name, np.nan))
        self.selection_ = pd.DataFrame([row])
        self.inner_scores_ = scores
        return self

    def predict(self, table: FeatureTable) -> np.ndarray:
        preds = [w * m.predict(table) for m, w in zip(self.members_, self.weights_, strict=True)]
        return np.sum(preds, axis=0)

    def save(self, directory: Path) -> dict[str, Any]:
        """Each chosen member's files in ``member<k>/``; the choice and weights in the manifest."""
        members = []
        for k, member in enumerate(self.members_):
            sub = Path(directory) / f"member{k}"
            sub.mkdir(parents=True, exist_ok=True)
            members.append(
                {
                    "name": member.name,
                    "params": member.get_params(),
                    "dir": sub.name,
                    "entries": member.save(sub),
                }
            )
        return {
            "members": members,
            "weights": list(self.weights_),
            "selection": self.selection_.iloc[0].astype(str).to_dict(),
        }

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any]) -> Strategy:
        obj = cls(manifest["params"])
        obj.members_ = []
        for m in manifest["members"]:
            klass = Naive if m["name"] == "naive" else obj._registry().get(m["name"]).cls
            entries = {"params": m["params"], **m["entries"]}
            obj.members_.append(klass.load(Path(directory) / m["dir"], entries))
        obj.weights_ = [float(w) for w in manifest["weights"]]
        obj.chosen_ = [m["name"] for m in manifest["members"]]
        obj.selection_ = pd.DataFrame([manifest.get("selection", {})])
        return obj


@transfercast.hookimpl
def transfercast_register_strategies(register) -> None:
    register(Auto)
