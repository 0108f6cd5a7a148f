"""The MC-dropout MLP learner of SPEC 4: warm-started, early-stopped, calibrated, keep-best."""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from labald.learner.calibration import fit_temperature, nll
from labald.learner.mc import mc_dropout_predict
from labald.learner.mlp import MLP
from labald.learner.settings import (
    STREAM_DROPOUT,
    STREAM_INIT,
    STREAM_MC,
    STREAM_SHUFFLE,
    FitReport,
    LearnerSettings,
    derive_seed,
)


class MCDropoutLearner:
    """MLP on pseudo-labels, validated and calibrated on prototypes, predicting by MC dropout.

    Everything random is a function of (seed, step): initialisation, shuffles, training dropout
    and the MC masks, so equal inputs give bit-identical outputs, and a learner loaded from
    another's ``state_dict`` behaves as that one would.
    """

    def __init__(self, settings: LearnerSettings, n_features: int, n_classes: int, seed: int):
        if n_features < 1 or n_classes < 2:
            raise ValueError(f"need n_features >= 1 and n_classes >= 2, got {n_features}, "
                             f"{n_classes}")
        self.settings = settings
        self.n_features = n_features
        self.n_classes = n_classes
        self.seed = seed
        self._model = self._new_model(step=0)
        self._opt_state: dict[str, Any] | None = None
        self._temperature = 1.0
        self._best_val_nll = math.inf
        self._fitted = False

    @property
    def temperature(self) -> float:
        """Temperature of the kept model (1.0 before the first fit)."""
        return self._temperature

    @property
    def best_val_nll(self) -> float:
        """Lowest calibrated validation NLL so far: that of the kept model."""
        return self._best_val_nll

    @property
    def model(self) -> MLP:
        """The kept network (read it, do not train it: ``fit`` manages it)."""
        return self._model

    def _new_model(self, step: int) -> MLP:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.seed, step, STREAM_INIT))
            return MLP(self.n_features, self.n_classes, self.settings.hidden,
                       self.settings.dropout)

    def _check_xy(self, x: Tensor, y: Tensor, what: str) -> tuple[Tensor, Tensor]:
        if x.ndim != 2 or x.shape[1] != self.n_features or y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"{what}: expected x [N, {self.n_features}] and y [N], got "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
        if len(y) == 0:
            raise ValueError(f"{what}: needs at least one example")
        if y.min() < 0 or y.max() >= self.n_classes:
            raise ValueError(f"{what}: labels must lie in [0, {self.n_classes}), got "
                             f"[{int(y.min())}, {int(y.max())}]")
        return x.to(torch.float32), y.to(torch.int64)

    def _check_x(self, x: Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"x must be [N, {self.n_features}], got {tuple(x.shape)}")
        if not self._fitted:
            raise RuntimeError("the learner has no model yet: call fit() before predicting")

    def fit(self, x_train: Tensor, y_train: Tensor, x_val: Tensor, y_val: Tensor,
            step: int) -> FitReport:
        """Train a candidate, early-stop and calibrate it on (x_val, y_val); keep it if best."""
        x_train, y_train = self._check_xy(x_train, y_train, "train")
        x_val, y_val = self._check_xy(x_val, y_val, "validation")
        s = self.settings
        n_train = len(y_train)
        warm = s.warm_start and self._fitted
        candidate = copy.deepcopy(self._model) if warm else self._new_model(step)
        lr = s.lr * math.sqrt(min(s.batch_size, n_train))
        opt = torch.optim.Adam(candidate.parameters(), lr=lr, weight_decay=s.weight_decay)
        if warm and self._opt_state is not None:
            opt.load_state_dict(copy.deepcopy(self._opt_state))
            for group in opt.param_groups:
                group["lr"] = lr
        shuffle = torch.Generator().manual_seed(derive_seed(self.seed, step, STREAM_SHUFFLE))
        best_nll, best_state, epochs, stale = math.inf, None, 0, 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.seed, step, STREAM_DROPOUT))  # nn.Dropout's masks
            for _ in range(s.max_epochs):
                self._train_epoch(candidate, opt, x_train, y_train, shuffle)
                epochs += 1
                val = nll(_deterministic_logits(candidate, x_val), y_val)
                if val < best_nll or best_state is None:
                    best_nll, stale = val, 0
                    best_state = (copy.deepcopy(candidate.state_dict()),
                                  copy.deepcopy(opt.state_dict()))
                else:
                    stale += 1
                    if stale >= s.patience:
                        break
        candidate.load_state_dict(best_state[0])
        logits_val = _deterministic_logits(candidate, x_val)
        temperature = fit_temperature(logits_val, y_val)
        val_nll = nll(logits_val, y_val, temperature)
        adopted = not self._fitted or (math.isfinite(val_nll) and val_nll < self._best_val_nll)
        if adopted:
            self._model, self._opt_state = candidate.eval(), best_state[1]
            self._temperature, self._fitted = temperature, True
            # a diverged first model (NaN NLL) is kept only until any finite candidate comes
            self._best_val_nll = val_nll if math.isfinite(val_nll) else math.inf
        return FitReport(adopted, val_nll, self._best_val_nll, temperature, epochs, n_train)

    def _train_epoch(self, model: MLP, opt: torch.optim.Optimizer, x: Tensor, y: Tensor,
                     shuffle: torch.Generator) -> None:
        model.train()
        order = torch.randperm(len(y), generator=shuffle)
        for start in range(0, len(y), self.settings.batch_size):
            idx = order[start:start + self.settings.batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def predict_mc(self, x: Tensor, step: int) -> Tensor:
        """Calibrated probabilities [T, N, K] of the kept model; masks seeded by (seed, step)."""
        self._check_x(x)
        generator = torch.Generator().manual_seed(derive_seed(self.seed, step, STREAM_MC))
        return mc_dropout_predict(self._model, x, self.settings.mc_samples, generator,
                                  self._temperature)

    def predict_mean(self, x: Tensor, step: int) -> Tensor:
        """Mean over the T MC samples [N, K]: the per-image prior of EM."""
        return self.predict_mc(x, step).mean(dim=0)

    def state_dict(self) -> dict[str, Any]:
        """Everything ``fit``/``predict_*`` depend on: kept model, optimizer, temperature, seed."""
        return {
            "model": {k: v.detach().clone() for k, v in self._model.state_dict().items()},
            "optimizer": copy.deepcopy(self._opt_state),
            "temperature": self._temperature,
            "best_val_nll": self._best_val_nll,
            "fitted": self._fitted,
            "seed": self.seed,
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "settings": dataclasses.asdict(self.settings),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from ``state_dict()`` (seed included); this learner's settings are kept."""
        shapes = (state["n_features"], state["n_classes"], state["settings"]["hidden"])
        mine = (self.n_features, self.n_classes, self.settings.hidden)
        if shapes != mine:
            raise ValueError(f"state is for (n_features, n_classes, hidden) = {shapes}, "
                             f"this learner is {mine}")
        model = MLP(self.n_features, self.n_classes, self.settings.hidden, self.settings.dropout)
        model.load_state_dict({k: v.clone() for k, v in state["model"].items()})
        self._model = model.eval()
        self._opt_state = copy.deepcopy(state["optimizer"])
        self._temperature = float(state["temperature"])
        self._best_val_nll = float(state["best_val_nll"])
        self._fitted = bool(state["fitted"])
        self.seed = int(state["seed"])


@torch.no_grad()
def _deterministic_logits(model: MLP, x: Tensor) -> Tensor:
    """Logits with dropout off: validation NLL and temperature are those of the mean network."""
    model.eval()
    return model(x)
