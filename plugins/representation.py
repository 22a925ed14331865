"""The ``representation`` strategy: what the source model learned becomes input features of a
small target model.

A gradient-boosting source model is fitted once per origin (the same :class:`SourceSpec` as
``source_only``, so the two share one fitted model in a comparison). Encoders fitted on the
source rows only turn every row into *representations*:

- ``prediction``: the source model's forecast for the row (a learned prior);
- ``leaves``: the source trees' leaf assignments compressed to ``n_components`` dense columns,
  either a truncated PCA of the leaf one-hot matrix (``leaves_method = "svd"``, fitted on source
  rows) or the sums of leaf outputs over ``n_components`` consecutive groups of trees
  (``"groups"``);
- ``embedding``: the penultimate layer (``n_components`` units) of a small network trained on
  the source rows (needs torch);
- ``entities``: an embedding of each categorical key value (department, store, product): its
  source profile of mean normalised sales per week of year, compressed by SVD; a value never
  seen in the source is placed at the mean of its nearest known values by their static numeric
  features (or at the mean of all known values when there are none).

The target model (LightGBM or XGBoost, the regularised ``target`` role) is fitted on the
target's own features plus the representations. With ``offset`` (default) it starts from the
source prediction (``init_score`` / ``base_margin``) and learns a correction, so it can forecast
peaks its short history never held. The source rows are not training rows of the target model:
``include_source_rows = true`` is refused, because their representations would come from the
source model and encoders fitted on those very rows (their own labels).

No representation reads a row's own label: the encoders see only the source rows, which end at
the origin. The fitted state is saved as native boosters, the embedding network's weights as
NumPy arrays (read without pickle) and one JSON file; nothing is pickled.
"""

from __future__ import annotations

import importlib.util
import json
import math
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field, field_validator
from threadpoolctl import threadpool_limits

import transfercast
from transfercast.engines import GBM, align_columns, threads
from transfercast.errors import (
    ConfigError,
    HistoryRequired,
    MissingDependencyError,
    TransfercastError,
)
from transfercast.features import FeatureTable, unit_free
from transfercast.strategy import GBMParams, SourceSpec, Strategy

FORMAT = "transfercast-representation/1"
REPRESENTATIONS = ("prediction", "leaves", "embedding", "entities")
#: objectives whose raw margin is the prediction itself, so the source forecast is a valid offset
#: (every name LightGBM and XGBoost accept for one)
_IDENTITY = {
    *("regression", "regression_l2", "l2", "mean_squared_error", "mse", "l2_root"),
    *("root_mean_squared_error", "rmse", "regression_l1", "l1", "mean_absolute_error", "mae"),
    *("huber", "fair", "quantile", "mape", "mean_absolute_percentage_error"),
    *("reg:squarederror", "reg:squaredlogerror", "reg:absoluteerror", "reg:pseudohubererror"),
    "reg:quantileerror",
}


class RepresentationParams(GBMParams):
    """``[strategies.representation]``: which representations feed the target model."""

    representations: list[Literal["prediction", "leaves", "embedding", "entities"]] = Field(
        default_factory=lambda: ["prediction", "leaves", "entities"],
        description="the source representations added to the target's features",
    )
    include_source_rows: bool = Field(
        False, description="must be false: source rows as training rows would leak labels"
    )
    source_weight: float = Field(
        0.2, ge=0, description="no effect (kept so that configs and saved models still load)"
    )
    n_components: int = Field(
        4, ge=1, le=64, description="width of leaves, embedding and each entities block"
    )
    leaves_method: Literal["svd", "groups"] = Field(
        "svd",
        description="svd: PCA of the leaf one-hot matrix; groups: leaf outputs summed per group "
        "of consecutive trees",
    )
    offset: bool = Field(
        True, description="start the target model from the source prediction (identity link)"
    )
    embedding_epochs: int = Field(8, ge=1, description="epochs of the embedding network")

    @field_validator("representations")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError(f"choose at least one of {', '.join(REPRESENTATIONS)}")
        return list(dict.fromkeys(v))

    @field_validator("include_source_rows")
    @classmethod
    def _no_source_rows(cls, v: bool) -> bool:
        """Refuse source rows as training rows: on them every representation would be in-sample
        (the source model, leaf PCA, network and entity profiles were fitted on their labels)."""
        if v:
            raise ValueError(
                "true is not supported: on source rows the representations come from models "
                "fitted on those same rows, so they would leak their labels; use the 'pooled' "
                "strategy to train on source and target rows"
            )
        return v


# -- leaves ----------------------------------------------------------------------------------
def _leaf_matrix(model: GBM, X: pd.DataFrame) -> np.ndarray:
    """Leaf index (LightGBM) or node id (XGBoost) of every row in every tree, ``(n, trees)``."""
    X = align_columns(X, model.columns_)
    if model.engine == "lightgbm":
        return np.asarray(
            model.booster_.predict(X, pred_leaf=True, num_threads=threads(rows=len(X))),
            dtype=np.int64,
        ).reshape(len(X), -1)
    import xgboost as xgb

    out = model.booster_.predict(xgb.DMatrix(X, enable_categorical=True), pred_leaf=True)
    return np.asarray(out, dtype=np.int64).reshape(len(X), -1)


def _n_trees(model: GBM) -> int:
    if model.engine == "lightgbm":
        return int(model.booster_.num_trees())
    return int(model.booster_.num_boosted_rounds())


class LeafEncoder:
    """Leaf assignments as ``n_components`` dense columns (PCA of the one-hot or group sums)."""

    def __init__(self, method: str, state: dict[str, Any]):
        self.method = method
        self.state = state

    @classmethod
    def fit(cls, model: GBM, source: FeatureTable, k: int, seed: int) -> LeafEncoder:
        """Fit on source rows (``svd``: at most 20,000 of them, drawn with ``seed``)."""
        # the QRs of a few tall, thin matrices: one BLAS thread is several times faster than
        # one per core, and gives the same numbers
        with threadpool_limits(1, user_api="blas"):
            return cls._fit_svd(model, source, k, seed)

    @classmethod
    def _fit_svd(cls, model: GBM, source: FeatureTable, k: int, seed: int) -> LeafEncoder:
        rng = np.random.default_rng(seed)
        rows = np.arange(len(source))
        if len(rows) > 20_000:
            rows = np.sort(rng.choice(rows, 20_000, replace=False))
        leaves = _leaf_matrix(model, source.X.iloc[rows])
        vocab = [np.unique(leaves[:, t]) for t in range(leaves.shape[1])]
        offsets = np.r_[0, np.cumsum([len(v) for v in vocab])]
        cols = _one_hot_columns(leaves, vocab, offsets)
        n, d = cols.shape[0], int(offsets[-1])
        mu = np.bincount(cols[cols >= 0], minlength=d) / n  # column means of the one-hot
        r = min(k + 8, d)
        omega = rng.standard_normal((d, r))
        # randomized PCA of the centred one-hot matrix M_c = M - 1 mu^T (never built)
        M = _one_hot_matrix(cols, d)
        Y = M @ omega - mu @ omega
        for _ in range(3):
            Q, _ = np.linalg.qr(Y)
            Z = M.T @ Q - np.outer(mu, Q.sum(axis=0))
            Q, _ = np.linalg.qr(Z)
            Y = M @ Q - mu @ Q
        Q, _ = np.linalg.qr(Y)
        B = (M.T @ Q - np.outer(mu, Q.sum(axis=0))).T
        _, _, vt = np.linalg.svd(B, full_matrices=False)
        V = vt[: min(k, vt.shape[0])].T
        flip = np.sign(V[np.abs(V).argmax(axis=0), np.arange(V.shape[1])])
        V = V * np.where(flip == 0, 1.0, flip)
        return cls(
            "svd",
            {
                "vocab": [v.tolist() for v in vocab],
                "components": V.tolist(),
                "shift": (mu @ V).tolist(),
            },
        )

    @classmethod
    def groups(cls, model: GBM, k: int) -> LeafEncoder:
        """Sums of leaf outputs over ``k`` consecutive groups of trees (nothing to fit)."""
        bounds = np.unique(np.linspace(0, _n_trees(model), k + 1).astype(int))
        return cls("groups", {"bounds": bounds.tolist()})

    @property
    def width(self) -> int:
        if self.method == "svd":
            return len(self.state["shift"])
        return len(self.state["bounds"]) - 1

    def transform(self, model: GBM, X: pd.DataFrame) -> np.ndarray:
        """``(n, width)`` leaf representation of the rows of ``X``."""
        if self.method == "groups":
            return _group_sums(model, X, self.state["bounds"])
        vocab = [np.asarray(v, dtype=np.int64) for v in self.state["vocab"]]
        offsets = np.r_[0, np.cumsum([len(v) for v in vocab])]
        V = np.asarray(self.state["components"], dtype=float)
        cols = _one_hot_columns(_leaf_matrix(model, X), vocab, offsets)
        out = _one_hot_matrix(cols, V.shape[0]) @ V  # an unseen leaf (-1) adds nothing
        return out - np.asarray(self.state["shift"], dtype=float)


def _one_hot_columns(
    leaves: np.ndarray, vocab: list[np.ndarray], offsets: np.ndarray
) -> np.ndarray:
    """Column index of each row's leaf in each tree's block of the one-hot; -1 when unseen."""
    cols = np.full(leaves.shape, -1, dtype=np.int64)
    for t, v in enumerate(vocab):
        pos = np.clip(np.searchsorted(v, leaves[:, t]), 0, len(v) - 1)
        hit = v[pos] == leaves[:, t]
        cols[hit, t] = offsets[t] + pos[hit]
    return cols


def _one_hot_matrix(cols: np.ndarray, d: int) -> sp.csr_matrix:
    """The sparse ``(n, d)`` one-hot matrix whose row ``i`` has ones at ``cols[i]`` (-1: none).

    Each row keeps its entries in tree order, so ``M @ W`` and ``M.T @ Y`` add the same terms
    in the same order as a loop over the trees would."""
    hit = cols >= 0
    indptr = np.r_[0, np.cumsum(hit.sum(axis=1))]
    return sp.csr_matrix((np.ones(int(indptr[-1])), cols[hit], indptr), shape=(len(cols), d))


def _group_sums(model: GBM, X: pd.DataFrame, bounds: list[int]) -> np.ndarray:
    X = align_columns(X, model.columns_)
    out = np.zeros((len(X), len(bounds) - 1))
    if model.engine == "lightgbm":
        for g, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            out[:, g] = model.booster_.predict(
                X,
                start_iteration=lo,
                num_iteration=hi - lo,
                raw_score=True,
                num_threads=threads(rows=len(X)),
            )
        return out
    import xgboost as xgb

    dm = xgb.DMatrix(X, enable_categorical=True, base_margin=np.zeros(len(X)))
    for g, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        out[:, g] = model.booster_.predict(dm, iteration_range=(lo, hi), output_margin=True)
    return out


# -- entities --------------------------------------------------------------------------------
class EntityEncoder:
    """Per categorical column, an embedding of each value learned from the source rows.

    A value's profile is its mean normalised sales per week of year (month, quarter, or horizon
    step, whichever comes first of the columns present) over the source rows; the profiles,
    centred, are compressed by SVD. ``state[col]`` holds ``embeddings`` (value -> vector), the
    ``descriptors`` of known values (means of numeric columns constant within each value) and
    their ``scale``.
    """

    def __init__(self, state: dict[str, dict[str, Any]]):
        self.state = state

    @classmethod
    def fit(cls, source: FeatureTable, k: int) -> EntityEncoder:
        X, y = source.X, np.asarray(source.y, dtype=float)
        bucket_col = next((c for c in ("week", "month", "quarter", "h") if c in X.columns), None)
        numeric = [c for c in X.columns if c not in source.categorical]
        state: dict[str, dict[str, Any]] = {}
        for col in source.categorical:
            if col not in X.columns:
                continue
            codes = X[col].cat.codes.to_numpy()
            cats = [str(c) for c in X[col].cat.categories]
            ok = (codes >= 0) & np.isfinite(y)
            known = np.unique(codes[ok])
            if not len(known):
                continue
            frame = pd.DataFrame({"c": codes[ok], "y": y[ok]})
            frame["b"] = X[bucket_col].to_numpy()[ok] if bucket_col else 0.0
            P = frame.pivot_table(index="c", columns="b", values="y", aggfunc="mean")
            P = P.reindex(known)
            P = P.fillna(P.mean(axis=0)).fillna(np.nanmean(y[ok])).to_numpy()
            P = P - P.mean(axis=0)
            u, s, vt = np.linalg.svd(P, full_matrices=False)
            E = u[:, :k] * s[:k]
            flip = np.sign(vt[:k][np.arange(E.shape[1]), np.abs(vt[:k]).argmax(axis=1)])
            E = E * np.where(flip == 0, 1.0, flip)
            E = np.hstack([E, np.zeros((len(known), k - E.shape[1]))]) if E.shape[1] < k else E
            desc_cols, desc = _descriptors(X.iloc[np.flatnonzero(ok)], col, numeric, known)
            scale = desc.std(axis=0) if len(desc_cols) else np.zeros(0)
            state[col] = {
                "embeddings": {cats[c]: E[j].tolist() for j, c in enumerate(known)},
                "descriptor_columns": desc_cols,
                "descriptors": desc.tolist(),
                "known": [cats[c] for c in known],
                "scale": np.where(scale > 0, scale, 1.0).tolist(),
            }
        return cls(state)

    def columns(self, k: int) -> list[str]:
        return [f"ent_{col}_{j}" for col in self.state for j in range(k)]

    def place_unseen(self, X: pd.DataFrame) -> None:
        """Give every value of ``X``'s categorical columns without a source embedding one: the
        mean embedding of its nearest known values by static descriptors (or of all of them)."""
        for col, st in self.state.items():
            values = pd.Series(X[col].astype(object)).dropna().astype(str).unique()
            for value in sorted(set(values) - set(st["embeddings"])):
                st["embeddings"][value] = self._nearest(
                    st, X.loc[X[col].astype(object).astype(str) == value, st["descriptor_columns"]]
                )

    @staticmethod
    def _nearest(st: dict[str, Any], rows: pd.DataFrame) -> list[float]:
        E = np.asarray([st["embeddings"][v] for v in st["known"]], dtype=float)
        D = np.asarray(st["descriptors"], dtype=float).reshape(len(E), -1)
        if D.shape[1] == 0 or rows.empty:
            return E.mean(axis=0).tolist()
        q = rows.to_numpy(float).mean(axis=0)
        if not np.all(np.isfinite(q)):
            return E.mean(axis=0).tolist()
        dist = np.sqrt((((D - q) / np.asarray(st["scale"])) ** 2).sum(axis=1))
        nearest = np.argsort(dist, kind="stable")[: min(3, len(E))]
        return E[nearest].mean(axis=0).tolist()

    def transform(self, X: pd.DataFrame, k: int) -> np.ndarray:
        self.place_unseen(X)
        blocks = []
        for col, st in self.state.items():
            lut = {v: np.asarray(e, dtype=float) for v, e in st["embeddings"].items()}
            vals = X[col].astype(object)
            block = np.full((len(X), k), np.nan)
            for value in pd.unique(vals.dropna()):
                block[(vals == value).to_numpy()] = lut[str(value)]
            blocks.append(block)
        return np.hstack(blocks) if blocks else np.zeros((len(X), 0))


def _descriptors(
    X: pd.DataFrame, col: str, numeric: list[str], known: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """Numeric columns constant within every known value of ``col`` and varying across values
    (static covariates of that key), with their per-value means."""
    codes = X[col].cat.codes.to_numpy()
    g = pd.DataFrame({c: X[c].to_numpy(float) for c in numeric}).groupby(codes)
    std, mean = g.std(ddof=0).reindex(known), g.mean().reindex(known)
    keep = [
        c
        for c in numeric
        if (std[c].fillna(0) < 1e-9).all() and mean[c].notna().all() and mean[c].nunique() > 1
    ]
    return keep, mean[keep].to_numpy(float)


# -- embedding (torch) -----------------------------------------------------------------------
class EmbeddingEncoder:
    """A small network trained on the source rows; its penultimate layer is the embedding."""

    def __init__(self, spec: dict[str, Any], net: Any):
        self.spec = spec
        self.net = net

    @staticmethod
    def _inputs(spec: dict[str, Any], X: pd.DataFrame) -> np.ndarray:
        X = unit_free(X) if spec.get("level_log") else X  # bundles before it: log1p
        parts = []
        for c, m, s in zip(spec["numeric"], spec["mean"], spec["std"], strict=True):
            v = (X[c].to_numpy(float) - m) / s if c in X.columns else np.full(len(X), np.nan)
            parts.append(np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0))
            if c in spec["missing"]:
                parts.append(
                    np.isnan(X[c].to_numpy(float)).astype(float)
                    if c in X.columns
                    else np.ones(len(X))
                )
        for c, cats in spec["categories"].items():
            vals = X[c].astype(object).astype(str).to_numpy() if c in X.columns else None
            for cat in cats:
                parts.append(np.zeros(len(X)) if vals is None else (vals == cat).astype(float))
        return np.column_stack(parts).astype(np.float32) if parts else np.zeros((len(X), 0))

    @staticmethod
    def _net(n_in: int, k: int) -> Any:
        """The network, its weights left uninitialised (no draw from torch's global generator);
        :meth:`_init` or a loaded ``state_dict`` sets them."""
        import torch
        from torch.nn.utils import skip_init

        return torch.nn.Sequential(
            skip_init(torch.nn.Linear, n_in, 64),
            torch.nn.ReLU(),
            skip_init(torch.nn.Linear, 64, k),
            torch.nn.Tanh(),
            skip_init(torch.nn.Linear, k, 1),
        )

    @staticmethod
    def _init(net: Any, generator: Any) -> None:
        """torch's default ``Linear`` initialisation (Kaiming-uniform weights, uniform biases in
        ``±1/sqrt(fan_in)``), every number drawn from ``generator``."""
        import torch

        with torch.no_grad():
            for layer in net:
                if isinstance(layer, torch.nn.Linear):
                    w = layer.weight
                    torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=generator)
                    bound = 1 / math.sqrt(w.shape[1]) if w.shape[1] else 0.0
                    layer.bias.uniform_(-bound, bound, generator=generator)

    @classmethod
    def fit(cls, source: FeatureTable, k: int, epochs: int, seed: int) -> EmbeddingEncoder:
        """Train the network on the source rows for ``epochs`` epochs.

        Deterministic for a ``seed``: the weights are drawn from a private
        ``torch.Generator`` and the batch order from a NumPy generator, both seeded with
        ``seed``. torch's global generator and thread setting are neither read for randomness
        nor changed, so fits running in parallel threads, or next to other torch work, give
        the same network as a fit run alone (with the same torch thread count)."""
        X = unit_free(source.X)
        numeric = [c for c in X.columns if c not in source.categorical]
        vals = X[numeric].to_numpy(float)
        with warnings.catch_warnings():  # all-missing columns: mean 0, std 1
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nan_to_num(np.nanmean(vals, axis=0)) if len(vals) else np.zeros(len(numeric))
            std = np.nan_to_num(np.nanstd(vals, axis=0)) if len(vals) else np.ones(len(numeric))
        spec = {
            "numeric": numeric,
            "mean": mean.tolist(),
            "std": np.where(std > 0, std, 1.0).tolist(),
            "missing": [c for c in numeric if X[c].isna().any()],
            "categories": {
                c: [str(v) for v in X[c].cat.categories]
                for c in source.categorical
                if c in X.columns
            },
            "k": k,
            "level_log": True,
        }
        inputs = cls._inputs(spec, source.X)
        spec["n_in"] = inputs.shape[1]
        return cls(spec, cls._train(spec, inputs, source, k, epochs, seed).eval())

    @classmethod
    def _train(
        cls,
        spec: dict[str, Any],
        inputs: np.ndarray,
        source: FeatureTable,
        k: int,
        epochs: int,
        seed: int,
    ) -> Any:
        import torch

        net = cls._net(spec["n_in"], k)
        cls._init(net, torch.Generator().manual_seed(int(seed)))
        y = np.nan_to_num(np.asarray(source.y, dtype=np.float32))
        w = np.asarray(
            source.weight if source.weight is not None else np.ones(len(y)), dtype=np.float32
        )
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        xt, yt, wt = torch.from_numpy(inputs), torch.from_numpy(y), torch.from_numpy(w)
        rng = np.random.default_rng(seed)
        for _ in range(epochs):
            for idx in np.array_split(rng.permutation(len(y)), max(1, len(y) // 256)):
                b = torch.from_numpy(idx)
                loss = (wt[b] * (net(xt[b]).squeeze(-1) - yt[b]) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        return net

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        import torch

        with torch.no_grad():
            h = self.net[:4](torch.from_numpy(self._inputs(self.spec, X)))
        return h.numpy().astype(float)


# -- encoders shared across targets of one origin ---------------------------------------------
_MEMO: OrderedDict[str, Any] = OrderedDict()
_MEMO_LOCK = threading.Lock()


def _fit_encoders(model: GBM, source: FeatureTable, p: RepresentationParams) -> dict[str, Any]:
    """The encoders of the chosen representations, fitted on ``source``; each is memoised per
    source data and the parameters it depends on, so the targets of one origin (and variants of
    the strategy) share them."""
    spec = p.source_spec().key()
    k = p.n_components
    makers = {
        "leaves": (
            (p.leaves_method, k),
            lambda: (
                LeafEncoder.fit(model, source, k, p.seed)
                if p.leaves_method == "svd"
                else LeafEncoder.groups(model, k)
            ),
        ),
        "entities": ((k,), lambda: EntityEncoder.fit(source, k)),
        "embedding": (
            (k, p.embedding_epochs),
            lambda: EmbeddingEncoder.fit(source, k, p.embedding_epochs, p.seed),
        ),
    }
    enc: dict[str, Any] = {}
    for name in p.representations:
        if name not in makers:
            continue
        extra, make = makers[name]
        key = json.dumps([source.fingerprint, spec, name, *extra])
        with _MEMO_LOCK:
            hit = _MEMO.get(key)
        if hit is None:
            hit = make()
            with _MEMO_LOCK:
                _MEMO[key] = hit
                while len(_MEMO) > 12:
                    _MEMO.popitem(last=False)
        enc[name] = hit
    return enc


class Representation(Strategy):
    """Source predictions, leaf, network and entity embeddings as inputs of a small target model.

    See the module docstring for the representations and the ``offset``."""

    name = "representation"
    Params = RepresentationParams
    params: RepresentationParams

    def __init__(self, params: Any = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        if "embedding" in self.params.representations and importlib.util.find_spec("torch") is None:
            raise MissingDependencyError(
                "strategy 'representation': representations = ['embedding'] needs torch, which "
                "is not installed; install it with: pip install 'transfercast[torch]' or drop "
                "'embedding'"
            )
        target_objective = self.params.target_params.get("objective")
        if self.params.offset and target_objective and target_objective not in _IDENTITY:
            raise ConfigError(
                f"[strategies.representation] key 'offset': needs an identity-link objective, "
                f"target_params.objective is '{target_objective}'; set offset = false"
            )

    def source_spec(self) -> SourceSpec:
        """Same spec as ``source_only``: both share one fitted source model."""
        return self.params.source_spec()

    def transfer(
        self, source_model: Any, target: FeatureTable, source: FeatureTable | None = None
    ) -> Strategy:
        if source is None:
            raise TransfercastError("strategy 'representation' needs the source rows")
        self.source_model_ = source_model
        self.encoders_ = _fit_encoders(source_model, source, self.params)
        if "entities" in self.encoders_:  # a private copy: unseen values are placed per target
            self.encoders_ = {
                **self.encoders_,
                "entities": EntityEncoder(json.loads(json.dumps(self.encoders_["entities"].state))),
            }
            self.encoders_["entities"].place_unseen(target.X)
        self.fine_tune(target, source)
        return self

    # -- representations ------------------------------------------------------------------------
    def representations(self, table: FeatureTable) -> pd.DataFrame:
        """The representation columns of ``table``'s rows (from source-fitted encoders only)."""
        p, X, cols = self.params, table.X, {}
        if "prediction" in p.representations:
            cols["rep_prediction"] = self.source_model_.predict(X)
        k = p.n_components
        if "leaves" in p.representations:
            arr = self.encoders_["leaves"].transform(self.source_model_, X)
            cols.update({f"rep_leaf{j}": arr[:, j] for j in range(arr.shape[1])})
        if "embedding" in p.representations:
            arr = self.encoders_["embedding"].transform(X)
            cols.update({f"rep_emb{j}": arr[:, j] for j in range(arr.shape[1])})
        if "entities" in p.representations:
            ent = self.encoders_["entities"]
            arr = ent.transform(X, k)
            cols.update(dict(zip(ent.columns(k), arr.T, strict=True)))
        return pd.DataFrame(cols, index=X.index)

    def _design(self, table: FeatureTable) -> tuple[pd.DataFrame, np.ndarray | None]:
        """The target model's inputs (features and representations) and its offset, if any."""
        reps = self.representations(table)
        X = pd.concat([table.X, reps], axis=1)
        base = (
            (
                reps["rep_prediction"].to_numpy()
                if "rep_prediction" in reps
                else self.source_model_.predict(table.X)
            )
            if self.params.offset
            else None
        )
        return X, base

    def fine_tune(self, target: FeatureTable, source: FeatureTable | None) -> None:
        """Fit the target model on the target rows only (features plus representations). A
        target with no rows (not yet selling) keeps the offset, the source prediction, alone;
        without ``offset`` it has nothing to forecast from."""
        p = self.params
        if not len(target):
            if not p.offset:
                raise HistoryRequired(
                    "representation with offset = false fits its model on the target's own "
                    "rows, and the target has none (set offset = true to start from the source "
                    "prediction)"
                )
            self.model_ = None
            return
        X, base = self._design(target)
        w = target.weight
        train = FeatureTable(
            X=X,
            y=target.y,
            keys=target.keys.iloc[:0],
            level=np.ones(len(X)),
            categorical=list(target.categorical),
            weight=w,
        )
        self.model_ = GBM(p.engine, "target", p.target_params, p.seed).fit(
            train, weight=w, init_score=base
        )

    def predict(self, table: FeatureTable) -> np.ndarray:
        X, base = self._design(table)
        if self.model_ is None:  # no target rows to fit on: the offset alone
            return base
        return self.model_.predict(X, raw_margin=base)

    # -- persistence ----------------------------------------------------------------------------
    def save(self, directory: Path) -> dict[str, Any]:
        directory = Path(directory)
        entries: dict[str, Any] = {
            "source": self.source_model_.save(directory, "source"),
        }
        if self.model_ is not None:
            entries["target"] = self.model_.save(directory, "target")
        doc: dict[str, Any] = {"format": FORMAT, "params": self.get_params()}
        if "leaves" in self.encoders_:
            leaves = self.encoders_["leaves"]
            doc["leaves"] = {"method": leaves.method, "state": leaves.state}
        if "entities" in self.encoders_:
            doc["entities"] = self.encoders_["entities"].state
        if "embedding" in self.encoders_:
            from transfercast.plugins.l2sp_net import save_weights

            emb = self.encoders_["embedding"]
            save_weights(emb.net, directory / "embedding.npz")
            doc["embedding"] = {"spec": emb.spec, "weights": "embedding.npz"}
        (directory / "representation.json").write_text(json.dumps(doc))
        entries["state"] = "representation.json"
        return entries

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any]) -> Strategy:
        directory = Path(directory)
        from transfercast.bundle import read_bundle_file

        doc = json.loads(read_bundle_file(directory, manifest["state"]))
        if doc.get("format") != FORMAT:
            raise TransfercastError(f"{directory}: not a {FORMAT} state file")
        obj = cls(manifest.get("params", doc["params"]))
        obj.source_model_ = GBM.load(directory, manifest["source"])
        obj.model_ = GBM.load(directory, manifest["target"]) if "target" in manifest else None
        enc: dict[str, Any] = {}
        if "leaves" in doc:
            enc["leaves"] = LeafEncoder(doc["leaves"]["method"], doc["leaves"]["state"])
        if "entities" in doc:
            enc["entities"] = EntityEncoder(doc["entities"])
        if "embedding" in doc:
            from transfercast.plugins.l2sp_net import load_weights

            spec = doc["embedding"]["spec"]
            net = load_weights(
                EmbeddingEncoder._net(spec["n_in"], spec["k"]),
                read_bundle_file(directory, doc["embedding"]["weights"]),
            )
            enc["embedding"] = EmbeddingEncoder(spec, net.eval())
        obj.encoders_ = enc
        return obj


@transfercast.hookimpl
def transfercast_register_strategies(register) -> None:
    register(Representation)
