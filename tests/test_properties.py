"""Property-based tests (hypothesis) of data validation and feature building, and a scan of the
package for loaders that can execute code."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import transfercast as tc
from transfercast.config import FeaturesConfig
from transfercast.features import FeatureBuilder
from transfercast.panel import Panel

from .conftest import small_frame

SPEC = FeaturesConfig(lags=[1, 2, 3, 5], windows=[2, 4], level_window=3, season_length=4)
FAST = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@st.composite
def panels(draw):
    """A small panel with gaps, zeros, one known covariate and a categorical key; an origin; and
    a copy whose targets after the origin (and covariates after origin + horizon) differ."""
    n = draw(st.integers(1, 4))
    T = draw(st.integers(6, 16))
    horizon = draw(st.integers(1, 3))
    origin = draw(st.integers(2, T - 1))
    values = st.one_of(st.just(0.0), st.just(np.nan), st.floats(0.5, 1e4))
    Y = np.array(draw(st.lists(values, min_size=n * T, max_size=n * T))).reshape(n, T)
    Y[:, :2] = np.where(np.isnan(Y[:, :2]), 1.0, Y[:, :2])  # every series starts observed
    known = np.array(draw(st.lists(st.floats(0, 10), min_size=n * T, max_size=n * T)))
    known = known.reshape(n, T)
    noise = np.array(draw(st.lists(st.floats(0, 1e5), min_size=n * T, max_size=n * T)))
    noise = noise.reshape(n, T)
    T_all = T + horizon
    pad = np.full((n, horizon), np.nan)
    times = pd.date_range("2020-01-03", periods=T_all, freq="W-FRI")
    keys = pd.DataFrame({"dept": [f"D{k % 2}" for k in range(n)]})

    def make(Ymat, K):
        return Panel(
            ids=np.array([f"s{k}" for k in range(n)], dtype=object),
            domains=np.array(["A"] * n, dtype=object),
            keys=keys,
            times=times,
            Y=np.hstack([Ymat, pad]),
            known={"price": np.hstack([K, pad])},
            static=pd.DataFrame(index=range(n)),
            freq="W-FRI",
        )

    Y2, K2 = Y.copy(), known.copy()
    Y2[:, origin + 1 :] = noise[:, origin + 1 :]
    K2[:, min(origin + horizon + 1, T) :] = noise[:, min(origin + horizon + 1, T) :]
    return make(Y, known), make(Y2, K2), origin, horizon


def _tables(panel: Panel, origin: int, horizon: int, builder: FeatureBuilder | None = None):
    cut = panel.cut(origin, horizon)
    builder = builder or FeatureBuilder.for_panel(cut, SPEC, "domain")
    rows = np.arange(panel.n_series)
    train = builder.build(cut, *builder.training_rows(cut, rows, origin, horizon), with_label=True)
    pred = builder.build(cut, *builder.prediction_rows(rows, origin, horizon), with_label=False)
    return builder, train, pred


@FAST
@given(panels())
def test_no_feature_at_the_origin_sees_values_after_it(case):
    before, after, origin, horizon = case
    c1, c2 = before.cut(origin, horizon), after.cut(origin, horizon)
    np.testing.assert_array_equal(c1.Y, c2.Y)
    np.testing.assert_array_equal(c1.known["price"], c2.known["price"])
    b1, train1, pred1 = _tables(before, origin, horizon)
    b2, train2, pred2 = _tables(after, origin, horizon)
    assert b1 == b2  # same columns and vocabularies
    for t1, t2 in ((train1, train2), (pred1, pred2)):
        pd.testing.assert_frame_equal(t1.X, t2.X)
        pd.testing.assert_frame_equal(t1.keys, t2.keys)
        np.testing.assert_array_equal(t1.level, t2.level)
    np.testing.assert_array_equal(train1.y, train2.y)


@FAST
@given(panels())
def test_features_of_an_anchor_ignore_later_targets_even_uncut(case):
    """The builder itself reads targets at or before each row's anchor only."""
    before, after, origin, horizon = case
    builder = FeatureBuilder.for_panel(before, SPEC, "domain")
    rows = np.arange(before.n_series)
    i, a, h = builder.prediction_rows(rows, origin, horizon)
    same_known = {"price": before.known["price"]}
    after = Panel(**{**after.__dict__, "known": same_known})
    t1 = builder.build(before, i, a, h, with_label=False)
    t2 = builder.build(after, i, a, h, with_label=False)
    pd.testing.assert_frame_equal(t1.X, t2.X)
    np.testing.assert_array_equal(t1.level, t2.level)


@FAST
@given(panels())
def test_level_scaling_round_trips(case):
    panel, _, origin, horizon = case
    _, train, _ = _tables(panel, origin, horizon)
    raw = panel.Y[train.keys["_i"].to_numpy(), panel.times.get_indexer(train.keys["ds"])]
    assert np.all(np.isfinite(train.level)) and np.all(train.level > 0)
    np.testing.assert_allclose(train.y * train.level, raw, rtol=1e-12, atol=1e-9)


@settings(max_examples=5, deadline=None)
@given(st.randoms(use_true_random=False))
def test_row_order_of_the_input_does_not_matter(rnd):
    frame = small_frame()
    shuffled = frame.sample(frac=1.0, random_state=rnd.randint(0, 2**31))
    kw = dict(
        series=["store", "dept"],
        time="date",
        target="sales",
        domain="store",
        targets=["S08"],
        horizon=4,
        known=["price"],
    )
    a, b = tc.TransferTask(frame, **kw), tc.TransferTask(shuffled, **kw)
    np.testing.assert_array_equal(a.panel.Y, b.panel.Y)
    np.testing.assert_array_equal(a.panel.known["price"], b.panel.known["price"])
    assert list(a.panel.ids) == list(b.panel.ids)


UNSAFE = [
    (r"\bpickle\.loads?\(", "pickle.load"),
    (r"\bcloudpickle\.loads?\(", "cloudpickle.load"),
    (r"\bdill\.loads?\(", "dill.load"),
    (r"\bjoblib\.load\(|\bfrom joblib import [^\n]*\bload\b", "joblib.load"),
    (r"\bread_pickle\(", "pandas.read_pickle"),
    (r"allow_pickle\s*=\s*True", "numpy allow_pickle=True"),
    # torch.load unpickles even with weights_only=True; network weights are .npz arrays
    (r"\btorch\.load\(", "torch.load"),
]


def test_no_loader_that_can_execute_code():
    root = Path(__file__).resolve().parents[1]
    files = sorted((root / "core").rglob("*.py")) + sorted((root / "plugins").rglob("*.py"))
    assert len(files) > 10
    found = []
    for path in files:
        text = path.read_text()
        for pattern, what in UNSAFE:
            if re.search(pattern, text):
                found.append(f"{path.relative_to(root)}: {what}")
    assert found == []


def test_the_scan_catches_unsafe_calls():
    patterns = dict((what, pattern) for pattern, what in UNSAFE)
    assert re.search(patterns["torch.load"], "x = torch.load(f, map_location='cpu')")
    assert re.search(patterns["torch.load"], "x = torch.load(f, weights_only=True)")
    assert re.search(patterns["numpy allow_pickle=True"], "np.load(f, allow_pickle=True)")
    assert not re.search(patterns["numpy allow_pickle=True"], "np.load(f, allow_pickle=False)")
    assert re.search(UNSAFE[0][0], "state = pickle.load(fh)")
