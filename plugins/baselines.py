"""Baseline strategies every comparison needs: ``target_only``, ``source_only`` and ``pooled``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

import transfercast
from transfercast.engines import GBM
from transfercast.features import FeatureTable
from transfercast.strategy import GBMParams, SourceSpec, Strategy


class _OneModel(Strategy):
    """Save and load for strategies whose fitted state is one booster in ``model_``."""

    def save(self, directory: Path) -> dict[str, Any]:
        return {"model": self.model_.save(directory, self.name)}

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any]) -> Strategy:
        obj = cls(manifest["params"])
        obj.model_ = GBM.load(directory, manifest["model"])
        return obj


class TargetOnly(_OneModel):
    """No transfer: a small model fitted on the target's own history only."""

    name = "target_only"
    Params = GBMParams
    params: GBMParams
    uses_source_rows = False
    needs_history = True

    def fine_tune(self, target: FeatureTable, source: FeatureTable | None) -> None:
        p = self.params
        self.model_ = GBM(p.engine, "target", p.target_params, p.seed).fit(target)

    def predict(self, table: FeatureTable) -> np.ndarray:
        return self.model_.predict(table.X)


class SourceOnly(Strategy):
    """Zero-shot: the model fitted on the source domains, applied to the target unchanged."""

    name = "source_only"
    Params = GBMParams
    params: GBMParams
    uses_source_rows = False  # the source model alone (so it can be fitted with Dask)

    def source_spec(self) -> SourceSpec:
        return self.params.source_spec()

    def predict(self, table: FeatureTable) -> np.ndarray:
        return self.source_model_.predict(table.X)

    def save(self, directory: Path) -> dict[str, Any]:
        return {"model": self.source_model_.save(directory, "source")}

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any]) -> Strategy:
        obj = cls(manifest["params"])
        obj.source_model_ = GBM.load(directory, manifest["model"])
        return obj


class PooledParams(GBMParams):
    """``pooled``: one model on source and target rows; target rows weighted up."""

    target_weight: float = Field(
        5.0,
        gt=0,
        allow_inf_nan=False,
        description="weight of a target row relative to a source row in the fit",
    )


def pooled_domains(tables: Any) -> list[Any]:
    """The target domains of an origin's tables in the pooled model's order, a fixed one (not
    the order [task] targets lists them in): its rows, and so its trees, do not depend on it."""
    return sorted(tables.data.target_rows, key=str)


def pooled_rows(
    source: FeatureTable, targets: list[FeatureTable], target_weight: float
) -> tuple[FeatureTable, np.ndarray]:
    """The pooled model's training rows and weights: the source rows then every (non-empty)
    target domain's rows, ``is_target`` 0 or 1. Each table's weights have mean 1 (a row's level
    over its table's mean level), and target rows are weighted up by ``target_weight``: at 1 a
    target domain's rows weigh, on average, what a source row does, whatever its size."""
    targets = [t for t in targets if len(t)]
    both = FeatureTable.concat([source, *targets])
    n_target = sum(len(t) for t in targets)
    both.X["is_target"] = np.r_[np.zeros(len(source)), np.ones(n_target)]
    w = np.concatenate([source.weight, *(t.weight * target_weight for t in targets)])
    return both, w


class Pooled(_OneModel):
    """One model on source and target rows together, with a domain indicator and target weight.

    In a comparison (or any fit through the core) every target domain of an origin shares one
    pooled model, fitted on the sources plus all target domains' histories, each cut at that
    origin: the same information, one fit per origin instead of one per target. The shared
    model is found in the core's cache by a fingerprint of exactly what it is fitted on (see
    :meth:`shared_key`), never by the identity of a Python object.
    """

    name = "pooled"
    Params = PooledParams
    params: PooledParams

    def fine_tune(self, target: FeatureTable, source: FeatureTable | None) -> None:
        if source is None:
            raise ValueError("pooled needs the source rows")
        context = getattr(self, "context_", None)
        if context is None:
            self.model_ = self._fit(source, [target])
            return
        tables, cache = context["tables"], context["cache"]
        domains = pooled_domains(tables)
        targets = [tables.target(d) for d in domains]
        if cache is None:  # no cache to share through: the same model, fitted for this target
            self.model_ = self._fit(source, targets)
            return
        key = self.shared_key(source, domains, targets)
        self.model_ = cache.shared(key, lambda: self._fit(source, targets))

    def shared_key(
        self, source: FeatureTable, domains: list[Any], targets: list[FeatureTable]
    ) -> tuple[str, str, str]:
        """The cache key of the pooled model: the strategy name, its parameters and a hash of
        the training data — the source rows and every target domain's rows (features, labels
        and weights, in fitting order). Two fits share a model only when they would fit the
        same one."""
        h = hashlib.sha256()
        for dom, table in [("<source>", source), *zip(domains, targets, strict=True)]:
            h.update(repr(dom).encode())
            h.update(table.fingerprint.encode())  # features, labels and weights
        params = json.dumps(self.get_params(), sort_keys=True, default=str)
        return (self.name, params, h.hexdigest())

    def _fit(self, source: FeatureTable, targets: list[FeatureTable]) -> GBM:
        p = self.params
        both, w = pooled_rows(source, targets, p.target_weight)
        return GBM(p.engine, "source", p.source_params, p.seed).fit(both, weight=w)

    def predict(self, table: FeatureTable) -> np.ndarray:
        return self.model_.predict(table.X.assign(is_target=1.0))


@transfercast.hookimpl
def transfercast_register_strategies(register) -> None:
    register(TargetOnly)
    register(SourceOnly)
    register(Pooled)
