"""The ``l2sp`` strategy: a network pre-trained on the source, fine-tuned on the target with the
L2-SP penalty (Li, Grandvalet and Davoine, "Explicit Inductive Bias for Transfer Learning with
Convolutional Networks", ICML 2018)::

    min_w  L(w; target) + alpha/2 * ||w_S - w_S^0||^2 + beta/2 * ||w_new||^2

``L`` is the weighted mean loss per row, ``w_S^0`` the source-trained weights of the parameters
that have a source value and ``w_new`` the parameters that exist only for the target (weights of
target-only inputs, embedding rows of categories no source row had, a re-initialised head; the
bias of a new head is not penalised). The norms are sums over elements, as published. Adam
descends ``L`` and each Adam step is followed by the penalty's proximal step
``w_S <- w_S^0 + (w_S - w_S^0) / (1 + lr alpha)``, ``w_new <- w_new / (1 + lr beta)``.

torch is an optional extra: this module imports without it (torch is imported inside the
methods, through :mod:`transfercast.plugins.l2sp_net`), so ``transfercast plugins`` lists
``l2sp``; creating the strategy without torch raises an error naming ``transfercast[torch]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

import transfercast
from transfercast.errors import HistoryRequired
from transfercast.features import FeatureTable
from transfercast.strategy import SourceSpec, Strategy, StrategyParams

FORMAT = "transfercast-l2sp/1"


class L2SPParams(StrategyParams):
    """``[strategies.l2sp]``: the network, the pre-training and the L2-SP fine-tuning."""

    alpha: float = Field(
        1000.0,
        ge=0,
        description="L2-SP strength: pull toward the source weights, `alpha/2 * sum (w - w0)^2` "
        "over parameters with a source value, applied as a proximal step after each Adam step "
        "(inf: the source network, 0: plain fine-tuning)",
    )
    beta: float = Field(
        0.01,
        ge=0,
        description="weight decay `beta/2 * sum w^2` on parameters new for the target (new "
        "input columns, new categories' embeddings, a re-initialised head but not its bias)",
    )
    hidden: list[int] = Field(
        default_factory=lambda: [128, 64],
        min_length=1,
        description="sizes of the hidden layers of the MLP body",
    )
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout after each hidden layer")
    lr: float = Field(
        1e-3, gt=0, allow_inf_nan=False, description="Adam learning rate of the fine-tuning"
    )
    source_lr: float = Field(
        2e-3,
        gt=0,
        allow_inf_nan=False,
        description="Adam learning rate of the pre-training (cosine-decayed over `source_epochs`)",
    )
    batch_size: int = Field(512, ge=1, description="rows per batch (pre-training and fine-tuning)")
    source_epochs: int = Field(10, ge=0, description="passes over the source rows in pre-training")
    epochs: int = Field(
        200,
        ge=0,
        description="most passes over the target rows in "
        "fine-tuning (0: the source network unchanged)",
    )
    patience: int = Field(
        30,
        ge=0,
        description="early stopping: epochs without improvement on "
        "the validation tail (0: no early stop)",
    )
    valid_periods: int = Field(
        4,
        ge=0,
        description="the last periods of the target history held out to choose the number of "
        "epochs (0: use `epochs`; a history no longer than this: the source network)",
    )
    freeze: int = Field(
        0,
        ge=0,
        description="freeze the source weights of the first k layers "
        "(layer 1 includes the embeddings)",
    )
    reinit_head: bool = Field(
        False,
        description="draw a new regression head (penalised by "
        "beta) instead of keeping the source head",
    )
    loss: Literal["mse", "huber", "tweedie"] = Field(
        "huber", description="training loss on the normalised label"
    )
    huber_delta: float = Field(0.1, gt=0, description="threshold of the huber loss")
    tweedie_power: float = Field(
        1.5,
        gt=1,
        lt=2,
        description="power of the tweedie loss (log link; negative labels clipped to 0)",
    )
    init: Literal["source", "scratch"] = Field(
        "source", description="`scratch`: no source, a target-only network (a baseline)"
    )
    device: str = Field(
        "cpu",
        description="`cpu`, `cuda` or `cuda:N` (falls back to cpu with "
        "a warning when CUDA is absent)",
    )
    seed: int = Field(
        0, ge=0, lt=2**31, description="seed of initialisation, batch order and dropout"
    )
    members: int = Field(
        1,
        ge=1,
        description="networks pre-trained and fine-tuned with the seeds `seed`, `seed + 1`, "
        "...; the forecast is their mean (each costs as much as one network)",
    )

    @field_validator("hidden")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(h < 1 for h in v):
            raise ValueError("layer sizes must be positive")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if v != "cpu" and not (v == "cuda" or (v.startswith("cuda:") and v[5:].isdigit())):
            raise ValueError("must be 'cpu', 'cuda' or 'cuda:N'")
        return v

    @model_validator(mode="after")
    def _freeze(self) -> L2SPParams:
        if self.freeze > len(self.hidden):
            raise ValueError(f"freeze={self.freeze} exceeds the {len(self.hidden)} hidden layers")
        return self


class L2SP(Strategy):
    """Neural fine-tuning from a source-trained network with the L2-SP penalty (torch)."""

    name = "l2sp"
    Params = L2SPParams
    params: L2SPParams
    requires = ("torch",)
    extra = "torch"

    # -- step 1 -------------------------------------------------------------------------------
    def source_spec(self) -> SourceSpec | None:
        p = self.params
        if p.init == "scratch":
            return None
        spec = self._net_spec()
        if p.members > 1:  # one network keeps the key it always had
            spec["members"] = p.members
        return SourceSpec("l2sp_net", "torch", spec, p.seed)

    def _net_spec(self) -> dict[str, Any]:
        p = self.params
        return {
            "hidden": list(p.hidden),
            "dropout": p.dropout,
            "lr": p.source_lr,
            "batch_size": p.batch_size,
            "source_epochs": p.source_epochs,
            "loss": p.loss,
            "huber_delta": p.huber_delta,
            "tweedie_power": p.tweedie_power,
            "device": p.device,
        }

    def fit_source(self, source: FeatureTable) -> Any:
        """Pre-train the network on the source rows (shared by configurations with the same
        :meth:`source_spec`: the fine-tuning keys are not part of it); with ``members``, a
        list of networks, one per member's seed."""
        from transfercast.plugins import l2sp_net

        p = self.params
        if p.members > 1:
            return [
                l2sp_net.pretrain(source, self._net_spec(), p.seed + k) for k in range(p.members)
            ]
        return l2sp_net.pretrain(source, self._net_spec(), p.seed)

    def _members(self) -> list[L2SP]:
        """One single-network ``l2sp`` per member, with the member's seed."""
        p = self.params
        return [
            type(self)(self.get_params() | {"members": 1, "seed": p.seed + k})
            for k in range(p.members)
        ]

    # -- steps 3 and 4 ------------------------------------------------------------------------
    def _tail(self, target: FeatureTable) -> np.ndarray | None:
        """The validation tail (a row mask) when the number of epochs is to be chosen on one:
        ``valid_periods`` and ``epochs`` positive and target rows present; else ``None``. A
        tail that covers every row (a history no longer than ``valid_periods``) is returned
        as such: :meth:`fine_tune` then falls back to the source network."""
        p = self.params
        if not p.valid_periods or p.epochs <= 0 or not len(target):
            return None
        return target.time_tail(p.valid_periods)

    def adapt(self, source_model: Any, target: FeatureTable) -> None:
        """Copy the source network and extend it for the target's new inputs and categories.

        Statistics fitted on the target (the standardisation of target-only columns; for
        ``init = "scratch"`` the whole encoder and the head's starting bias) come from the rows
        before the validation tail when one is held out."""
        from transfercast.plugins import l2sp_net

        p = self.params
        if p.members > 1:  # each member adapts its own source network (none for `scratch`)
            self.members_ = self._members()
            for k, member in enumerate(self.members_):
                member.adapt(None if source_model is None else source_model[k], target)
            return
        tail = self._tail(target)
        fit_rows = ~tail if tail is not None and (~tail).any() else None
        self.source_head_ = None
        self.from_source_ = not (p.init == "scratch" or source_model is None)
        if not self.from_source_:
            device = l2sp_net.resolve_device(p.device)
            loss = l2sp_net.Loss(p.loss, p.huber_delta, p.tweedie_power)
            fit_part = target if fit_rows is None else target.subset(fit_rows)
            enc = l2sp_net.Encoder.fit(fit_part).extend(target)  # every category named
            net, enc, _ = l2sp_net.build(
                fit_part,
                hidden=p.hidden,
                dropout=p.dropout,
                loss=loss,
                seed=p.seed,
                device=device,
                encoder=enc,
            )
            self.loss_ = loss
            self.reference_ = {n: w.detach().clone() for n, w in net.named_parameters()}
            self.source_mask_ = {
                n: w.new_zeros(w.shape, dtype=bool) for n, w in net.named_parameters()
            }
        else:
            net, enc, self.reference_, self.source_mask_ = l2sp_net.adapt(
                source_model, target, p.seed, p.reinit_head, fit_rows
            )
            self.loss_ = source_model.loss
            if p.reinit_head:  # the fallback of a history too short to validate on
                self.source_head_ = {
                    k: v.detach().clone() for k, v in source_model.net.head.state_dict().items()
                }
        self.net_, self.encoder_ = net, enc
        self.initial_state_ = {k: v.detach().clone() for k, v in net.state_dict().items()}

    def penalty(self) -> Any:
        """The L2-SP penalty of this fit (after :meth:`adapt`); a head bias without a source
        value is exempt (shrinking a bias toward 0 would shrink the forecast's level)."""
        from transfercast.plugins import l2sp_net

        exempt = {"head.bias"} if not self.source_mask_["head.bias"].any() else set()
        return l2sp_net.L2SPPenalty(
            self.reference_, self.source_mask_, self.params.alpha, self.params.beta, exempt
        )

    def fine_tune(self, target: FeatureTable, source: FeatureTable | None) -> None:
        """Fine-tune with the penalty. The number of epochs is chosen by early stopping on the
        rows whose forecast period lies in the last ``valid_periods`` periods of the target
        history (a time-ordered tail); the network is then fitted afresh, from the adapted
        weights, on all target rows for that many epochs.

        A history with no rows before the tail (no more periods than ``valid_periods``) cannot
        justify any epoch: the result is the source network (with ``reinit_head``, the source
        head is put back). With ``init = "scratch"`` there is no source network to fall back
        on, and all ``epochs`` run."""
        from transfercast.plugins import l2sp_net

        p = self.params
        if p.members > 1:
            for member in self.members_:
                member.fine_tune(target, source)
            self.epochs_ = [m.epochs_ for m in self.members_]
            return
        device = next(self.net_.parameters()).device
        trainable = l2sp_net.trainable_masks(self.net_, p.freeze, self.source_mask_)
        penalty = self.penalty()
        kw = dict(
            lr=p.lr,
            batch_size=p.batch_size,
            loss=self.loss_,
            seed=p.seed,
            penalty=penalty,
            trainable=trainable,
        )
        data = l2sp_net.Tensors.from_table(self.encoder_, target, device)
        epochs = p.epochs
        tail = self._tail(target)
        # no target rows (a pre-launch target) count as a history too short to fit on
        self.short_history_ = (tail is not None and not (~tail).any()) or not len(target)
        if not len(target) and not self.from_source_:
            raise HistoryRequired(
                "l2sp with init = 'scratch' fits its network on the target's own rows, and the "
                "target has none"
            )
        if self.short_history_ and self.from_source_:
            epochs = 0  # the source network: nothing to choose the epochs on
            if self.source_head_ is not None:
                self.net_.head.load_state_dict(self.source_head_)
        elif tail is not None and not self.short_history_:
            fit_rows = l2sp_net.Tensors.from_table(self.encoder_, target.subset(~tail), device)
            valid = l2sp_net.Tensors.from_table(self.encoder_, target.subset(tail), device)
            history = l2sp_net.train(
                self.net_, fit_rows, epochs=epochs, valid=valid, patience=p.patience, **kw
            )
            epochs = int(np.argmin(history))
            self.net_.load_state_dict(self.initial_state_)
            self.valid_history_ = history
        self.epochs_ = epochs
        l2sp_net.train(self.net_, data, epochs=epochs, **kw)
        self.net_.eval()

    def predict(self, table: FeatureTable) -> np.ndarray:
        """The network's forecast of the normalised target; with ``members``, the members'
        mean."""
        from transfercast.plugins import l2sp_net

        if self.params.members > 1:
            return np.mean([m.predict(table) for m in self.members_], axis=0)
        return l2sp_net.predict(self.net_, self.encoder_, table.X, self.loss_)

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: Path) -> dict[str, Any]:
        """Write ``<name>.npz`` (the network's state dict as arrays) and ``<name>.json``
        (architecture, encoder, loss, parameters and lineage); with ``members``, one
        ``<name>-<k>.npz`` per member and their descriptions in the one ``<name>.json``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        manifest = f"{self.name}.json"
        doc: dict[str, Any] = {"format": FORMAT, "strategy": self.name, "params": self.get_params()}
        if self.params.members > 1:
            weights = [f"{self.name}-{k}.npz" for k in range(self.params.members)]
            doc["members"] = [
                m._write(directory / w) for m, w in zip(self.members_, weights, strict=True)
            ]
        else:
            weights = [f"{self.name}.npz"]
            doc |= self._write(directory / weights[0])
        (directory / manifest).write_text(json.dumps(doc, indent=1), encoding="utf-8")
        files = weights if len(weights) > 1 else weights[0]
        return {"weights": files, "manifest": manifest, "params": self.get_params()}

    def _write(self, path: Path) -> dict[str, Any]:
        """Write one network's weights to ``path``; return its description for the JSON."""
        from transfercast.plugins import l2sp_net

        l2sp_net.save_weights(self.net_, path)
        spec = self.source_spec()
        return {
            "network": self.net_.config,
            "encoder": self.encoder_.to_json(),
            "loss": {
                "kind": self.loss_.kind,
                "huber_delta": self.loss_.huber_delta,
                "tweedie_power": self.loss_.tweedie_power,
            },
            "lineage": {
                "source_spec": None if spec is None else spec.key(),
                "epochs": int(getattr(self, "epochs_", 0)),
            },
        }

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any]) -> Strategy:
        """Rebuild a fitted ``l2sp`` from :meth:`save`'s files (weights read as plain arrays,
        without pickle)."""
        directory = Path(directory)
        from transfercast.bundle import read_bundle_file

        doc = json.loads(read_bundle_file(directory, manifest.get("manifest", f"{cls.name}.json")))
        obj = cls(manifest.get("params", doc["params"]))
        weights = manifest.get("weights", f"{cls.name}.npz")
        weights = [weights] if isinstance(weights, str) else weights
        if "members" in doc:
            obj.members_ = obj._members()
            for member, w, part in zip(obj.members_, weights, doc["members"], strict=True):
                member._read(read_bundle_file(directory, w), part)
            obj.epochs_ = [m.epochs_ for m in obj.members_]
        else:
            obj._read(read_bundle_file(directory, weights[0]), doc)
        return obj

    def _read(self, weights: bytes, doc: dict[str, Any]) -> None:
        """Load one network from its ``weights`` (a NumPy archive's bytes) and its description
        ``doc``."""
        from transfercast.plugins import l2sp_net

        device = l2sp_net.resolve_device(self.params.device)
        net = l2sp_net.TabularNet(doc["network"])
        l2sp_net.load_weights(net, weights)
        self.net_ = net.to(device).eval()
        self.encoder_ = l2sp_net.Encoder.from_json(doc["encoder"])
        self.loss_ = l2sp_net.Loss(**doc["loss"])
        self.epochs_ = doc["lineage"]["epochs"]


@transfercast.hookimpl
def transfercast_register_strategies(register) -> None:
    register(L2SP)
