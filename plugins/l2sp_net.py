"""The torch side of ``l2sp``: input encoding, the tabular network, losses, the L2-SP penalty and
the training loop. Imported only when an ``l2sp`` strategy is fitted or loaded, so that the
plugin registers (and ``transfercast plugins`` lists it) without torch installed.

Everything that draws random numbers takes an explicit ``torch.Generator`` (weight
initialisation, batch order, dropout masks): a fit is deterministic on CPU for a seed and safe
to run in parallel threads, which share torch's global generator.
"""

from __future__ import annotations

import copy
import io
import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils import skip_init

from transfercast.engines import env_threads
from transfercast.features import FeatureTable, unit_free
from transfercast.frequency import POSITIONS

CLIP = 10.0  # standardised inputs are clipped to [-CLIP, CLIP]
LOG_CLIP = 15.0  # the tweedie log-mean is clipped to [-LOG_CLIP, LOG_CLIP]


def save_weights(module: torch.nn.Module, path: Path) -> None:
    """Write ``module``'s parameters and buffers as a NumPy ``.npz`` archive (arrays only)."""
    state = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    with open(path, "wb") as fh:  # a file object: np.savez would append ".npz" to a name
        np.savez(fh, **state)


def load_weights(module: torch.nn.Module, source: Path | bytes) -> torch.nn.Module:
    """Load :func:`save_weights` arrays (a file, or its bytes) into ``module`` (no pickle:
    object arrays refused)."""
    with np.load(
        io.BytesIO(source) if isinstance(source, bytes) else source, allow_pickle=False
    ) as arrays:
        module.load_state_dict({k: torch.from_numpy(arrays[k].copy()) for k in arrays.files})
    return module


_SCOPE = {"depth": 0, "threads": 0, "set": 0}
_SCOPE_LOCK = threading.Lock()


@contextmanager
def torch_scope() -> Iterator[None]:
    """The torch work of a fit or a forecast (also a decorator): with ``TRANSFERCAST_THREADS``
    set, that many torch threads; when the outermost scope of the process ends, torch's thread
    count is as before it began, unless another thread set its own meanwhile. Nothing draws
    from torch's global random state (modules are built uninitialised, every weight drawn
    from the fit's own generator), so it is left alone: another thread's seed stays."""
    n = env_threads()
    with _SCOPE_LOCK:
        if _SCOPE["depth"] == 0:
            _SCOPE["threads"] = torch.get_num_threads()
            if n and n != _SCOPE["threads"]:
                torch.set_num_threads(n)
            _SCOPE["set"] = torch.get_num_threads()
        _SCOPE["depth"] += 1
    try:
        yield
    finally:
        with _SCOPE_LOCK:
            _SCOPE["depth"] -= 1
            # the count this scope set, not one another thread set meanwhile, is put back
            if _SCOPE["depth"] == 0 and torch.get_num_threads() == _SCOPE["set"]:
                if _SCOPE["set"] != _SCOPE["threads"]:
                    torch.set_num_threads(_SCOPE["threads"])


def resolve_device(name: str) -> torch.device:
    """The torch device for a ``device`` parameter; ``cuda`` falls back to CPU with a warning."""
    if name.startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(
            f"l2sp: device '{name}' requested but CUDA is not available; using cpu", stacklevel=3
        )
        return torch.device("cpu")
    return torch.device(name)


# -- input encoding ---------------------------------------------------------------------------
@dataclass
class Encoder:
    """Turns a feature frame into a numeric matrix and category indices.

    Numeric columns are clipped to the range seen in the source (a network extrapolates
    linearly; a new store twice the size of any source store must not get twice the effect),
    except those the source holds constant (an event only the target has),
    standardised with means and deviations fitted on the source, clipped to ``[-10, 10]``,
    and missing values become 0 (the source mean) with a 0/1 indicator column for
    every column that had missing values in the source. Categorical columns map to embedding
    indices by *name* through ``vocab`` (index 0: unknown or missing). ``extra_*`` columns are
    target-only inputs added by :meth:`extend` (standardised with the target's statistics).

    A column with missing values is read as missing at a part of the year (the row's
    ``position`` column: the week, month or quarter calendar feature) where no source row held
    a value of it (``cover``): last season's sales, for one, exist only from a year into the
    data, and a network that never saw them beside a holiday's inputs would extrapolate there.
    """

    numeric: list[str]
    mean: list[float]
    std: list[float]
    indicators: list[str]
    categorical: list[str]
    vocab: dict[str, list[str]]
    extra_numeric: list[str] = field(default_factory=list)
    extra_mean: list[float] = field(default_factory=list)
    extra_std: list[float] = field(default_factory=list)
    extra_categorical: list[str] = field(default_factory=list)
    lo: list[float | None] | None = None  # source range per numeric column (None: unbounded)
    hi: list[float | None] | None = None
    position: str | None = None  # the calendar column that places a row in the year
    cover: dict[str, list[float]] | None = None  # per indicator column: positions with values
    level_log: bool = False  # log_level read as the log of the level (False: bundles before)

    @classmethod
    def fit(cls, table: FeatureTable) -> Encoder:
        """Statistics and vocabularies of ``table`` (the source rows)."""
        X = unit_free(table.X)
        categorical = [
            c
            for c in X.columns
            if c in table.categorical or isinstance(X[c].dtype, pd.CategoricalDtype)
        ]
        numeric = [c for c in X.columns if c not in categorical]
        mean, std = _stats(X, numeric)
        indicators = [c for c in numeric if X[c].isna().any()]
        vocab = {c: _categories(X[c]) for c in categorical}
        arr = X[numeric].to_numpy(float)
        seen = ~np.isnan(arr)
        lo = [
            float(arr[seen[:, j], j].min()) if seen[:, j].any() else None
            for j in range(len(numeric))
        ]
        hi = [
            float(arr[seen[:, j], j].max()) if seen[:, j].any() else None
            for j in range(len(numeric))
        ]
        # a column the sources hold constant (an event they never had) is not clipped: clipped,
        # it would be that constant on every target row, and fine-tuning could not learn it
        flat = [j for j in range(len(numeric)) if lo[j] is not None and lo[j] == hi[j]]
        for j in flat:
            lo[j] = hi[j] = None
        position = next((c for c in POSITIONS if c in numeric), None)
        cover = None
        if position is not None:
            pos = X[position].to_numpy(float)
            cover = {
                c: np.unique(pos[seen[:, numeric.index(c)]]).tolist()
                for c in indicators
                if c != position
            }
        return cls(
            numeric,
            mean,
            std,
            indicators,
            categorical,
            vocab,
            lo=lo,
            hi=hi,
            position=position,
            cover=cover,
            level_log=True,
        )

    @property
    def n_numeric_base(self) -> int:
        return len(self.numeric) + len(self.indicators)

    @property
    def n_numeric(self) -> int:
        return self.n_numeric_base + len(self.extra_numeric)

    @property
    def cat_columns(self) -> list[str]:
        return [*self.categorical, *self.extra_categorical]

    def cardinalities(self) -> list[int]:
        """Embedding rows per categorical column (unknown row included)."""
        return [len(self.vocab[c]) + 1 for c in self.cat_columns]

    def extend(self, target: FeatureTable, fit_rows: np.ndarray | None = None) -> Encoder:
        """A copy that also encodes ``target``'s columns unknown here and its new categories.

        The means and deviations of target-only numeric columns are fitted on the rows
        ``fit_rows`` (a boolean mask; all rows when ``None``), so that a held-out validation
        tail does not shape its own inputs; categories are collected from every row.
        """
        out = copy.deepcopy(self)
        X = target.X
        if fit_rows is not None and len(fit_rows) != len(X):
            raise ValueError(f"fit_rows has {len(fit_rows)} entries for {len(X)} target rows")
        known = {*out.numeric, *out.categorical, *out.extra_numeric, *out.extra_categorical}
        new = [c for c in X.columns if c not in known]
        new_cat = [
            c for c in new if c in target.categorical or isinstance(X[c].dtype, pd.CategoricalDtype)
        ]
        new_num = [c for c in new if c not in new_cat]
        m, s = _stats(X if fit_rows is None else X[np.asarray(fit_rows, dtype=bool)], new_num)
        out.extra_numeric += new_num
        out.extra_mean += m
        out.extra_std += s
        out.extra_categorical += new_cat
        for c in new_cat:
            out.vocab[c] = _categories(X[c])
        for c in out.categorical:
            if c in X.columns:
                seen = set(out.vocab[c])
                out.vocab[c] += [v for v in _categories(X[c]) if v not in seen]
        return out

    def transform(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(numeric float32 [n, n_numeric], category indices int64 [n, n_categorical])``."""
        X = unit_free(X) if self.level_log else X
        n = len(X)
        raw = _numeric_block(X, self.numeric, n)
        if self.cover and self.position in X.columns:
            pos = X[self.position].to_numpy(float)
            for c, seen in self.cover.items():
                raw[~np.isin(pos, seen), self.numeric.index(c)] = np.nan
        if self.lo is not None and self.hi is not None:
            lo = np.array([-np.inf if v is None else v for v in self.lo])
            hi = np.array([np.inf if v is None else v for v in self.hi])
            raw = np.clip(raw, lo, hi)
        std = (raw - np.asarray(self.mean)) / np.asarray(self.std)
        ind = np.isnan(raw[:, [self.numeric.index(c) for c in self.indicators]]).astype(float)
        extra = _numeric_block(X, self.extra_numeric, n)
        extra = (extra - np.asarray(self.extra_mean)) / np.asarray(self.extra_std)
        num = np.concatenate([std, ind, extra], axis=1)
        num = np.clip(np.nan_to_num(num, nan=0.0), -CLIP, CLIP).astype(np.float32)
        cats = np.zeros((n, len(self.cat_columns)), dtype=np.int64)
        for j, c in enumerate(self.cat_columns):
            if c in X.columns:
                # values as the vocabulary spells them (strings); unknown and missing: -1
                vals = X[c].astype(object)
                vals = vals.where(vals.isna(), vals.astype(str))
                codes = pd.Index(self.vocab[c], dtype=object).get_indexer(vals)
                cats[:, j] = codes.astype(np.int64) + 1
        return num, cats

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Encoder:
        return cls(**data)


def _categories(col: pd.Series) -> list[str]:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return [str(v) for v in col.cat.categories]
    return sorted(col.dropna().astype(str).unique().tolist())


def _stats(X: pd.DataFrame, cols: list[str]) -> tuple[list[float], list[float]]:
    if not cols:
        return [], []
    arr = X[cols].to_numpy(float)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(arr, axis=0)
        std = np.nanstd(arr, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
    return mean.tolist(), std.tolist()


def _numeric_block(X: pd.DataFrame, cols: list[str], n: int) -> np.ndarray:
    out = np.full((n, len(cols)), np.nan)
    for j, c in enumerate(cols):
        if c in X.columns:
            out[:, j] = X[c].to_numpy(float)
    return out


def embedding_dim(cardinality: int) -> int:
    """Embedding width for a column with ``cardinality`` rows (fastai's rule, capped at 16)."""
    return int(min(16, max(2, round(1.6 * max(cardinality - 1, 1) ** 0.56))))


# -- the network ------------------------------------------------------------------------------
class TabularNet(nn.Module):
    """Embeddings for the categorical columns, an MLP body (ReLU) and a one-unit regression head.

    The first layer reads ``[base numeric, base embeddings, extra numeric, extra embeddings]``:
    target-only inputs come last so that extending the layer appends weight columns.
    ``layers`` numbers the blocks for ``freeze``: block 1 is the embeddings and the first
    linear layer, block k the k-th linear layer; the head is not a block.
    """

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = dict(config)
        c = self.config
        # weights left uninitialised (no draw from torch's global generator): reset() or a
        # loaded archive sets them
        self.embeddings = nn.ModuleList(
            skip_init(nn.Embedding, card, dim)
            for card, dim in zip(c["cards"], c["emb_dims"], strict=True)
        )
        d_in = c["n_numeric"] + sum(c["emb_dims"])
        sizes = [d_in, *c["hidden"]]
        self.layers = nn.ModuleList(
            skip_init(nn.Linear, a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.head = skip_init(nn.Linear, sizes[-1], 1)
        self.dropout = float(c.get("dropout", 0.0))

    def reset(self, generator: torch.Generator, bias: float = 0.0) -> None:
        """Initialise every weight from ``generator``; the head bias to ``bias``."""
        with torch.no_grad():
            for emb in self.embeddings:
                emb.weight.normal_(0.0, 0.1, generator=generator)
            for lin in [*self.layers, self.head]:
                nn.init.kaiming_uniform_(lin.weight, a=math.sqrt(5), generator=generator)
                bound = 1 / math.sqrt(lin.weight.shape[1])
                lin.bias.uniform_(-bound, bound, generator=generator)
            self.head.bias.fill_(bias)

    def inputs(self, num: torch.Tensor, cats: torch.Tensor) -> torch.Tensor:
        nb, cb = self.config["n_numeric_base"], self.config["n_cat_base"]
        embs = [emb(cats[:, j]) for j, emb in enumerate(self.embeddings)]
        return torch.cat([num[:, :nb], *embs[:cb], num[:, nb:], *embs[cb:]], dim=1)

    def forward(
        self, num: torch.Tensor, cats: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        z = self.inputs(num, cats)
        for lin in self.layers:
            z = torch.relu(lin(z))
            if self.training and self.dropout > 0:
                keep = torch.rand(z.shape, generator=generator, device=z.device) >= self.dropout
                z = z * keep / (1 - self.dropout)
        return self.head(z).squeeze(1)

    def blocks(self) -> list[list[nn.Parameter]]:
        """Parameters of each freezable block (see the class docstring)."""
        first = [*self.embeddings.parameters(), *self.layers[0].parameters()]
        return [first, *[list(lin.parameters()) for lin in self.layers[1:]]]


def network_config(encoder: Encoder, hidden: list[int], dropout: float) -> dict[str, Any]:
    """The architecture of a network reading ``encoder``'s output."""
    cards = encoder.cardinalities()
    return {
        "n_numeric": encoder.n_numeric,
        "n_numeric_base": encoder.n_numeric_base,
        "n_cat_base": len(encoder.categorical),
        "cards": cards,
        "emb_dims": [embedding_dim(c) for c in cards],
        "hidden": list(hidden),
        "dropout": float(dropout),
    }


# -- losses -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Loss:
    """A per-row loss on the network output ``f`` (the label itself, or its log for tweedie)."""

    kind: str = "mse"
    huber_delta: float = 0.1
    tweedie_power: float = 1.5

    def __call__(self, f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.kind == "mse":
            return (f - y) ** 2
        if self.kind == "huber":
            return nn.functional.huber_loss(f, y, reduction="none", delta=self.huber_delta)
        # tweedie deviance (up to terms free of f) with a log link; labels clipped at 0
        p = self.tweedie_power
        f = f.clamp(-LOG_CLIP, LOG_CLIP)
        y = y.clamp(min=0.0)
        return -y * torch.exp((1 - p) * f) / (1 - p) + torch.exp((2 - p) * f) / (2 - p)

    def link(self, mean_y: float) -> float:
        """The output that predicts ``mean_y`` (the head bias of a fresh network)."""
        return math.log(max(mean_y, 1e-6)) if self.kind == "tweedie" else mean_y

    def inverse(self, f: torch.Tensor) -> torch.Tensor:
        """Network output to a prediction of the label."""
        return torch.exp(f.clamp(-LOG_CLIP, LOG_CLIP)) if self.kind == "tweedie" else f


# -- the L2-SP penalty ------------------------------------------------------------------------
class L2SPPenalty:
    """``alpha/2 * sum (w - w0)^2`` over elements with a source value plus ``beta/2 * sum w^2``
    over elements new for the target (sums over elements, as published; not per-tensor means).

    ``reference`` holds ``w0`` per parameter name and ``source_mask`` marks, element by element,
    which entries have a source value (an extended input layer has both kinds). Parameters named
    in ``exempt`` carry no penalty (a new head's bias: a bias is not shrunk toward 0).

    Training does not add the penalty to the loss's gradient (Adam would rescale it per
    parameter, so that no alpha holds the weights): :func:`train` applies
    :meth:`proximal_step` after each optimiser step. :meth:`__call__` and :meth:`gradient` give
    the penalty's value and its closed-form gradient.
    """

    def __init__(
        self,
        reference: dict[str, torch.Tensor],
        source_mask: dict[str, torch.Tensor],
        alpha: float,
        beta: float,
        exempt: frozenset[str] | set[str] = frozenset(),
    ):
        self.reference = reference
        self.source_mask = source_mask
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.exempt = frozenset(exempt)

    def __call__(self, net: nn.Module) -> torch.Tensor:
        total = None
        for name, w in net.named_parameters():
            if not w.requires_grad or name in self.exempt:
                continue
            m = self.source_mask[name]
            term = 0.5 * self.alpha * ((w - self.reference[name]) ** 2 * m).sum()
            term = term + 0.5 * self.beta * (w**2 * (~m)).sum()
            total = term if total is None else total + term
        return total if total is not None else torch.zeros(())

    def gradient(self, net: nn.Module) -> dict[str, torch.Tensor]:
        """The closed form: ``alpha (w - w0)`` on source elements, ``beta w`` on new ones, 0 on
        exempt parameters."""
        out = {}
        for name, w in net.named_parameters():
            m = self.source_mask[name]
            w = w.detach()
            if name in self.exempt:
                out[name] = torch.zeros_like(w)
                continue
            out[name] = torch.where(m, self.alpha * (w - self.reference[name]), self.beta * w)
        return out

    @torch.no_grad()
    def proximal_step(self, net: nn.Module, lr: float) -> None:
        """Apply the penalty's proximal operator for a step of size ``lr`` in place:
        ``w_S <- w_S^0 + (w_S - w_S^0) / (1 + lr alpha)`` and ``w_new <- w_new / (1 + lr beta)``,
        the exact minimiser of ``penalty(v) + ||v - w||^2 / (2 lr)``. Parameters that do not
        require gradients (frozen) and exempt ones are left alone; a zero strength changes
        nothing, not even by rounding."""
        shrink_s = 1.0 / (1.0 + lr * self.alpha)
        shrink_new = 1.0 / (1.0 + lr * self.beta)
        for name, w in net.named_parameters():
            if not w.requires_grad or name in self.exempt:
                continue
            m = self.source_mask[name]
            if self.alpha > 0 and m.any():
                w0 = self.reference[name]
                w.copy_(torch.where(m, w0 + (w - w0) * shrink_s, w))
            if self.beta > 0 and not m.all():
                w.copy_(torch.where(m, w, w * shrink_new))


# -- data and training ------------------------------------------------------------------------
@dataclass
class Tensors:
    """A feature table as tensors on one device: inputs, label, weights."""

    num: torch.Tensor
    cats: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor

    @classmethod
    def from_table(cls, encoder: Encoder, table: FeatureTable, device: torch.device) -> Tensors:
        num, cats = encoder.transform(table.X)
        y = np.asarray(table.y, dtype=float)
        w = np.ones(len(y)) if table.weight is None else np.asarray(table.weight, dtype=float)
        ok = np.isfinite(y) & np.isfinite(w)
        return cls(
            torch.as_tensor(num[ok], device=device),
            torch.as_tensor(cats[ok], device=device),
            torch.as_tensor(y[ok], dtype=torch.float32, device=device),
            torch.as_tensor(w[ok], dtype=torch.float32, device=device),
        )

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: torch.Tensor) -> Tensors:
        return Tensors(self.num[idx], self.cats[idx], self.y[idx], self.w[idx])

    def rows(self, start: int, end: int) -> Tensors:
        """Rows ``start`` to ``end`` as views (no copy)."""
        return Tensors(
            self.num[start:end], self.cats[start:end], self.y[start:end], self.w[start:end]
        )

    def mean_y(self) -> float:
        return float((self.y * self.w).sum() / self.w.sum()) if len(self) else 1.0


def weighted_loss(net: TabularNet, data: Tensors, loss: Loss, generator=None) -> torch.Tensor:
    """The weighted mean loss of ``net`` on ``data``."""
    per_row = loss(net(data.num, data.cats, generator), data.y)
    return (per_row * data.w).sum() / data.w.sum().clamp(min=1e-12)


@torch_scope()
def train(
    net: TabularNet,
    data: Tensors,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    loss: Loss,
    seed: int,
    penalty: L2SPPenalty | None = None,
    trainable: dict[str, torch.Tensor] | None = None,
    valid: Tensors | None = None,
    patience: int = 0,
    cosine: bool = False,
) -> list[float]:
    """Adam on the weighted mean loss for ``epochs`` passes over ``data``, in batches sliced
    from a seeded permutation; with ``penalty``, each Adam step is followed by the penalty's
    proximal step (:meth:`L2SPPenalty.proximal_step`, step size the current learning rate).
    Adam sees only the loss's gradient, so the penalty's strength is not rescaled by Adam's
    per-parameter step sizes: ``alpha -> inf`` keeps the source weights, ``alpha = 0`` and
    ``beta = 0`` is plain Adam fine-tuning.

    ``trainable`` masks gradients element by element (frozen entries of a partly frozen
    tensor). With ``valid``, the loss on it is recorded after every epoch (the first entry is
    before training) and training stops after ``patience`` epochs without improvement.
    Returns the validation losses (empty without ``valid``).
    """
    gen = torch.Generator().manual_seed(int(seed))
    dev = data.y.device
    drop_gen = torch.Generator(device=dev).manual_seed(int(seed) + 1)
    params = [p for p in net.parameters() if p.requires_grad]
    history: list[float] = []
    if valid is not None:
        history.append(_eval_loss(net, valid, loss))
    if not params or epochs <= 0 or len(data) == 0:
        return history
    names = {id(p): n for n, p in net.named_parameters()}
    opt = torch.optim.Adam(params, lr=lr)
    n, best, since = len(data), (history[0] if history else math.inf), 0
    for epoch in range(epochs):
        if cosine:
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
        net.train()
        perm = torch.randperm(n, generator=gen).to(dev)
        shuffled = data.take(perm)  # one gather per epoch; the batches are views of it
        for start in range(0, n, batch_size):
            batch = shuffled.rows(start, start + batch_size)
            opt.zero_grad(set_to_none=True)
            obj = weighted_loss(net, batch, loss, drop_gen)
            obj.backward()
            if trainable is not None:
                for p in params:
                    mask = trainable.get(names[id(p)])
                    if mask is not None and p.grad is not None:
                        p.grad.mul_(mask)
            opt.step()
            if penalty is not None:
                penalty.proximal_step(net, opt.param_groups[0]["lr"])
        net.eval()
        if valid is not None:
            history.append(_eval_loss(net, valid, loss))
            if history[-1] < best - 1e-9:
                best, since = history[-1], 0
            else:
                since += 1
                if patience and since >= patience:
                    break
    return history


def _eval_loss(net: TabularNet, data: Tensors, loss: Loss) -> float:
    net.eval()
    with torch.no_grad():
        return float(weighted_loss(net, data, loss))


@torch_scope()
def predict(net: TabularNet, encoder: Encoder, X: pd.DataFrame, loss: Loss) -> np.ndarray:
    """Predictions of the label for the rows of ``X`` (float64, on the CPU)."""
    device = next(net.parameters()).device
    num, cats = encoder.transform(X)
    net.eval()
    with torch.no_grad():
        f = net(torch.as_tensor(num, device=device), torch.as_tensor(cats, device=device))
        return loss.inverse(f).double().cpu().numpy()


# -- source model and adaptation --------------------------------------------------------------
@dataclass
class SourceNet:
    """A network pre-trained on the source, with the encoder and loss it was trained with.

    Shared between strategies through the source cache: never modified after pre-training.
    """

    net: TabularNet
    encoder: Encoder
    loss: Loss
    trained_rows: list[list[bool]] | None = None  # per embedding: rows that source rows used

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return predict(self.net, self.encoder, X, self.loss)


@torch_scope()
def build(
    table: FeatureTable,
    *,
    hidden: list[int],
    dropout: float,
    loss: Loss,
    seed: int,
    device: torch.device,
    encoder: Encoder | None = None,
) -> tuple[TabularNet, Encoder, Tensors]:
    """A freshly initialised network for ``table`` (encoder fitted on it unless given)."""
    encoder = encoder or Encoder.fit(table)
    net = TabularNet(network_config(encoder, hidden, dropout))
    data = Tensors.from_table(encoder, table, torch.device("cpu"))
    net.reset(torch.Generator().manual_seed(int(seed)), bias=loss.link(data.mean_y()))
    net.to(device)
    return net, encoder, Tensors(*(t.to(device) for t in data.__dict__.values()))


@torch_scope()
def pretrain(table: FeatureTable, spec: dict[str, Any], seed: int) -> SourceNet:
    """Fit a network on the source rows (cosine-decayed Adam for ``source_epochs``).

    Embedding rows of categories absent from the source rows (and the unknown row) are set to
    the mean of the trained rows: the source network's answer for a category it never saw.
    """
    device = resolve_device(spec["device"])
    loss = Loss(spec["loss"], spec["huber_delta"], spec["tweedie_power"])
    net, encoder, data = build(
        table, hidden=spec["hidden"], dropout=spec["dropout"], loss=loss, seed=seed, device=device
    )
    train(
        net,
        data,
        epochs=spec["source_epochs"],
        lr=spec["lr"],
        batch_size=spec["batch_size"],
        loss=loss,
        seed=seed,
        cosine=True,
    )
    trained: list[list[bool]] = []
    with torch.no_grad():
        for j, emb in enumerate(net.embeddings):
            seen = torch.zeros(emb.num_embeddings, dtype=torch.bool, device=device)
            seen[data.cats[:, j].unique()] = True
            seen[0] = False
            if seen.any():
                emb.weight[~seen] = emb.weight[seen].mean(0)
            trained.append(seen.cpu().tolist())
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return SourceNet(net, encoder, loss, trained)


@torch_scope()
def adapt(
    source: SourceNet,
    target: FeatureTable,
    seed: int,
    reinit_head: bool,
    fit_rows: np.ndarray | None = None,
) -> tuple[TabularNet, Encoder, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A copy of the source network shaped for ``target``, with ``w0`` and the source mask.

    Target-only numeric or categorical inputs extend the first layer with zero weight columns
    (so the copy computes exactly the source function; their standardisation is fitted on the
    rows ``fit_rows``, see :meth:`Encoder.extend`); categories no source row had (new
    categories of known columns, and known ones absent from the source rows) get embedding
    rows equal to the mean of the trained source rows and count as new parameters (penalised
    by beta, trainable under ``freeze``); ``reinit_head`` draws a new head (new parameters,
    its bias started at the source head's). Returns ``(net, encoder, reference, source_mask)``.
    """
    enc = source.encoder.extend(target, fit_rows)
    old, device = source.net, next(source.net.parameters()).device
    config = network_config(enc, old.config["hidden"], old.config["dropout"])
    k = len(old.config["emb_dims"])
    config["emb_dims"][:k] = old.config["emb_dims"]  # known columns keep their widths
    net = TabularNet(config)
    gen = torch.Generator().manual_seed(int(seed) + 7)
    net.reset(gen)
    net.to(device)
    mask = {n: torch.ones_like(p, dtype=torch.bool) for n, p in net.named_parameters()}
    with torch.no_grad():
        for j, (new_e, old_e) in enumerate(zip(net.embeddings, old.embeddings, strict=False)):
            k = old_e.num_embeddings
            new_e.weight[:k] = old_e.weight
            new_e.weight[k:] = old_e.weight[0]  # the unknown row: mean of the source rows
            new_rows = torch.ones(new_e.num_embeddings, dtype=torch.bool, device=device)
            new_rows[:k] = False
            if source.trained_rows is not None:
                untrained = ~torch.tensor(source.trained_rows[j], dtype=torch.bool)
                untrained[0] = False  # the unknown row keeps the source's answer
                new_rows[:k] = untrained.to(device)
            mask[f"embeddings.{j}.weight"][new_rows] = False
        for j in range(len(old.embeddings), len(net.embeddings)):
            mask[f"embeddings.{j}.weight"][:] = False
        w_old, w_new = old.layers[0].weight, net.layers[0].weight
        w_new.zero_()
        old_cols, new_cols = _column_map(old.config, net.config)
        w_new[:, new_cols] = w_old[:, old_cols]
        is_new = torch.ones(w_new.shape[1], dtype=torch.bool, device=device)
        is_new[new_cols] = False
        mask["layers.0.weight"][:, is_new] = False
        net.layers[0].bias.copy_(old.layers[0].bias)
        for new_l, old_l in zip(net.layers[1:], old.layers[1:], strict=True):
            new_l.load_state_dict(old_l.state_dict())
        if reinit_head:
            mask["head.weight"][:] = False
            mask["head.bias"][:] = False
            net.head.bias.copy_(old.head.bias)
        else:
            net.head.load_state_dict(old.head.state_dict())
    reference = {n: p.detach().clone() for n, p in net.named_parameters()}
    for n in reference:
        reference[n][~mask[n]] = 0.0
    return net, enc, reference, mask


def _column_map(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[int], list[int]]:
    """Indices of the old first layer's input columns and where they sit in the new one."""

    def layout(c: dict[str, Any]) -> list[tuple[str, int]]:
        nb, cb = c["n_numeric_base"], c["n_cat_base"]
        cols = [("num", i) for i in range(nb)]
        for j in range(cb):
            cols += [(f"emb{j}", i) for i in range(c["emb_dims"][j])]
        cols += [("num", i) for i in range(nb, c["n_numeric"])]
        for j in range(cb, len(c["emb_dims"])):
            cols += [(f"emb{j}", i) for i in range(c["emb_dims"][j])]
        return cols

    where = {key: k for k, key in enumerate(layout(new))}
    old_cols = layout(old)
    return list(range(len(old_cols))), [where[key] for key in old_cols]


def trainable_masks(
    net: TabularNet, freeze: int, source_mask: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Freeze the source entries of the first ``freeze`` blocks: fully frozen tensors stop
    requiring gradients; partly frozen ones (new input columns) get a 0/1 gradient mask."""
    masks: dict[str, torch.Tensor] = {}
    frozen = {id(p) for block in net.blocks()[:freeze] for p in block}
    for name, p in net.named_parameters():
        if id(p) not in frozen:
            continue
        new = ~source_mask[name]
        if new.any():
            masks[name] = new.to(p.dtype)
        else:
            p.requires_grad_(False)
    return masks
