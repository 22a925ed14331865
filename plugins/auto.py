"""``auto``: per-target candidate weights learned from source replays.

For one target domain at one origin, the source domains replay being new with the target's
history length (:mod:`transfercast.replay`), every candidate and the model-free ones forecasting
them; the replays are shared by every target of the origin. The target's own backtest (its last
periods, forecast from the periods before) is a second body of evidence, weighted by
:func:`~transfercast.replay.own_share` as far as the replays fail to stand for the target
(:func:`~transfercast.replay.replay_pvalue`). Flat forecasts' replayed losses count at least
their miss of the season (:func:`~transfercast.replay.season_floor`). ``method``: ``"stack"``
(default) fits non-negative weights summing to 1 that minimise the evidence-weighted WAPE of the
blend (:func:`~transfercast.replay.stack_weights`); ``"meta"`` the same over the nearest third
(at least three) of the replayed domain-cuts by meta-features; ``"select"`` the one candidate
with the lowest evidence-weighted WAPE. ``target_only``, ``seasonal_naive``, ``last_value`` and
``naive`` are ordinary candidates. A ``transfercast_select_strategy`` plugin sees the replay
table and the target's meta-features first and may return weights or a name. Only candidates
with a non-zero weight are fitted; ``predict`` is their weighted sum; ``selection_`` holds one
row (docs/selection.md), ``reason``'s figures all from the evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

import transfercast
from transfercast.bundle import check_provider, provider_of
from transfercast.data import period_text
from transfercast.errors import ConfigError, TransfercastError, unknown_name
from transfercast.features import FeatureTable
from transfercast.forecasting import OriginTables, transfer_to
from transfercast.intervals import blend_detail
from transfercast.replay import (
    BUILTIN,
    NAIVE,
    Replays,
    blended_wape,
    hook_weights,
    inner_backtest,
    nearest_rows,
    own_share,
    replay_history,
    replay_pvalue,
    season_floor,
    select_answer,
    stack_weights,
    target_meta,
    twins_of_naive,
    weighed_replays,
    weight_text,
    wide_detail,
)
from transfercast.strategy import Strategy, StrategyParams

__all__ = ["Auto", "AutoParams"]


class AutoParams(StrategyParams):
    """``auto``: its candidates, how weights are learned from the replays, the replays' shape."""

    candidates: list[str] | None = Field(
        None,
        min_length=1,
        description="strategies weighed (default: all installed but auto, analog, "
        "recalibrate), with naive, last_value and seasonal_naive always",
    )
    method: Literal["stack", "meta", "select"] = Field(
        "stack",
        description="stack: weights minimising the evidence's WAPE; meta: the same "
        "over the replays nearest by meta-features; select: the best single candidate",
    )
    folds: int = Field(2, ge=2, description="groups of source domains that replay in turn")
    cuts: int = Field(2, ge=1, description="cut points before the origin the replays use")
    strategies: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="parameter tables of the candidates, by name"
    )
    seed: int = Field(0, ge=0, lt=2**31, description="seed of the replays' grouping of domains")


class Auto(Strategy):
    """Per-target candidate weights learned from the sources' replays of being new."""

    name = "auto"
    Params = AutoParams
    params: AutoParams

    def _registry(self) -> Any:
        return transfercast.plugin_manager.active_manager().registry

    def reads_source_table(self) -> bool:
        """Whether a candidate reads the source table: only then is it built."""
        return any(self.make(n).reads_source_table() for n in self.candidate_names())

    def candidate_names(self) -> list[str]:
        """The configured candidates (or every registered strategy but ``auto`` that is installed
        and ``auto_default``), then the model-free ones of ``replay.BUILTIN``."""
        registry, p = self._registry(), self.params
        bad = sorted(set(p.strategies) - set(BUILTIN) - set(registry.names()))
        if bad:  # a misspelt table would leave its candidate at its defaults
            valid = p.candidates or registry.names()
            raise ConfigError(unknown_name("[strategies.auto] strategies table", bad[0], valid))
        names = []
        for name in p.candidates or registry.installed():  # by default, those installed
            if name == self.name or name in BUILTIN:
                continue
            try:
                entry = registry.get(name)
            except TransfercastError:
                raise ConfigError(
                    f"[strategies.auto] candidates: unknown strategy '{name}'; "
                    f"valid: {', '.join(registry.names())}"
                ) from None
            if p.candidates is not None or entry.cls.auto_default:
                names.append(entry.name)
        return [*dict.fromkeys(names), *BUILTIN]

    def make(self, name: str) -> Strategy:
        """A candidate instance with its parameter table (an error names the table's path)."""
        if name in BUILTIN:
            return BUILTIN[name]()
        try:
            return self._registry().create(name, self.params.strategies.get(name, {}))
        except ConfigError as exc:
            here = f"[strategies.auto.strategies.{name}]"
            raise ConfigError(str(exc).replace(f"[strategies.{name}]", here)) from None

    def replays_for(self, tables: OriginTables, domain: Any, cache: Any) -> tuple[Any, ...]:
        """The target's shared replays, those its weights read and the cuts they leave out."""
        p, n = self.params, replay_history(tables, domain, self.params.cuts)
        twins = twins_of_naive(tables, n)  # they would replay the naive level again
        cands = {c: self.make(c) for c in self.candidate_names() if c not in [NAIVE, *twins]}
        shape = {"folds": p.folds, "cuts": p.cuts, "seed": p.seed, "similarity": p.method == "meta"}
        return weighed_replays(tables, n, cands, cache, **shape)

    def weigh(
        self, rep: Replays, own: Replays, meta: dict[str, float], domain: Any
    ) -> tuple[pd.Series, str, pd.DataFrame]:
        """The weights by candidate, the reason, and each candidate's mean replayed WAPE
        (``replay``) and the target's own inner WAPE (``inner``)."""
        p = self.params
        losses = rep.losses()
        mine = own.table[own.table["domain"] == domain].set_index("candidate")["wape"]
        figures = pd.DataFrame({"replay": losses.mean(), "inner": mine}).reindex(
            self.candidate_names()
        )
        pm = transfercast.plugin_manager.active_manager()
        answer, by = select_answer(pm, target=domain, replays=rep.table.copy(), meta=dict(meta))
        if answer is not None:  # among the candidates replayed for this target (pre-launch: less)
            open_here = set(rep.table["candidate"]) if len(rep.table) else set(figures.index)
            weights = hook_weights(answer, [n for n in figures.index if n in open_here], by)
            return weights, f"chosen by the transfercast_select_strategy plugin '{by}'", figures
        # the target's own backtest counts as far as the replays fail to stand for the target
        mine_detail = own.detail[own.detail["domain"] == domain]
        periods = int(mine_detail["ds"].nunique())
        ranked = losses.drop(columns=NAIVE, errors="ignore").mean().sort_values(kind="stable")
        lead = ranked.index[0] if len(ranked) else "-"  # the replays' own pick
        pvalue = replay_pvalue(rep.detail, mine_detail, lead) if len(ranked) else 1.0
        share = own_share(periods, pvalue) if len(losses) else 1.0
        scored = [n for n in figures.index if n in losses.columns or not len(losses)]
        names = [n for n in scored if n in mine.index or not periods]
        if not names or not (len(losses) or periods):
            return pd.Series({NAIVE: 1.0}), "no replay or inner backtest could be scored", figures
        rows = losses.index  # a domain may miss a cut: its periods end before it (old regimes)
        shape = f"{len(rows)} replayed domain-cuts ({len(set(rows.get_level_values(0)))} domains)"
        if p.method == "meta" and len(losses):
            rows, total = nearest_rows(rep, losses, meta), len(losses)
            shape = f"the {len(rows)} of {total} replayed domain-cuts nearest by meta-features"
            figures["replay"] = losses.loc[rows].mean().reindex(figures.index)  # what it reads
        replay = losses.loc[rows, names].mean() if len(losses) else pd.Series(0.0, index=names)
        inner = mine.reindex(names).astype(float).fillna(0.0)
        floor = (1 - share) * season_floor(replay, meta)  # replays blind to the season
        predicted = (1 - share) * replay + share * inner + floor
        best = predicted.idxmin()
        held = "; flat forecasts held to their season miss (meta_season_flat)" * bool(floor.any())
        evidence = f"{p.method} over {shape} and the target's own {periods} periods (share "
        evidence += f"{share:.2f}; replay p-value {pvalue:.3g} on {lead}{held})"

        read = [("replayed", replay, len(losses)), ("inner", inner, periods)]  # either absent
        label = " / ".join(w for w, _, on in read if on) + " WAPE"
        facts = {n: f"{n} " + " / ".join(f"{x[n]:.3f}" for _, x, on in read if on) for n in names}
        if p.method == "select":
            ranked = predicted.sort_values(kind="stable")
            reason = f"{evidence}: {label} " + ", ".join(facts[n] for n in ranked.index[:3])
            return pd.Series({best: 1.0}), reason, figures
        wide = wide_detail(rep.detail, names)
        wide = wide[pd.MultiIndex.from_frame(wide[["domain", "cut"]]).isin(rows)]
        wide_own = wide_detail(mine_detail, names)
        w = stack_weights([(wide, 1 - share), (wide_own, share)], names, floor)
        w = w[w > 0].sort_values(ascending=False, kind="stable")
        blend = [blended_wape(x, w) if len(x) else np.nan for x in (wide, wide_own)]
        blended = " / ".join(f"{b:.3f}" for b, (*_, on) in zip(blend, read, strict=True) if on)
        reason = (
            f"{evidence}: "
            + ", ".join(f"{n} {v:.2f}" for n, v in w.items())
            + f"; {label} {blended} against best single "
            + facts[best]
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
        rep, weighed, dropped = self.replays_for(tables, domain, cache)  # intervals: every cut
        cands = {n: self.make(n) for n in self.candidate_names() if n != NAIVE}
        own = inner_backtest(tables, cands, cache)
        meta = target_meta(tables, domain, similarity=self.params.method == "meta")
        history = replay_history(tables, domain, self.params.cuts)
        twins = twins_of_naive(tables, history)
        names = [] if history else [n for n in self.candidate_names() if n not in twins]
        left_out = [n for n in names if n == NAIVE or self.make(n).needs_history]  # pre-launch
        weighed, own = weighed.drop(candidates=left_out), own.drop(candidates=twins)
        weights, reason, figures = self.weigh(weighed, own, meta, domain)
        cuts = ", ".join(period_text(c) for c in dropped)
        unseen = f"cut {cuts} left out (its sources had not seen that part of the year); "
        young = "pre-launch: " + ", ".join(n for n in left_out if n != NAIVE)
        young += " need the target's history, naive is the estimated level: left out; "
        reason = (young if left_out else "") + (unseen if dropped else "") + reason
        self.members_: list[Strategy] = []
        for name in weights.index:  # each member fitted as a cell of its own would be
            member = self.make(name)
            rows = tables.source if member.reads_source_table() else None  # built only if read
            model = cache.get(member, rows) if rows is not None else None
            self.members_.append(transfer_to(member, model, tables, domain, rows, cache))
        self.chosen_, self.weights_ = list(weights.index), [float(w) for w in weights]
        row: dict[str, Any] = {
            "target": domain,
            "origin": tables.data.origin,
            "method": self.params.method,
            "chosen": "+".join(self.chosen_),
            "weights": weight_text(self.weights_),
            "reason": reason,
            "replayed": int(weighed.losses().shape[0]),
            "n": history,
        }
        for col in ("replay", "inner"):
            row.update({f"{col}_{n}": float(v) for n, v in figures[col].items()})
        row.update({f"meta_{k}": v for k, v in meta.items()})
        self.selection_ = pd.DataFrame([row])
        self.replays_, self.inner_ = rep.detail, own.detail[own.detail["domain"] == domain]
        return self

    def replayed_forecasts(self) -> pd.DataFrame | None:
        """The replays' forecasts of this target's blend, with the naive level's rows."""
        return self._blend(getattr(self, "replays_", None))

    def backtest_forecasts(self) -> pd.DataFrame | None:
        """The target's own backtest forecasts of its blend, with the naive level's rows."""
        return self._blend(getattr(self, "inner_", None))

    def _blend(self, detail: pd.DataFrame | None) -> pd.DataFrame | None:
        if detail is None:
            return None
        weights = dict(zip(self.chosen_, self.weights_, strict=True))
        naive = detail[detail["candidate"] == NAIVE]
        return pd.concat([blend_detail(detail, weights, self.name), naive], ignore_index=True)

    def predict(self, table: FeatureTable) -> np.ndarray:
        preds = [w * m.predict(table) for m, w in zip(self.members_, self.weights_, strict=True)]
        return np.sum(preds, axis=0)

    def save(self, directory: Path) -> dict[str, Any]:
        """Each member's files in ``member<k>/``; the choice and weights in the manifest."""
        members = []
        for k, member in enumerate(self.members_):
            (sub := Path(directory) / f"member{k}").mkdir(parents=True, exist_ok=True)
            entries = {"dir": sub.name, "entries": member.save(sub)}
            by = {"provider": provider_of(self._registry().entries.get(member.name))}
            members.append({"name": member.name, "params": member.get_params(), **entries, **by})
        selection = self.selection_.iloc[0].astype(str).to_dict()
        return {"members": members, "weights": list(self.weights_), "selection": selection}

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any]) -> Strategy:
        obj = cls(manifest["params"])
        obj.members_ = []
        for m in manifest["members"]:
            klass = BUILTIN.get(m["name"]) or check_provider(  # not another plugin's class
                obj._registry().get(m["name"]), m.get("provider"), directory
            )
            entries = {"params": m["params"], **m["entries"]}
            obj.members_.append(klass.load(Path(directory) / m["dir"], entries))
        obj.weights_ = [float(w) for w in manifest["weights"]]
        obj.chosen_ = [m["name"] for m in manifest["members"]]
        obj.selection_ = pd.DataFrame([manifest.get("selection", {})])
        return obj


@transfercast.hookimpl
def transfercast_register_strategies(register) -> None:
    register(Auto)
