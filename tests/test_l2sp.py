"""The ``l2sp`` strategy: the L2-SP penalty, structure adaptation, fine-tuning invariants,
persistence and the optional torch dependency.

Set ``TRANSFERCAST_TEST_DEVICE=cuda`` to run the network tests on a GPU.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from transfercast.cli import to_toml
from transfercast.errors import ConfigError, MissingDependencyError
from transfercast.forecasting import OriginTables
from transfercast.plugin_manager import get_plugin_manager
from transfercast.plugins import l2sp_net
from transfercast.plugins.l2sp import L2SP
from transfercast.source_cache import SourceCache

from .conftest import small_project

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


# -- the optional dependency ------------------------------------------------------------------
def test_listed_and_named_extra_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert importlib.util.find_spec("torch") is None
    pm = get_plugin_manager(refresh=True)
    entry = pm.registry.get("l2sp")
    assert entry.plugin == "transfercast.plugins.l2sp" and "L2-SP" in entry.description
    with pytest.raises(MissingDependencyError, match=r"transfercast\[torch\]"):
        pm.registry.create("l2sp")


def test_cli_without_torch_exits_2_naming_the_extra(tmp_path):
    raw = small_project(tmp_path, horizon=4, windows=1)
    (tmp_path / "config.toml").write_text(to_toml(raw))
    code = (
        "import sys; sys.modules['torch'] = None; from transfercast.cli import main; "
        "sys.argv = ['transfercast'] + sys.argv[1:]; main()"
    )
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "compare",
            str(tmp_path / "config.toml"),
            "--strategies",
            "target_only,l2sp",
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TRANSFERCAST_LOAD_PLUGINS": ""},
    )
    assert res.returncode == 2, res.stderr
    assert "transfercast[torch]" in res.stderr and "Traceback" not in res.stderr


def test_bad_parameters_name_the_key():
    with pytest.raises(ConfigError, match="freeze"):
        L2SP(hidden=[8], freeze=2)
    with pytest.raises(ConfigError, match="device"):
        L2SP(device="tpu")
    with pytest.raises(ConfigError, match="loss"):
        L2SP(loss="poisson")


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
        torch.testing.assert_close(p.grad, closed[name], rtol=1e-5, atol=1e-7)
        m, w0 = s.source_mask_[name], s.reference_[name]
        expected += 0.35 * ((p - w0)[m] ** 2).sum().item() + 0.15 * (p[~m] ** 2).sum().item()
    assert value.item() == pytest.approx(expected, rel=1e-5)  # sums over elements, not means
    masks = s.source_mask_
    assert not masks["head.weight"].any() and not masks["embeddings.2.weight"].any()
    assert 0 < masks["layers.0.weight"].float().mean() < 1


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


# -- fine-tuning invariants -------------------------------------------------------------------
def test_zero_epochs_gives_the_source_forecasts(source_net, target, tables, task):
    s = fitted(source_net, target, epochs=0)
    rows = tables.builder.prediction_rows(
        tables.data.target_rows[task.targets[0]], tables.data.origin_idx, task.horizon
    )
    table = tables.builder.build(tables.data.panel, *rows, with_label=False)
    close(s.predict(table), source_net.predict(table.X))


def test_huge_alpha_keeps_the_source_weights(source_net, target):
    lr = 1e-3
    stiff = fitted(source_net, target, alpha=1e6, epochs=30, valid_periods=0, lr=lr)
    loose = fitted(source_net, target, alpha=0.0, beta=0.0, epochs=30, valid_periods=0, lr=lr)
    src = flat(source_net.net)
    drift = max(np.abs(flat(stiff.net_)[n] - src[n]).max() for n in src)
    free = max(np.abs(flat(loose.net_)[n] - src[n]).max() for n in src)
    assert drift < 3 * lr  # Adam's steps are about lr; the penalty pulls each one back
    assert free > 10 * drift


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


def test_early_stopping_on_the_target_tail(source_net, target):
    s = fitted(source_net, target, epochs=40, patience=3, valid_periods=3)
    assert len(s.valid_history_) <= 41
    assert s.epochs_ == int(np.argmin(s.valid_history_))


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
