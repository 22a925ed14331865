"""``auto``: per-target candidate weights learned from source replays.

For one target domain at one origin, the source domains replay being new with the target's
history length (:mod:`transfercast.replay`: at ``cuts`` cut points before the origin, in
``folds`` groups, each forecast by every candidate and the naive level with the other sources
as its sources). The replays are built once per origin and history length and shared by every
target. From the replay table:

- ``method = "stack"`` (default): non-negative weights summing to 1 that minimise the mean
  replayed WAPE of the weighted forecast over every replayed (domain, cut). The WAPE of a blend
  is linear in the absolute errors, so this is a linear program, solved exactly
  (:func:`scipy.optimize.linprog`, HiGHS).
- ``method = "meta"``: the same program over the replayed (domain, cut) rows nearest to the
  target by its meta-features (standardised over the replays; the nearest third, at least
  three): a target unlike most sources is weighted as the replays of the domains like it were.
- ``method = "select"``: the one candidate with the lowest mean replayed WAPE.

``target_only`` and ``naive`` are ordinary candidates. A ``transfercast_select_strategy`` plugin
sees the replay table and the target's meta-features first and may return weights or a name.
Only the candidates with a non-zero weight are then fitted on the target; ``predict`` is their
weighted sum. ``selection_`` holds one row: ``target``, ``origin``, ``method``, ``chosen``,
``weights``, ``reason`` (every figure in it comes from the replays), ``replayed`` (the number
of replayed domain-cuts) and ``replay_<candidate>``, each candidate's mean replayed WAPE.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

import transfercast
from transfercast.errors import ConfigError, TransfercastError
from transfercast.features import FeatureTable
from transfercast.forecasting import OriginTables
from transfercast.intervals import blend_detail
from transfercast.replay import (
    META,
    NAIVE,
    Naive,
    Replays,
    blended_wape,
    history_length,
    inner_backtest,
    replays,
    stack_weights,
    target_meta,
    wide_detail,
)
from transfercast.strategy import Strategy, StrategyParams

__all__ = ["Auto", "AutoParams", "Naive"]


class AutoParams(StrategyParams):
    """``auto``: its candidates, how weights are learned from the replays, the replays' shape."""

    candidates: list[str] | None = Field(
        None, description="strategies to weigh (default: every registered one except auto)"
    )
    method: Literal["stack", "meta", "select"] = Field(
        "stack",
        description="stack: weights minimising the replayed WAPE; meta: the same over the "
        "replays nearest to the target by meta-features; select: the best single candidate",
    )
    folds: int = Field(2, ge=2, description="groups of source domains that replay in turn")
    cuts: int = Field(2, ge=1, description="cut points before the origin the replays use")
    strategies: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="parameter tables of the candidates, by name"
    )
    seed: int = Field(0, description="seed of the replays' grouping of source domains")


def nearest_rows(rep: Replays, losses: pd.DataFrame, meta: Mapping[str, float]) -> pd.Index:
    """The replayed (domain, cut) rows nearest to a target by standardised meta-features: the
    nearest third, at least three."""
    m = rep.meta.set_index(["domain", "cut"]).reindex(losses.index)
    cols = [c for c in META if m[c].notna().all() and np.isfinite(meta.get(c, np.nan))]
    k = max(3, int(np.ceil(len(m) / 3)))
    if not cols or len(m) <= k:
        return losses.index
    sd = m[cols].std().replace(0, 1).fillna(1)
    z = (m[cols] - m[cols].mean()) / sd
    t = (pd.Series({c: meta[c] for c in cols}) - m[cols].mean()) / sd
    dist = np.sqrt(((z - t) ** 2).sum(axis=1)).to_numpy()
    return losses.index[np.argsort(dist, kind="stable")[:k]]


class Auto(Strategy):
    """Per-target candidate weights learned from the sources' replays of being new."""

    name = "auto"
    Params = AutoParams

    def _registry(self) -> Any:
        return transfercast.get_plugin_manager().registry

    def candidate_names(self) -> list[str]:
        """The candidates, ``naive`` last: the configured ones, or every registered strategy
        but ``auto`` whose dependencies are installed."""
        registry, p = self._registry(), self.params
        names = []
        for name in p.candidates or registry.names():
            if name in (self.name, NAIVE):
                continue
            try:
                entry = registry.get(name)
            except TransfercastError:
                raise ConfigError(
                    f"[strategies.auto] candidates: unknown strategy '{name}'; "
                    f"valid: {', '.join(registry.names())}"
                ) from None
            if p.candidates is None:
                try:
                    entry.cls.check_available()
                except TransfercastError:
                    continue
            names.append(entry.name)
        return [*dict.fromkeys(names), NAIVE]

    def make(self, name: str) -> Strategy:
        """A candidate instance with its parameter table."""
        if name == NAIVE:
            return Naive()
        return self._registry().create(name, self.params.strategies.get(name, {}))

    def replays_for(self, tables: OriginTables, domain: Any, cache: Any) -> Replays:
        """The shared replays of the target's origin and history length."""
        p = self.params
        cands = {n: self.make(n) for n in self.candidate_names() if n != NAIVE}
        n = history_length(tables, domain)
        meta = p.method == "meta"
        return replays(tables, n, cands, cache, p.folds, p.cuts, p.seed, similarity=meta)

    def weigh(
        self, rep: Replays, own: Replays, meta: dict[str, float], domain: Any, horizon: int
    ) -> tuple[pd.Series, str, pd.DataFrame]:
        """The weights by candidate, the reason, and each candidate's mean replayed WAPE
        (``replay``) and the target's own inner WAPE (``inner``)."""
        p = self.params
        losses = rep.losses()
        mine = own.table[own.table["domain"] == domain].set_index("candidate")["wape"]
        figures = pd.DataFrame({"replay": losses.mean(), "inner": mine}).reindex(
            self.candidate_names()
        )
        answer = transfercast.get_plugin_manager().hook.transfercast_select_strategy(
            target=domain, replays=rep.table.copy(), meta=dict(meta)
        )
        if answer is not None:
            chosen = {answer: 1.0} if isinstance(answer, str) else dict(answer)
            weights = pd.Series(chosen, dtype=float)
            bad = [n for n in weights.index if n not in figures.index]
            if bad or (weights < 0).any() or weights.sum() <= 0:
                raise TransfercastError(
                    f"transfercast_select_strategy returned {answer!r}: weights must be "
                    f"non-negative, on candidates: {', '.join(figures.index)}"
                )
            weights = weights[weights > 0] / weights.sum()
            return weights, "chosen by a transfercast_select_strategy plugin", figures
        # the target's own inner periods weigh against one horizon of replayed evidence
        periods = int(own.detail[own.detail["domain"] == domain]["ds"].nunique())
        share = periods / (periods + horizon) if len(losses) else 1.0
        names = [
            n
            for n in figures.index
            if (n in losses.columns or not len(losses)) and (n in mine.index or not periods)
        ]
        if not names or not (len(losses) or periods):
            return pd.Series({NAIVE: 1.0}), "no replay or inner backtest could be scored", figures
        rows = losses.index
        shape = (
            f"{rows.get_level_values('domain').nunique()} replayed domains x "
            f"{rows.get_level_values('cut').nunique()} cuts"
        )
        if p.method == "meta" and len(losses):
            rows = nearest_rows(rep, losses, meta)
            shape = (
                f"the {len(rows)} of {len(losses)} replayed domain-cuts nearest by meta-features"
            )
        replay = losses.loc[rows, names].mean() if len(losses) else pd.Series(0.0, index=names)
        inner = mine.reindex(names).fillna(0.0)
        predicted = (1 - share) * replay + share * inner
        best = predicted.idxmin()
        evidence = (
            f"{p.method} over {shape} and the target's own {periods} periods (share {share:.2f})"
        )

        def facts(n: str) -> str:
            return f"{n} {replay[n]:.3f} / {inner[n]:.3f}" if periods else f"{n} {replay[n]:.3f}"

        if p.method == "select":
            ranked = predicted.sort_values(kind="stable")
            reason = f"{evidence}: replayed / inner WAPE " + ", ".join(
                facts(n) for n in ranked.index[:3]
            )
            return pd.Series({best: 1.0}), reason, figures
        wide = wide_detail(rep.detail, names)
        wide = wide[pd.MultiIndex.from_frame(wide[["domain", "cut"]]).isin(rows)]
        wide_own = wide_detail(own.detail[own.detail["domain"] == domain], names)
        w = stack_weights([(wide, 1 - share), (wide_own, share)], names)
        w = w[w > 0].sort_values(ascending=False, kind="stable")
        blend = [blended_wape(x, w) if len(x) else np.nan for x in (wide, wide_own)]
        reason = (
            f"{evidence}: "
            + ", ".join(f"{n} {v:.2f}" for n, v in w.items())
            + f"; replayed / inner WAPE {blend[0]:.3f} / {blend[1]:.3f} against best single "
            + facts(best)
        )
        return w, reason, figures

    # -- the strategy contract -----------------------------------------------------------------
    def transfer(
        self, source_model: Any, target: FeatureTable, source: FeatureTable | None = None
    ) -> Strategy:
        context = getattr(self, "context_", None)
        if not context:
            raise TransfercastError(
                "auto needs the origin's tables: fit it through compare, run or TransferForecaster"
            )
        tables, domain, cache = context["tables"], context["domain"], context["cache"]
        rep = self.replays_for(tables, domain, cache)
        cands = {n: self.make(n) for n in self.candidate_names() if n != NAIVE}
        own = inner_backtest(tables, cands, cache)
        meta = target_meta(tables, domain, similarity=self.params.method == "meta")
        weighed, left_out = rep, []
        if history_length(tables, domain) == 0:  # pre-launch: nothing of the target's own
            left_out = [
                n for n in self.candidate_names() if n == NAIVE or self.make(n).needs_history
            ]
            kept = ~rep.table["candidate"].isin(left_out)
            weighed = Replays(rep.table[kept], rep.detail, rep.meta, rep.seconds)
        weights, reason, figures = self.weigh(weighed, own, meta, domain, tables.horizon)
        if left_out:
            reason = (
                f"pre-launch: {', '.join(left_out)} need the target's history, left out; {reason}"
            )
        self.members_: list[Strategy] = []
        for name in weights.index:
            member = self.make(name)
            model = cache.get(member, tables.source) if member.source_spec() else None
            fitted = member.clone()
            fitted.context_ = {"tables": tables, "domain": domain, "cache": cache}
            fitted.transfer(model, tables.target(domain), tables.source)
            self.members_.append(fitted)
        self.chosen_, self.weights_ = list(weights.index), [float(w) for w in weights]
        row: dict[str, Any] = {
            "target": domain,
            "origin": tables.data.origin,
            "method": self.params.method,
            "chosen": "+".join(self.chosen_),
            "weights": ";".join(f"{w:.3f}" for w in self.weights_),
            "reason": reason,
            "replayed": int(rep.losses().shape[0]),
        }
        for name in figures.index:
            row[f"replay_{name}"] = float(figures.loc[name, "replay"])
        for name in figures.index:
            row[f"inner_{name}"] = float(figures.loc[name, "inner"])
        row.update({f"meta_{k}": v for k, v in meta.items()})
        self.selection_ = pd.DataFrame([row])
        self.replays_, self.inner_ = rep, own
        return self

    def replayed_forecasts(self) -> pd.DataFrame | None:
        """The replays' forecasts of this target's blend (its weights on the candidates')."""
        if not hasattr(self, "replays_"):
            return None
        weights = dict(zip(self.chosen_, self.weights_, strict=True))
        return blend_detail(self.replays_.detail, weights, self.name)

    def predict(self, table: FeatureTable) -> np.ndarray:
        preds = [w * m.predict(table) for m, w in zip(self.members_, self.weights_, strict=True)]
        return np.sum(preds, axis=0)

    def save(self, directory: Path) -> dict[str, Any]:
        """Each member's files in ``member<k>/``; the choice and weights in the manifest."""
        members = []
        for k, member in enumerate(self.members_):
            sub = Path(directory) / f"member{k}"
            sub.mkdir(parents=True, exist_ok=True)
            entries = member.save(sub)
            members.append(
                {"name": member.name, "params": member.get_params(), "dir": sub.name}
                | {"entries": entries}
            )
        selection = self.selection_.iloc[0].astype(str).to_dict()
        return {"members": members, "weights": list(self.weights_), "selection": selection}

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any]) -> Strategy:
        obj = cls(manifest["params"])
        obj.members_ = []
        for m in manifest["members"]:
            klass = Naive if m["name"] == NAIVE else obj._registry().get(m["name"]).cls
            entries = {"params": m["params"], **m["entries"]}
            obj.members_.append(klass.load(Path(directory) / m["dir"], entries))
        obj.weights_ = [float(w) for w in manifest["weights"]]
        obj.chosen_ = [m["name"] for m in manifest["members"]]
        obj.selection_ = pd.DataFrame([manifest.get("selection", {})])
        return obj


@transfercast.hookimpl
def transfercast_register_strategies(register) -> None:
    register(Auto)
