"""The source-model cache: one model per fitting procedure, source spec and source data, never
reused for other rows, labels, weights, seeds or a strategy with its own ``fit_source``."""

from __future__ import annotations

import numpy as np
import pytest

from transfercast.forecasting import OriginTables
from transfercast.plugins.baselines import SourceOnly
from transfercast.source_cache import SourceCache

FAST = {"source_params": {"num_boost_round": 5}}


@pytest.fixture(scope="module")
def two_origins(task):
    return [
        OriginTables(task, task.at_origin(o), task.features) for o in task.evaluation_origins()[:2]
    ]


def test_a_source_model_is_never_reused_for_other_source_rows(two_origins):
    """One cache, two origins' source tables (as auto's replays and inner backtests share one
    cache with earlier cuts): each gets a model fitted on its own rows."""
    t1, t2 = two_origins
    assert t1.source.fingerprint != t2.source.fingerprint
    cache, s = SourceCache(), SourceOnly(FAST)
    m1, m2 = cache.get(s, t1.source), cache.get(s, t2.source)
    assert m1 is not m2 and cache.fits == 2
    assert cache.get(s, t1.source) is m1  # the same rows again: the same model


def test_a_source_model_is_never_shared_across_seeds(two_origins):
    source, cache = two_origins[0].source, SourceCache()
    a = cache.get(SourceOnly({**FAST, "seed": 0}), source)
    b = cache.get(SourceOnly({**FAST, "seed": 1}), source)
    assert a is not b and cache.fits == 2


def test_a_strategy_with_its_own_fit_source_gets_its_own_model(two_origins):
    """The same spec, another fitting procedure (a subclass overriding ``fit_source``)."""

    class Tweaked(SourceOnly):
        name = "tweaked"

        def fit_source(self, source):
            return ("tweaked", super().fit_source(source))

    source, cache = two_origins[0].source, SourceCache()
    plain, tweaked = cache.get(SourceOnly(FAST), source), cache.get(Tweaked(FAST), source)
    assert plain is not tweaked and tweaked[0] == "tweaked"


def test_the_data_fingerprint_covers_labels_weights_and_columns(two_origins):
    """The data part of the cache key: the same features with other labels, row weights or
    column names are other source data."""
    t = two_origins[0].source
    changes = {
        "y": lambda c: setattr(c, "y", np.asarray(t.y, dtype=float) * 1.5),
        "weight": lambda c: setattr(c, "weight", np.asarray(t.weight)[::-1].copy()),
        "columns": lambda c: setattr(c, "X", t.X.rename(columns={t.X.columns[0]: "other"})),
    }
    assert t.subset(np.arange(len(t))).fingerprint == t.fingerprint
    for what, change in changes.items():
        copy = t.subset(np.arange(len(t)))
        change(copy)
        assert copy.fingerprint != t.fingerprint, what


def test_the_pooled_key_follows_the_parameters_and_the_weights(two_origins):
    """Two ``pooled`` configurations, or tables equal but for their weights, never share the
    one model ``pooled`` fits for every target of an origin."""
    from transfercast.plugins.baselines import Pooled

    t = two_origins[0]
    domains = sorted(t.data.target_rows, key=str)
    targets = [t.target(d) for d in domains]
    key = Pooled(FAST).shared_key(t.source, domains, targets)
    assert Pooled(FAST).shared_key(t.source, domains, targets) == key
    assert Pooled({**FAST, "target_weight": 2.0}).shared_key(t.source, domains, targets) != key
    heavier = [x.subset(np.arange(len(x))) for x in targets]
    heavier[0].weight = np.asarray(targets[0].weight, dtype=float) * 2.0
    assert Pooled(FAST).shared_key(t.source, domains, heavier) != key
