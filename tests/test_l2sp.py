"""The ``l2sp`` strategy with torch: the L2-SP penalty, structure adaptation, fine-tuning
invariants and persistence (``tests/test_l2sp_without_torch.py`` covers the optional
dependency; this module is skipped where torch is not installed).

Set ``TRANSFERCAST_TEST_DEVICE=cuda`` to run the network tests on a GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from transfercast.cli import to_toml  # noqa: E402
from transfercast.errors import ConfigError  # noqa: E402
from transfercast.features import FeatureTable  # noqa: E402
from transfercast.forecasting import OriginTables  # noqa: E402
from transfercast.plugins import l2sp_net  # noqa: E402
from transfercast.plugins.l2sp import L2SP  # noqa: E402
from transfercast.source_cache import SourceCache  # noqa: E402

from .conftest import small_project  # noqa: E402

DEVICE = os.environ.get("TRANSFERCAST_TEST_DEVICE", "cpu")
EXACT = DEVICE == "cpu"  # CUDA embedding backward uses atomics: equal up to rounding only
SMALL = dict(hidden=[16, 8], source_epochs=2, epochs=20, batch_size=256, patience=5, device=DEVICE)


def close(a, b, atol=1e-5) -> None:
    if EXACT:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, atol=atol, rtol=1e-4)


@pytest.fixture(scope="module")
def tables(task) -> OriginTables:
    origin = task.evaluation_origins()[0]
    return OriginTables(task, task.at_origin(origin), task.features)


@pytest.fixture(scope="module")
def target(tables, task):
    return tables.target(task.targets[0])


@pytest.fixture(scope="module")
def source_net(tables):
    return L2SP(SMALL).fit_source(tables.source)


def fitted(source_net, target, **params) -> L2SP:
    return L2SP({**SMALL, **params}).transfer(source_net, target)


def flat(net) -> dict[str, np.ndarray]:
    return {n: p.detach().cpu().numpy().copy() for n, p in net.named_parameters()}


def widened(target):
    """The target table with a target-only numeric column, a target-only categorical column
    and a department the source never saw."""
    X = target.X.copy()
    rng = np.random.default_rng(0)
    X["footfall"] = rng.normal(100, 10, len(X))
    X["region"] = pd.Categorical(rng.choice(["north", "south"], len(X)))
    dept = X["dept"].astype(str).to_numpy()
    dept[: len(dept) // 3] = "D9"
    X["dept"] = pd.Categorical(dept)
    out = target.subset(np.arange(len(target)))
    out.X = X
    out.categorical = [*target.categorical, "region"]
    return out


def test_bad_parameters_name_the_key():
    with pytest.raises(ConfigError, match="freeze"):
        L2SP(hidden=[8], freeze=2)
    with pytest.raises(ConfigError, match="device"):
        L2SP(device="tpu")
    with pytest.raises(ConfigError, match="loss"):
        L2SP(loss="poisson")
    with pytest.raises(ConfigError, match="members"):
        L2SP(members=0)


# -- the penalty ------------------------------------------------------------------------------
def test_penalty_gradient_matches_closed_form(source_net, target):
    s = L2SP({**SMALL, "alpha": 0.7, "beta": 0.3, "reinit_head": True})
    s.source_model_ = source_net
    s.adapt(source_net, widened(target))
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in s.net_.parameters():
            p.add_(torch.randn(p.shape, generator=gen).to(p.device) * 0.05)
    pen = s.penalty()
    value = pen(s.net_)
    value.backward()
    closed = pen.gradient(s.net_)
    expected = 0.0
    for name, p in s.net_.named_parameters():
        grad = torch.zeros_like(p) if p.grad is None else p.grad
        torch.testing.assert_close(grad, closed[name], rtol=1e-5, atol=1e-7)
        if name == "head.bias":  # a new head's bias is not shrunk toward 0
            assert p.grad is None and not closed[name].any()
            continue
        m, w0 = s.source_mask_[name], s.reference_[name]
        expected += 0.35 * ((p - w0)[m] ** 2).sum().item() + 0.15 * (p[~m] ** 2).sum().item()
    assert value.item() == pytest.approx(expected, rel=1e-5)  # sums over elements, not means
    masks = s.source_mask_
    assert not masks["head.weight"].any() and not masks["embeddings.2.weight"].any()
    assert 0 < masks["layers.0.weight"].float().mean() < 1


def test_proximal_step_minimises_the_penalty_plus_the_distance(source_net, target):
    """After ``proximal_step(lr)`` from ``w``, ``v`` solves ``grad penalty(v) + (v - w)/lr = 0``
    (the proximal operator of the published penalty), element by element."""
    s = L2SP({**SMALL, "alpha": 50.0, "beta": 20.0, "reinit_head": True})
    s.adapt(source_net, widened(target))
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in s.net_.parameters():
            p.add_(torch.randn(p.shape, generator=gen).to(p.device) * 0.1)
    before = {n: p.detach().clone() for n, p in s.net_.named_parameters()}
    pen, lr = s.penalty(), 0.01
    pen.proximal_step(s.net_, lr)
    closed = pen.gradient(s.net_)
    for name, v in s.net_.named_parameters():
        optimality = closed[name] + (v.detach() - before[name]) / lr
        torch.testing.assert_close(optimality, torch.zeros_like(v), rtol=0, atol=2e-4)
    assert not torch.equal(s.net_.layers[1].weight, before["layers.1.weight"])
    torch.testing.assert_close(s.net_.head.bias.detach(), before["head.bias"], rtol=0, atol=0)


def test_a_new_head_bias_is_not_shrunk_by_beta(source_net, target):
    """With ``reinit_head`` and a huge beta the new head's weights go to 0; its bias is left to
    the data, so the forecast keeps the label's level instead of collapsing to 0."""
    s = fitted(
        source_net,
        target,
        reinit_head=True,
        alpha=0.0,
        beta=1e6,
        lr=0.05,
        epochs=60,
        valid_periods=0,
    )
    pred = s.predict(target)
    level = float(np.median(target.y))
    assert abs(float(np.median(pred)) - level) < 0.25 * abs(level)
    assert s.net_.head.weight.detach().abs().max().item() < 1e-4


# -- adapting the structure -------------------------------------------------------------------
def test_extended_network_computes_the_source_function(source_net, target):
    wide = widened(target)
    s = L2SP({**SMALL, "epochs": 0})
    s.transfer(source_net, wide)
    assert s.encoder_.extra_numeric == ["footfall"]
    assert s.encoder_.extra_categorical == ["region"]
    assert "D9" in s.encoder_.vocab["dept"]
    first = s.net_.layers[0].weight.detach()
    assert first.shape[1] > source_net.net.layers[0].weight.shape[1]
    before = s.predict(wide)
    np.testing.assert_allclose(before, source_net.predict(wide.X), rtol=1e-6, atol=1e-6)
    # the new department's embedding is the mean of the source departments' embeddings
    emb = s.net_.embeddings[0].weight.detach().cpu()
    vocab = s.encoder_.vocab["dept"]
    seen = [vocab.index(d) + 1 for d in ("D1", "D2")]
    torch.testing.assert_close(emb[vocab.index("D9") + 1], emb[seen].mean(0))


def test_target_only_inputs_are_learned(source_net, target):
    wide = widened(target)
    s = fitted(source_net, wide, epochs=15, valid_periods=0, alpha=0.0, beta=0.0, freeze=1)
    ref, now = s.reference_["layers.0.weight"], s.net_.layers[0].weight.detach()
    m = s.source_mask_["layers.0.weight"]
    assert torch.equal(now[m], ref[m])  # frozen source columns of the first layer
    assert (now[~m] != 0).any()  # the zero-initialised new columns moved


@pytest.mark.parametrize("in_source_vocab", [False, True], ids=["new_name", "unused_category"])
def test_categories_the_source_never_saw_learn_their_embedding(tables, target, in_source_vocab):
    """A department no source row has (absent from the source vocabulary, or a category of the
    source column that no source row uses) starts at the mean row and is a new weight: it
    learns under ``freeze = 1``, while the source departments' rows stay frozen."""
    source = tables.source
    if in_source_vocab:
        source = source.subset(np.arange(len(source)))
        source.X = source.X.copy()
        dept = source.X["dept"].astype(str)
        source.X["dept"] = pd.Categorical(dept, categories=[*sorted(dept.unique()), "D9"])
    src_net = L2SP(SMALL).fit_source(source)
    assert ("D9" in src_net.encoder.vocab["dept"]) == in_source_vocab
    s = fitted(
        src_net, widened(target), freeze=1, alpha=0.0, beta=0.0, epochs=15, valid_periods=0, lr=1e-2
    )
    vocab = s.encoder_.vocab["dept"]
    d9, seen = vocab.index("D9") + 1, [vocab.index(d) + 1 for d in ("D1", "D2")]
    start, now = s.initial_state_["embeddings.0.weight"], s.net_.embeddings[0].weight.detach()
    torch.testing.assert_close(start[d9], start[seen].mean(0))  # the mean source row
    assert not torch.equal(now[d9], start[d9])  # learned
    assert torch.equal(now[seen], start[seen])  # source rows frozen
    assert torch.equal(now[0], start[0])  # the unknown row is the source's


def test_target_statistics_come_from_the_rows_before_the_tail(source_net, target):
    """Changing the validation tail's inputs and labels changes neither the standardisation of
    a target-only column nor, for ``init = "scratch"``, the encoder and the starting bias."""
    wide = widened(target)
    tail = wide.time_tail(3)
    assert 0 < tail.sum() < len(wide)
    other = relabelled(wide, np.where(tail, wide.y * 10, wide.y))
    other.X = wide.X.copy()
    other.X["footfall"] = np.where(tail, 1e4, wide.X["footfall"])
    a, b = (L2SP({**SMALL, "valid_periods": 3}) for _ in range(2))
    a.adapt(source_net, wide)
    b.adapt(source_net, other)
    assert a.encoder_.extra_mean == b.encoder_.extra_mean
    assert a.encoder_.extra_std == b.encoder_.extra_std
    assert a.encoder_.extra_mean[0] == pytest.approx(wide.X["footfall"][~tail].mean())
    sa, sb = (L2SP({**SMALL, "valid_periods": 3, "init": "scratch"}) for _ in range(2))
    sa.adapt(None, wide)
    sb.adapt(None, other)
    assert sa.encoder_.to_json() == sb.encoder_.to_json()
    assert torch.equal(sa.net_.head.bias, sb.net_.head.bias)
    assert "D9" in sa.encoder_.vocab["dept"]  # categories of every row are still named


# -- fine-tuning invariants -------------------------------------------------------------------
def test_zero_epochs_gives_the_source_forecasts(source_net, target, tables, task):
    s = fitted(source_net, target, epochs=0)
    rows = tables.builder.prediction_rows(
        tables.data.target_rows[task.targets[0]], tables.data.origin_idx, task.horizon
    )
    table = tables.builder.build(tables.data.panel, *rows, with_label=False)
    close(s.predict(table), source_net.predict(table.X))


def horizon_table(tables, task):
    """The first target's forecast rows over the horizon (no labels)."""
    rows = tables.builder.prediction_rows(
        tables.data.target_rows[task.targets[0]], tables.data.origin_idx, task.horizon
    )
    return tables.builder.build(tables.data.panel, *rows, with_label=False)


def test_huge_alpha_reproduces_the_source_forecasts(source_net, target, tables, task):
    """alpha -> inf is the source network (epochs = 0) to 0.1 %, whatever the learning rate;
    alpha = 0 fine-tunes away from it."""
    table = horizon_table(tables, task)
    f0 = fitted(source_net, target, epochs=0).predict(table)
    src = flat(source_net.net)
    for lr in (1e-3, 1e-2):
        stiff = fitted(source_net, target, alpha=1e9, epochs=20, valid_periods=0, lr=lr)
        loose = fitted(source_net, target, alpha=0.0, epochs=20, valid_periods=0, lr=lr)
        assert np.max(np.abs(stiff.predict(table) - f0) / np.abs(f0)) < 1e-3
        assert np.max(np.abs(loose.predict(table) - f0) / np.abs(f0)) > 1e-2
        drift = max(np.abs(flat(stiff.net_)[n] - src[n]).max() for n in src)
        assert drift < 1e-5


def test_alpha_orders_the_distance_from_the_source(source_net, target):
    """A stronger alpha keeps the fine-tuned weights closer to the source weights."""
    src = flat(source_net.net)

    def distance(alpha: float) -> float:
        s = fitted(source_net, target, alpha=alpha, epochs=30, valid_periods=0, lr=1e-2)
        now = flat(s.net_)
        return float(np.sqrt(sum(((now[n] - src[n]) ** 2).sum() for n in src)))

    d = [distance(a) for a in (0.0, 10.0, 100.0, 1000.0)]
    assert d[0] > d[1] > d[2] > d[3] > 0


def test_no_penalty_equals_plain_fine_tuning(source_net, target):
    s = fitted(source_net, target, alpha=0.0, beta=0.0, epochs=12, valid_periods=0)
    plain = L2SP({**SMALL, "alpha": 0.0, "beta": 0.0})
    plain.adapt(source_net, target)
    data = l2sp_net.Tensors.from_table(plain.encoder_, target, l2sp_net.resolve_device(DEVICE))
    l2sp_net.train(
        plain.net_, data, epochs=12, lr=plain.params.lr, batch_size=256, loss=plain.loss_, seed=0
    )  # no penalty term at all
    close(s.predict(target), plain.predict(target))
    assert not np.allclose(s.predict(target), source_net.predict(target.X))


def test_deterministic_for_a_seed(tables, target):
    a = L2SP(SMALL).transfer(L2SP(SMALL).fit_source(tables.source), target)
    b = L2SP(SMALL).transfer(L2SP(SMALL).fit_source(tables.source), target)
    close(a.predict(target), b.predict(target))
    c = L2SP({**SMALL, "seed": 1}).transfer(
        L2SP({**SMALL, "seed": 1}).fit_source(tables.source), target
    )
    assert not np.allclose(a.predict(target), c.predict(target))


def test_a_fit_leaves_torchs_threads_and_random_state_as_it_found_them(tables, target, monkeypatch):
    """The user's own torch code in the same process draws the same numbers, on as many
    threads, whether or not an l2sp fit ran in between; inside the fit TRANSFERCAST_THREADS
    holds."""
    from transfercast.plugins import l2sp_net

    threads = torch.get_num_threads()
    other = 1 if threads != 1 else 2
    torch.set_num_threads(other)
    monkeypatch.setenv("TRANSFERCAST_THREADS", "3")
    seen = []
    made = l2sp_net.weighted_loss  # each training batch of the source and the target

    def watched(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return made(*args, **kwargs)

    monkeypatch.setattr(l2sp_net, "weighted_loss", watched)
    try:
        torch.manual_seed(123)
        want = torch.rand(3)
        torch.manual_seed(123)
        model = L2SP(SMALL).transfer(L2SP(SMALL).fit_source(tables.source), target)
        model.predict(target)
        assert torch.equal(torch.rand(3), want)
        assert torch.get_num_threads() == other and seen and set(seen) == {3}
    finally:
        torch.set_num_threads(threads)


def test_an_l2sp_scope_leaves_another_threads_seed_and_thread_count_as_it_set_them(monkeypatch):
    """A scope put back, when it ended, torch's random state and thread count as it found
    them: a seed and a thread count another thread set meanwhile (a notebook cell beside a
    background comparison) were undone."""
    import threading

    monkeypatch.setenv("TRANSFERCAST_THREADS", "1")
    threads = torch.get_num_threads()
    inside, leave = threading.Event(), threading.Event()

    def fitting() -> None:
        with l2sp_net.torch_scope():
            l2sp_net.TabularNet(
                {"cards": [3], "emb_dims": [2], "n_numeric": 2, "hidden": [4], "dropout": 0.0,
                 "n_numeric_base": 2, "n_cat_base": 1}
            )  # fmt: skip
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=fitting)
    try:
        thread.start()
        assert inside.wait(10)
        torch.manual_seed(123)
        torch.set_num_threads(2)
        leave.set()
        thread.join()
        drawn = torch.rand(3)
        torch.manual_seed(123)
        assert torch.equal(drawn, torch.rand(3))
        assert torch.get_num_threads() == 2
    finally:
        leave.set()
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def two_members(tables, target) -> L2SP:
    s = L2SP({**SMALL, "members": 2, "seed": 3})
    return s.transfer(s.fit_source(tables.source), target)


def test_members_forecast_in_the_recursive_formulation_too(task, tables, two_members):
    """Read as a weighted blend of strategies (``members_``, as auto), l2sp's networks had no
    ``weights_``: every recursive forecast of ``members = 2`` failed with AttributeError."""
    spec = task.features.model_copy(update={"formulation": "recursive"})
    recursive = OriginTables(task, tables.data, spec)
    fc = recursive.forecast(two_members, task.targets[0])
    assert len(fc) and np.isfinite(fc["forecast"]).all()
    direct = tables.forecast(two_members, task.targets[0])
    first = fc["ds"] == fc["ds"].min()  # step 1 reads no forecast of its own: the same
    np.testing.assert_allclose(
        fc.loc[first].sort_values("unique_id")["forecast"],
        direct.loc[direct["ds"] == direct["ds"].min()].sort_values("unique_id")["forecast"],
        rtol=1e-6,
    )


def test_members_forecast_the_mean_of_the_networks_of_their_seeds(tables, target, two_members):
    """``members = 2`` with seed 3 is the mean of the single networks of seeds 3 and 4, each
    pre-trained and fine-tuned as on its own; one member keeps the source key it had."""
    singles = []
    for seed in (3, 4):
        one = L2SP({**SMALL, "seed": seed})
        singles.append(one.transfer(one.fit_source(tables.source), target).predict(target))
    assert not np.allclose(singles[0], singles[1])
    close(two_members.predict(target), (singles[0] + singles[1]) / 2)
    assert two_members.epochs_ == [m.epochs_ for m in two_members.members_]
    spec = L2SP({**SMALL, "members": 1}).source_spec()
    assert "members" not in spec.params and spec.key() == L2SP(SMALL).source_spec().key()
    assert L2SP({**SMALL, "members": 2}).source_spec().key() != spec.key()


def relabelled(target, y):
    """A copy of ``target`` with labels ``y``."""
    out = target.subset(np.arange(len(target)))
    out.y = np.asarray(y, dtype=float)
    return out


def test_early_stopping_chooses_the_epochs_on_the_target_tail(source_net, target):
    """Rows before the tail that mislead (labels shifted by +3) while the tail agrees with the
    source network: any epoch worsens the tail, so 0 epochs are chosen and the result is the
    source network, after ``patience`` epochs without improvement. A shift shared by every row
    is worth learning: epochs are chosen and the forecasts move toward it."""
    src = source_net.predict(target.X)
    tail = target.time_tail(3)
    misled = relabelled(target, np.where(tail, src, src + 3.0))
    s = fitted(source_net, misled, epochs=40, patience=3, valid_periods=3, alpha=0.0, beta=0.0)
    assert s.epochs_ == 0 and len(s.valid_history_) == 1 + 3
    close(s.predict(misled), src)
    shifted = relabelled(target, src + 0.5)
    t = fitted(
        source_net, shifted, epochs=40, patience=3, valid_periods=3, alpha=0.0, beta=0.0, lr=1e-2
    )
    assert t.epochs_ > 0
    assert np.mean(t.predict(shifted) - src) > 0.2


def test_short_history_falls_back_to_the_source_network(source_net, target, tables, task):
    """A target with no more periods than ``valid_periods`` has nothing to choose the epochs on:
    the forecasts are the source network's (also with a re-drawn head), not ``epochs`` epochs
    of unchecked fine-tuning; ``init = "scratch"`` has no source and trains all ``epochs``."""
    short = target.subset(target.time_tail(3))
    assert 0 < len(short) < len(target)
    table = horizon_table(tables, task)
    src = source_net.predict(table.X)
    for reinit in (False, True):
        s = fitted(source_net, short, epochs=50, valid_periods=4, reinit_head=reinit)
        assert s.epochs_ == 0
        close(s.predict(table), src)
    shifted = relabelled(target, source_net.predict(target.X) + 0.5)
    longer = fitted(source_net, shifted, epochs=50, valid_periods=4, lr=1e-2)
    assert longer.epochs_ > 0  # the fallback applies only to the short history
    scratch = fitted(None, short, init="scratch", epochs=7, valid_periods=4)
    assert scratch.epochs_ == 7


@pytest.mark.parametrize("loss", ["mse", "tweedie"])
def test_other_losses(tables, target, loss):
    tgt = target.subset(np.arange(len(target)))
    tgt.y = tgt.y.copy()
    tgt.y[0] = -0.5  # a return: tweedie clips labels at zero
    s = L2SP({**SMALL, "loss": loss})
    s.transfer(s.fit_source(tables.source), tgt)
    pred = s.predict(target)
    assert np.isfinite(pred).all() and (loss != "tweedie" or (pred > 0).all())
    assert abs(np.median(pred) - np.median(target.y)) < 0.5


def test_reinit_head_and_scratch(source_net, target):
    s = fitted(source_net, target, reinit_head=True, epochs=0)
    assert not torch.equal(s.net_.head.weight.cpu(), source_net.net.head.weight.cpu())
    scratch = L2SP({**SMALL, "init": "scratch", "epochs": 30})
    assert scratch.source_spec() is None
    scratch.transfer(None, target)
    assert np.isfinite(scratch.predict(target)).all()


# -- persistence ------------------------------------------------------------------------------
def test_save_and_load_round_trip(source_net, target, tmp_path):
    wide = widened(target)
    s = fitted(source_net, wide, epochs=5, valid_periods=0)
    entries = s.save(tmp_path)
    doc = json.loads((tmp_path / entries["manifest"]).read_text())
    assert doc["format"] == "transfercast-l2sp/1" and doc["params"]["alpha"] == s.params.alpha
    assert entries["weights"].endswith(".npz")
    with np.load(tmp_path / entries["weights"], allow_pickle=False) as state:
        assert set(state.files) == set(s.net_.state_dict())
    loaded = L2SP.load(tmp_path, entries)
    close(loaded.predict(wide), s.predict(wide))


def test_members_save_one_weights_file_each_and_load_to_the_same_forecast(
    two_members, target, tmp_path
):
    entries = two_members.save(tmp_path)
    assert entries["weights"] == ["l2sp-0.npz", "l2sp-1.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l2sp-0.npz", "l2sp-1.npz", "l2sp.json"]
    doc = json.loads((tmp_path / "l2sp.json").read_text())
    assert doc["params"]["members"] == 2 and len(doc["members"]) == 2
    loaded = L2SP.load(tmp_path, entries)
    close(loaded.predict(target), two_members.predict(target))


def test_encoder_maps_categories_by_name_whatever_their_dtype():
    """Codes follow the vocabulary's spelling: integer departments find their string entries,
    unknown and missing values get index 0 (and no pandas deprecation warning is raised)."""
    enc = l2sp_net.Encoder([], [], [], [], ["dept"], {"dept": ["1", "2", "7"]})
    X = pd.DataFrame({"dept": pd.Series([7, 1, 99, None, 2], dtype=object)})
    as_category = pd.DataFrame({"dept": pd.Categorical(["2", "x", None, "7"])})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, cats = enc.transform(X)
        _, cats_c = enc.transform(as_category)
    assert cats[:, 0].tolist() == [3, 1, 0, 0, 2]
    assert cats_c[:, 0].tolist() == [2, 0, 0, 3]


def test_an_input_never_held_at_a_part_of_the_year_is_read_as_missing():
    """Last season's sales absent from every source row in weeks 40-52 (the data's first year)
    are read as missing in those weeks at the target too, and as they are elsewhere; the record
    survives the encoder's JSON, and an encoder saved without one changes nothing."""
    weeks = np.tile(np.arange(1.0, 53.0), 3)
    lag52 = np.where(weeks >= 40, np.nan, np.linspace(0.5, 1.5, len(weeks)))
    X = pd.DataFrame({"lag52": lag52, "week": weeks})
    source = FeatureTable(
        X=X, y=np.ones(len(X)), keys=pd.DataFrame(index=X.index), level=np.ones(len(X))
    )
    enc = l2sp_net.Encoder.fit(source)
    assert enc.position == "week" and enc.cover == {"lag52": list(np.arange(1.0, 40.0))}
    target = pd.DataFrame({"lag52": [1.2, 1.2, np.nan], "week": [10.0, 45.0, 45.0]})
    num, _ = enc.transform(target)
    value, indicator = enc.numeric.index("lag52"), len(enc.numeric)
    assert num[0, indicator] == 0.0 and num[0, value] != 0.0  # week 10: held, read as it is
    assert num[1, indicator] == 1.0 and num[1, value] == 0.0  # week 45: never held, missing
    np.testing.assert_array_equal(num[1], num[2])
    again = l2sp_net.Encoder.from_json(json.loads(json.dumps(enc.to_json())))
    np.testing.assert_array_equal(again.transform(target)[0], num)
    old = {k: v for k, v in enc.to_json().items() if k not in ("position", "cover")}
    assert l2sp_net.Encoder.from_json(old).transform(target)[0][1, indicator] == 0.0


# -- in comparisons ---------------------------------------------------------------------------
def test_configurations_share_one_source_network(tables):
    cache = SourceCache()
    a, b = L2SP({**SMALL, "alpha": 0.1}), L2SP({**SMALL, "alpha": 10.0, "freeze": 1})
    assert cache.get(a, tables.source) is cache.get(b, tables.source)
    assert cache.fits == 1
    other = L2SP({**SMALL, "hidden": [8]})
    assert cache.get(other, tables.source) is not cache.get(a, tables.source)


def test_cuda_fallback_warns(monkeypatch, target, tables):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        assert l2sp_net.resolve_device("cuda").type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(tables, target):
    cpu = L2SP({**SMALL, "device": "cpu", "epochs": 0})
    gpu = L2SP({**SMALL, "device": "cuda", "epochs": 0})
    cpu.transfer(cpu.fit_source(tables.source), target)
    gpu.transfer(gpu.fit_source(tables.source), target)
    assert next(gpu.net_.parameters()).is_cuda
    np.testing.assert_allclose(gpu.predict(target), cpu.predict(target), rtol=0.05, atol=0.05)


@pytest.mark.slow
def test_cli_compare_with_l2sp(tmp_path):
    raw = small_project(
        tmp_path,
        horizon=4,
        windows=1,
        candidates=["target_only", "l2sp"],
        output_dir="out",
    )
    raw["strategies"] = {"l2sp": {k: v for k, v in SMALL.items()}}
    (tmp_path / "config.toml").write_text(to_toml(raw))
    res = subprocess.run(
        [sys.executable, "-m", "transfercast.cli", "compare", str(tmp_path / "config.toml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "TRANSFERCAST_LOAD_PLUGINS": "", "TRANSFERCAST_THREADS": "1"},
    )
    assert res.returncode == 0, res.stderr
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert set(scores["strategy"]) == {"target_only", "l2sp"}
    assert (scores["status"] == "ok").all() and scores["wape"].notna().all()


def test_a_bundle_of_several_members_predicts_what_run_forecast(tmp_path):
    """`run` with `members = 2` writes both networks into the bundle, and `predict` from it
    gives `run`'s forecasts."""
    from .clirun import invoke

    raw = small_project(tmp_path, horizon=4, target_history=13, windows=1, output_dir="out")
    raw["strategy"]["name"] = "l2sp"
    raw["strategies"] = {"l2sp": {**SMALL, "members": 2}}
    (tmp_path / "config.toml").write_text(to_toml(raw))
    res = invoke("run", tmp_path / "config.toml")
    assert res.code == 0, res.err
    model = tmp_path / "out" / "model"
    weights = sorted(p.name for p in model.rglob("*.npz"))
    assert weights == ["l2sp-0.npz"] * 3 + ["l2sp-1.npz"] * 3  # three target domains
    res = invoke("predict", model, "--data", tmp_path / "sales.csv", "--output", tmp_path / "p.csv")
    assert res.code == 0, res.err
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "p.csv"), pd.read_csv(tmp_path / "out" / "forecasts.csv")
    )


def test_each_seed_gets_its_own_source_network(tables):
    """The source network is pre-trained with the strategy's seed: configurations that differ
    in seed never share it through the cache."""
    cache = SourceCache()
    a = cache.get(L2SP({**SMALL, "seed": 0}), tables.source)
    b = cache.get(L2SP({**SMALL, "seed": 1}), tables.source)
    assert a is not b and cache.fits == 2
    assert not np.allclose(a.predict(tables.source.X[:50]), b.predict(tables.source.X[:50]))


def test_dropout_is_part_of_the_pre_training(tables):
    src = tables.source
    plain = L2SP({**SMALL, "dropout": 0.0}).fit_source(src)
    dropped = L2SP({**SMALL, "dropout": 0.5}).fit_source(src)
    assert not np.allclose(plain.predict(src.X[:50]), dropped.predict(src.X[:50]))
    cache = SourceCache()
    first = cache.get(L2SP({**SMALL, "dropout": 0.0}), src)
    assert cache.get(L2SP({**SMALL, "dropout": 0.5}), src) is not first


def test_freeze_keeps_every_source_weight_of_the_frozen_blocks(source_net, target):
    """``freeze = 2`` (of two hidden layers): every source entry of the embeddings and both
    linear layers, biases included, stays at its source value; the head learns."""
    s = fitted(
        source_net, target, freeze=2, alpha=0.0, beta=0.0, epochs=10, valid_periods=0, lr=1e-2
    )
    start = s.initial_state_
    for name, w in s.net_.named_parameters():
        if name.startswith(("embeddings.", "layers.")):
            m = s.source_mask_[name]
            assert torch.equal(w.detach()[m], start[name][m]), name
    assert not torch.equal(s.net_.head.weight.detach(), start["head.weight"])


def test_the_seed_orders_the_fine_tuning_batches(source_net, target):
    """One source network, seeds 0 and 1: the batch order, the only random part here (no
    dropout, no new parameters), and so the fine-tuned network differ."""
    a, b = (
        fitted(source_net, target, seed=k, batch_size=16, epochs=3, valid_periods=0, alpha=0.0)
        for k in (0, 1)
    )
    assert not np.allclose(a.predict(target), b.predict(target))


def test_a_new_head_is_drawn_by_the_seed_from_the_source_heads_bias(source_net, target):
    """``reinit_head`` draws new head weights with the seed, but the bias starts at the source
    head's (the forecast's level), as a new parameter (no source value, exempt from beta)."""
    a, b = (L2SP({**SMALL, "seed": k, "reinit_head": True}) for k in (0, 1))
    a.adapt(source_net, target)
    b.adapt(source_net, target)
    assert not torch.equal(a.net_.head.weight, b.net_.head.weight)
    assert torch.equal(a.net_.head.bias.detach(), source_net.net.head.bias.detach())
    assert not torch.equal(a.net_.head.weight.detach(), source_net.net.head.weight.detach())
    assert not a.source_mask_["head.bias"].any() and "head.bias" in a.penalty().exempt


def test_an_input_the_sources_hold_constant_reaches_the_network_unclipped():
    """An event only the targets have (0 in every source row) reads 1 where it is on, so that
    fine-tuning can learn it; an input that varies in the sources is clipped to their range."""
    X = pd.DataFrame({"event": np.zeros(6), "size": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]})
    source = FeatureTable(
        X=X, y=np.ones(len(X)), keys=pd.DataFrame(index=X.index), level=np.ones(len(X))
    )
    enc = l2sp_net.Encoder.fit(source)
    num, _ = enc.transform(pd.DataFrame({"event": [0.0, 1.0], "size": [2.0, 30.0]}))
    event, size = enc.numeric.index("event"), enc.numeric.index("size")
    assert num[:, event].tolist() == [0.0, 1.0]
    assert num[1, size] == pytest.approx((3.0 - 2.0) / np.std([1.0, 2.0, 3.0]), rel=1e-6)
