"""An example transfercast plugin: ``shrinkage_blend``, a blend of two baselines.

The forecast is ``w * source_only + (1 - w) * target_only``. With a fixed ``source_weight``
the blend is a plain model average; with ``kappa`` set, the weight on the source shrinks as the
target's own history grows, ``w = kappa / (kappa + n)`` where ``n`` is the number of target
anchors the target model was fitted on, so a brand-new target leans on the source and an
established one on itself (``kappa`` is the history at which both weigh the same).

Install it with ``pip install -e examples/custom_plugin``; ``transfercast plugins`` then lists
``shrinkage_blend`` with the source ``entry point``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

import transfercast
from transfercast import FeatureTable, GBMParams, SourceSpec, Strategy
from transfercast.engines import GBM


class ShrinkageParams(GBMParams):
    """``[strategies.shrinkage_blend]``; ``engine``, ``source_params``, ``target_params`` and
    ``seed`` come from :class:`transfercast.GBMParams`."""

    source_weight: float = Field(0.5, ge=0.0, le=1.0, description="weight of source_only")
    kappa: float | None = Field(
        None, gt=0, description="if set, source weight = kappa / (kappa + target anchors)"
    )


class ShrinkageBlend(Strategy):
    """Blend of source_only and target_only, shrunk toward the source for short targets."""

    name = "shrinkage_blend"
    Params = ShrinkageParams
    # an example, so auto weighs it only where [strategies.auto] candidates name it: installed
    # with True, every auto run everywhere would weigh it too
    auto_default = False
    params: ShrinkageParams  # self.params, typed for your type checker

    def source_spec(self) -> SourceSpec:
        """The same source model as ``source_only``: the core fits it once for both."""
        p = self.params
        return SourceSpec("gbm", p.engine, p.source_params, p.seed)

    def fine_tune(self, target: FeatureTable, source: FeatureTable | None) -> None:
        """Fit the target-only model and fix the blend weight."""
        p = self.params
        self.target_model_ = GBM(p.engine, "target", p.target_params, p.seed).fit(target)
        if p.kappa is None:
            self.weight_ = p.source_weight
        else:
            n = target.keys["anchor"].nunique()
            self.weight_ = p.kappa / (p.kappa + n)

    def predict(self, table: FeatureTable) -> np.ndarray:
        """The blend, on the normalised scale (ratios to the recent level) like every strategy."""
        w = self.weight_
        return w * self.source_model_.predict(table.X) + (1 - w) * self.target_model_.predict(
            table.X
        )

    # Saving is optional; with it, `transfercast run` also writes a model bundle.
    def save(self, directory: Path) -> dict[str, Any]:
        """Both boosters in their native formats, plus the weight."""
        return {
            "source": self.source_model_.save(directory, "source"),
            "target": self.target_model_.save(directory, "target"),
            "weight": self.weight_,
        }

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any]) -> ShrinkageBlend:
        """Rebuild the fitted blend from :meth:`save`'s entries."""
        obj = cls(manifest["params"])
        obj.source_model_ = GBM.load(directory, manifest["source"])
        obj.target_model_ = GBM.load(directory, manifest["target"])
        obj.weight_ = float(manifest["weight"])
        return obj


@transfercast.hookimpl
def transfercast_register_strategies(register) -> None:
    """Offer ``shrinkage_blend`` to transfercast."""
    register(ShrinkageBlend)
