"""The ``representation`` strategy: representation columns, leakage, target-only covariates,
unseen categories, persistence and the command line."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import transfercast
from transfercast.cli import to_toml
from transfercast.config import parse_config
from transfercast.datasets import synthetic_config
from transfercast.errors import ConfigError, MissingDependencyError
from transfercast.evaluation import compare
from transfercast.features import FeatureTable
from transfercast.forecasting import OriginTables
from transfercast.plugins import representation as rep
from transfercast.plugins.baselines import SourceOnly
from transfercast.plugins.representation import EmbeddingEncoder, EntityEncoder, Representation
from transfercast.source_cache import SourceCache
from transfercast.task import TransferTask

from .conftest import small_frame, small_project

HAS_TORCH = importlib.util.find_spec("torch") is not None  # the embedding needs the torch extra
ALL = ["prediction", "leaves", *(["embedding"] * HAS_TORCH), "entities"]
FAST = {"embedding_epochs": 2, "source_params": {"num_boost_round": 60}}


def make_task(frame: pd.DataFrame, known: list[str] | None = None) -> TransferTask:
    raw = synthetic_config(
        "unused.csv", frame.attrs["targets"], horizon=6, target_history=13, windows=2
    )
    if known:
        raw["data"]["known"] += known
    return TransferTask.from_config(parse_config(raw), data=frame)


def fit(task: TransferTask, origin, domain, **params) -> tuple[Representation, OriginTables]:
    """A fitted representation strategy for one target at one origin (fresh encoders)."""
    rep._MEMO.clear()
    tables = OriginTables(task, task.at_origin(origin), task.features)
    cache = SourceCache()
    strategy = Representation({**FAST, **params})
    fitted = strategy.clone()
    fitted.transfer(cache.get(strategy, tables.source), tables.target(domain), tables.source)
    return fitted, tables


def prediction_table(tables: OriginTables, domain) -> FeatureTable:
    rows = tables.data.target_rows[domain]
    b = tables.builder
    return b.build(
        tables.data.panel,
        *b.prediction_rows(rows, tables.data.origin_idx, tables.horizon),
        with_label=False,
    )


@pytest.fixture(scope="module")
def base():
    frame = small_frame()
    task = make_task(frame)
    origin = task.evaluation_origins()[0]
    domain = task.targets[0]
    fitted, tables = fit(task, origin, domain, representations=ALL)
    return frame, task, origin, domain, fitted, tables


def test_representation_columns_are_named_and_finite(base):
    frame, task, origin, domain, fitted, tables = base
    target = tables.target(domain)
    cols = fitted.representations(target)
    k = fitted.params.n_components
    expected = [
        "rep_prediction",
        *[f"rep_leaf{j}" for j in range(k)],
        *[f"rep_emb{j}" for j in range(k) if HAS_TORCH],
        *[f"ent_{c}_{j}" for c in ("dept", "store_type") for j in range(k)],
    ]
    assert list(cols.columns) == expected
    assert np.isfinite(cols.to_numpy()).all()
    assert cols.std().gt(0).sum() >= 5  # they carry information, not constants
    np.testing.assert_allclose(cols["rep_prediction"], fitted.source_model_.predict(target.X))


def test_representations_are_deterministic_and_ignore_target_values_after_the_origin(base):
    """A refit from scratch (fresh source model and encoders, same seed) on data whose target
    sales after the origin differ gives the very same columns and forecasts."""
    frame, task, origin, domain, fitted, tables = base
    changed = frame.copy()
    after = changed["store"].isin(task.targets) & (changed["date"] > origin)
    changed.loc[after, "sales"] *= np.random.default_rng(1).uniform(0.2, 5.0, after.sum())
    fitted2, tables2 = fit(make_task(changed), origin, domain, representations=ALL)
    for t1, t2 in [
        (tables.target(domain), tables2.target(domain)),
        (prediction_table(tables, domain), prediction_table(tables2, domain)),
    ]:
        pd.testing.assert_frame_equal(fitted.representations(t1), fitted2.representations(t2))
    pd.testing.assert_frame_equal(
        tables.forecast(fitted, domain), tables2.forecast(fitted2, domain)
    )


def test_a_row_s_own_label_never_feeds_its_representation(base):
    """Refit from scratch (fresh encoders) with the target rows' labels scrambled: the encoders
    must not learn from them, so every representation column of those rows is unchanged while
    the target model, which does learn from them, changes its forecasts."""
    _, _, _, domain, fitted, tables = base
    target = tables.target(domain)
    scrambled = FeatureTable(
        target.X, target.y[::-1] * 7.0, target.keys, target.level, target.categorical, target.weight
    )
    rep._MEMO.clear()
    refit = fitted.clone().transfer(fitted.source_model_, scrambled, tables.source)
    for table in (target, prediction_table(tables, domain)):
        pd.testing.assert_frame_equal(refit.representations(table), fitted.representations(table))
    table = prediction_table(tables, domain)
    assert not np.allclose(refit.predict(table), fitted.predict(table))


def test_source_rows_as_training_rows_are_refused():
    """On source rows every representation is in-sample (the source model and encoders were
    fitted on their labels): the option is refused with a message naming the key."""
    with pytest.raises(ConfigError, match=r"'include_source_rows'.*leak their labels.*pooled"):
        Representation(include_source_rows=True)
    assert Representation(include_source_rows=False, source_weight=0.5).params.source_weight == 0.5


def _random_table(n: int = 1200) -> FeatureTable:
    rng = np.random.default_rng(4)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "dept": pd.Categorical(rng.choice(["x", "y", "z"], n)),
        }
    )
    y = 1 + 0.5 * X["a"].to_numpy() - 0.3 * (X["dept"] == "y").to_numpy() + rng.normal(0, 0.1, n)
    return FeatureTable(X, y, pd.DataFrame(index=X.index), np.ones(n), ["dept"], np.ones(n))


def test_embedding_fit_leaves_torch_global_state_alone(monkeypatch):
    """The embedding network neither reseeds nor draws from torch's global generator, and does
    not change torch's (process-wide) thread setting."""
    torch = pytest.importorskip("torch")

    table = _random_table()
    torch.manual_seed(999)
    state = torch.get_rng_state()
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(n))
    EmbeddingEncoder.fit(table, 3, 2, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    assert calls == []


def test_embedding_fit_is_unaffected_by_other_torch_work(monkeypatch):
    """Draws from torch's global generator in between (another thread's work) change nothing;
    nor do two fits running in parallel threads next to a thread drawing random numbers."""
    torch = pytest.importorskip("torch")

    table = _random_table()
    alone = EmbeddingEncoder.fit(table, 3, 2, seed=5).transform(table.X)
    assert EmbeddingEncoder.fit(table, 3, 2, seed=6).transform(table.X).tolist() != alone.tolist()

    real_net = EmbeddingEncoder._net

    def net_after_other_work(n_in: int, k: int):
        torch.rand(1000)  # another thread draws from the global generator at this moment
        return real_net(n_in, k)

    with monkeypatch.context() as m:
        m.setattr(EmbeddingEncoder, "_net", staticmethod(net_after_other_work))
        np.testing.assert_array_equal(
            EmbeddingEncoder.fit(table, 3, 2, seed=5).transform(table.X), alone
        )

    done = threading.Event()

    def other_work() -> None:
        while not done.is_set():
            torch.manual_seed(int(torch.rand(1).item() * 1000))
            torch.randn(64, 64)

    with ThreadPoolExecutor(3) as pool:
        noise = pool.submit(other_work)
        fits = [pool.submit(EmbeddingEncoder.fit, table, 3, 2, 5) for _ in range(2)]
        outs = [f.result().transform(table.X) for f in fits]
        done.set()
        noise.result()
    for out in outs:
        np.testing.assert_array_equal(out, alone)


def test_target_only_covariate_is_picked_up():
    """An 'event' column, 0 in every source and lifting sales 80% in the targets: the source
    model cannot know it, the target model learns it and beats source_only."""
    frame = small_frame()
    rng = np.random.default_rng(3)
    is_target = frame["store"].isin(frame.attrs["targets"])
    frame["event"] = np.where(is_target, rng.random(len(frame)) < 0.3, 0).astype(int)
    frame["sales"] *= 1 + 0.8 * frame["event"]
    task = make_task(frame, known=["event"])
    comp = compare(task, [SourceOnly(source_params=FAST["source_params"]), Representation(FAST)])
    wape = comp.scores.groupby("strategy")["wape"].mean()
    assert (comp.scores["status"] == "ok").all()
    assert wape["representation"] < 0.8 * wape["source_only"], wape
    fitted, _ = fit(task, task.evaluation_origins()[0], task.targets[0])
    gain = dict(
        zip(fitted.model_.columns_, fitted.model_.booster_.feature_importance("gain"), strict=True)
    )
    assert max(gain, key=gain.get) in {"event", "event_delta"}


def test_unseen_category_gets_an_entity_embedding():
    frame = small_frame()
    new = frame["store"].isin(frame.attrs["targets"]) & (frame["dept"] == "D2")
    frame.loc[new, "dept"] = "D9"  # a department no source store has
    task = make_task(frame)
    domain = task.targets[0]
    fitted, tables = fit(task, task.evaluation_origins()[0], domain, representations=["entities"])
    state = fitted.encoders_["entities"].state["dept"]
    assert state["known"] == ["D1", "D2"] and "D9" in state["embeddings"]
    X = prediction_table(tables, domain).X
    ent = fitted.representations(prediction_table(tables, domain))
    d9 = ent.loc[(X["dept"] == "D9").to_numpy(), [c for c in ent if c.startswith("ent_dept_")]]
    assert len(d9) and np.isfinite(d9.to_numpy()).all()
    known = np.array([state["embeddings"][v] for v in state["known"]])
    np.testing.assert_allclose(d9.iloc[0], known.mean(axis=0))  # no static descriptor: the mean
    assert np.isfinite(fitted.predict(prediction_table(tables, domain))).all()


def test_unseen_value_is_placed_near_known_values_with_similar_statics():
    cats = ["a", "b", "c", "d", "e", "new"]
    size = {"a": 1.0, "b": 1.1, "c": 1.2, "d": 9.0, "e": 9.5, "new": 1.05}
    rows = [(c, w) for c in cats[:-1] for w in range(1, 53)]
    keys = pd.Categorical([c for c, _ in rows], categories=cats)
    y = np.array([(1 + (0.5 if size[c] > 5 else -0.2) * np.sin(w / 8)) for c, w in rows])
    X = pd.DataFrame(
        {"week": [float(w) for _, w in rows], "size": [size[c] for c, _ in rows], "store": keys}
    )
    source = FeatureTable(
        X, y, pd.DataFrame(index=X.index), np.ones(len(X)), ["store"], np.ones(len(X))
    )
    enc = EntityEncoder.fit(source, 2)
    st = enc.state["store"]
    assert st["descriptor_columns"] == ["size"]
    target = pd.DataFrame(
        {"week": [1.0], "size": [1.05], "store": pd.Categorical(["new"], categories=cats)}
    )
    emb = enc.transform(target, 2)[0]
    near = np.mean([st["embeddings"][v] for v in ("a", "b", "c")], axis=0)
    np.testing.assert_allclose(emb, near)
    assert np.linalg.norm(emb - st["embeddings"]["d"]) > np.linalg.norm(emb - near) + 0.1


def test_save_and_load_give_the_same_forecasts_without_pickle(base, tmp_path):
    _, _, _, domain, fitted, tables = base
    entries = fitted.save(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.suffix in {".pkl", ".pickle", ".joblib"}]
    doc = json.loads((tmp_path / entries["state"]).read_text())
    assert isinstance(doc["leaves"]["state"]["components"], list)
    assert set(doc) >= {"leaves", "entities", *(["embedding"] * HAS_TORCH)}
    loaded = Representation.load(tmp_path, {"params": fitted.get_params(), **entries})
    table = prediction_table(tables, domain)
    pd.testing.assert_frame_equal(loaded.representations(table), fitted.representations(table))
    np.testing.assert_array_equal(loaded.predict(table), fitted.predict(table))


@pytest.mark.parametrize("engine", ["lightgbm", "xgboost"])
def test_engines_and_leaf_methods(base, engine):
    _, task, origin, domain, _, _ = base
    variants = [dict(leaves_method="groups"), dict(leaves_method="svd", offset=False)]
    preds = []
    for extra in variants:
        fitted, tables = fit(
            task, origin, domain, engine=engine, representations=["prediction", "leaves"], **extra
        )
        table = prediction_table(tables, domain)
        leaves = fitted.representations(table).filter(like="rep_leaf")
        assert leaves.shape[1] == fitted.params.n_components
        assert np.isfinite(leaves.to_numpy()).all()
        preds.append(fitted.predict(table))
        assert np.isfinite(preds[-1]).all() and preds[-1].std() > 0
    if engine == "lightgbm":  # group sums add up to the source model's raw prediction
        fitted, tables = fit(
            task, origin, domain, leaves_method="groups", representations=["prediction", "leaves"]
        )
        r = fitted.representations(tables.target(domain))
        np.testing.assert_allclose(
            r.filter(like="rep_leaf").sum(axis=1), r["rep_prediction"], rtol=1e-9, atol=1e-9
        )


@pytest.mark.parametrize(
    "params, message",
    [
        ({"representations": ["leaves", "embeddings"]}, "representations"),
        ({"representations": []}, "at least one"),
        ({"n_components": 0}, "n_components"),
        ({"target_params": {"objective": "poisson"}}, "offset"),
        ({"leaf_method": "svd"}, "leaves_method"),
    ],
)
def test_bad_parameters_name_the_key(params, message):
    with pytest.raises(ConfigError, match=message):
        Representation(params)


@pytest.mark.parametrize("objective", ["mae", "mean_absolute_error", "rmse", "mape"])
def test_an_identity_link_objective_by_any_of_its_names_takes_the_offset(objective):
    # (before: refused as "needs an identity-link objective")
    assert Representation({"target_params": {"objective": objective}}).params.offset


def test_embedding_without_torch_names_the_extra(monkeypatch):
    real = rep.importlib.util.find_spec
    monkeypatch.setattr(
        rep.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch" else real(name, *a),
    )
    with pytest.raises(MissingDependencyError, match=r"transfercast\[torch\]"):
        Representation(representations=["prediction", "embedding"])
    assert Representation(representations=["prediction"]).params.representations == ["prediction"]


def test_registered_with_the_default_plugins():
    assert "representation" in transfercast.strategies()


def test_cli_compare_with_representation(tmp_path):
    raw = small_project(
        tmp_path,
        horizon=6,
        target_history=13,
        windows=1,
        candidates=["source_only", "representation"],
        output_dir="out",
    )
    raw["strategies"] = {
        "representation": {"n_components": 3, "representations": ["prediction", "entities"]}
    }
    (tmp_path / "config.toml").write_text(to_toml(raw))
    res = subprocess.run(
        [sys.executable, "-m", "transfercast.cli", "compare", str(tmp_path / "config.toml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**__import__("os").environ, "TRANSFERCAST_LOAD_PLUGINS": "", "COLUMNS": "160"},
    )
    assert res.returncode == 0, res.stderr
    assert "representation" in res.stdout
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert set(scores["strategy"]) == {"source_only", "representation"}
    assert (scores["status"] == "ok").all() and scores["wape"].notna().all()


def test_representation_encoders_are_those_of_the_source_table_they_were_given():
    """The encoders are kept for the process: a fit at a later origin leaves an earlier
    origin's forecasts as they were alone (its encoders never read the later sales)."""
    from .conftest import small_task

    task = small_task(1.0)
    early, late = task.evaluation_origins()[0], task.evaluation_origins()[-1]
    params = {"representations": ["prediction", "leaves", "entities"]}

    def forecast(origin):
        model = transfercast.TransferForecaster("representation", **params)
        return model.fit(task, origin=origin).predict()

    rep._MEMO.clear()
    alone = forecast(early)
    rep._MEMO.clear()
    forecast(late)
    pd.testing.assert_frame_equal(forecast(early), alone)
