"""The MC-dropout MLP learner of the paper's appendix F: class-balanced, warm-started, early-stopped,
calibrated, keep-best."""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from labald import streams
from labald.learner.calibration import fit_temperature, nll, nll_against
from labald.learner.mc import mc_dropout_logits, mc_dropout_predict
from labald.learner.mlp import MLP
from labald.learner.settings import (
    FitReport,
    LearnerSettings,
    derive_seed,
)
from labald.learner.update import AdamState, FlatNet, adam_step, backward


class MCDropoutLearner:
    """MLP on pseudo-labels, validated and calibrated on prototypes, predicting by MC dropout.

    Everything random is a function of (seed, step): initialisation, shuffles, training dropout
    and the MC masks, so equal inputs give bit-identical outputs, and a learner loaded from
    another's ``state_dict`` behaves as that one would.
    """

    def __init__(self, settings: LearnerSettings, n_features: int, n_classes: int, seed: int,
                 device: torch.device | str = "cpu"):
        if n_features < 1 or n_classes < 2:
            raise ValueError(f"need n_features >= 1 and n_classes >= 2, got {n_features}, "
                             f"{n_classes}")
        self.settings = settings
        self.n_features = n_features
        self.n_classes = n_classes
        self.seed = seed
        self.device = torch.device(device)
        self._model = self._new_model(step=0)
        self._adam: AdamState | None = None
        self._temperature = 1.0
        self._kept_step = 0  # the step whose MC masks the kept model's temperature was fitted with
        self._kept_n_train = 0  # training examples of the kept model (0: none yet)
        self._fitted = False
        self._kept_val: tuple[Tensor, Tensor] | None = None  # (x_val, the kept model's validation logits)

    @property
    def temperature(self) -> float:
        """Temperature of the kept model (1.0 before the first fit)."""
        return self._temperature

    @property
    def model(self) -> MLP:
        """The kept network (read it, do not train it: ``fit`` manages it)."""
        return self._model

    def _new_model(self, step: int) -> MLP:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.seed, step, streams.LEARNER_INIT))
            return MLP(self.n_features, self.n_classes, self.settings.hidden,
                       self.settings.dropout).to(self.device)  # initialised on the CPU: same weights anywhere

    def _check_xy(self, x: Tensor, y: Tensor, what: str) -> tuple[Tensor, Tensor]:
        if x.ndim != 2 or x.shape[1] != self.n_features or y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"{what}: expected x [N, {self.n_features}] and y [N], got "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
        if len(y) == 0:
            raise ValueError(f"{what}: needs at least one example")
        if y.min() < 0 or y.max() >= self.n_classes:
            raise ValueError(f"{what}: labels must lie in [0, {self.n_classes}), got "
                             f"[{int(y.min())}, {int(y.max())}]")
        return x.to(self.device, torch.float32), y.to(self.device, torch.int64)

    def _check_x(self, x: Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"x must be [N, {self.n_features}], got {tuple(x.shape)}")
        if not self._fitted:
            raise RuntimeError("the learner has no model yet: call fit() before predicting")

    def fit(self, x_train: Tensor, y_train: Tensor, x_val: Tensor, y_val: Tensor,
            step: int, held_out: Tensor | None = None) -> FitReport:
        """Train a candidate, early-stop and calibrate it on (x_val, y_val); keep it if no worse.

        `held_out` (bool [n_val], default all) marks the validation examples that no model was ever
        trained on: keep-best compares the candidate with the kept model on those only, so a kept
        model is not favoured on examples it has seen (the adaptive prototype policy moves
        prototypes from training to validation as classes fill up).
        """
        x_train, y_train = self._check_xy(x_train, y_train, "train")
        x_val, y_val = self._check_xy(x_val, y_val, "validation")
        s = self.settings
        n_train = len(y_train)
        can_warm = s.warm_start and self._fitted
        grown = can_warm and s.cold_start_growth is not None and 0 < self._kept_n_train * s.cold_start_growth <= n_train
        warm = can_warm and not grown
        candidate = copy.deepcopy(self._model) if warm else self._new_model(step)
        adam = self._adam.clone() if warm and self._adam is not None else None
        if warm:
            min_updates = 0
        elif grown and s.cold_start_updates is not None:
            min_updates = s.cold_start_updates
        else:
            min_updates = s.min_updates
        adam, updates = self._train(candidate, adam, x_train, y_train, x_val, y_val, step, min_updates=min_updates)
        candidate.eval()
        val_logits = self._validation_logits(candidate, x_val, step)
        temperature = fit_temperature(val_logits, y_val)
        logits = val_logits  # narrowed to the held-out examples below; val_logits is what a kept model caches
        kept_logits = self._kept_validation_logits(x_val) if self._fitted else None
        if held_out is not None and bool(held_out.any()):  # none held out: compare on all
            held_out = held_out.to(self.device)
            y_val, logits = y_val[held_out], logits[..., held_out, :]
            kept_logits = None if kept_logits is None else kept_logits[..., held_out, :]
        error, val_nll = _scores(logits, y_val, temperature)
        kept_error, kept_nll = (math.inf, math.inf) if kept_logits is None else _scores(kept_logits, y_val,
                                                                                       self._temperature)
        adopted = not self._fitted or _better(s.keep_best, (error, val_nll), (kept_error, kept_nll))
        if adopted:
            self._model, self._adam = candidate, adam
            self._temperature, self._kept_step, self._fitted = temperature, step, True
            self._kept_n_train = n_train
            self._kept_val = (x_val.clone(), val_logits)
        return FitReport(adopted, error, val_nll, kept_error, kept_nll, temperature, updates, n_train)

    def _train(self, model: MLP, adam: AdamState | None, x: Tensor, y: Tensor, x_val: Tensor, y_val: Tensor,
               step: int, min_updates: int) -> tuple[AdamState, int]:
        """Adam updates (``labald.learner.update``) with early stopping on the validation NLL of the
        dropout-free network; leaves `model` at its best checkpoint and returns that checkpoint's
        Adam state and the number of updates run."""
        s = self.settings
        per_epoch = math.ceil(len(y) / s.batch_size)
        total = max(min_updates, s.max_epochs * per_epoch)
        every = s.eval_every or per_epoch
        lr = s.lr * math.sqrt(min(s.batch_size, len(y)))
        net = FlatNet(model)
        adam = adam or AdamState.zeros(len(net.theta), self.device)
        batches = self._batches(y, torch.Generator().manual_seed(derive_seed(self.seed, step, streams.LEARNER_SHUFFLE)))
        masks = np.random.default_rng(derive_seed(self.seed, step, streams.LEARNER_DROPOUT))
        p, n_hidden = model.dropout_p, len(model.linears) - 1
        blocks = _update_blocks(batches, masks, total, every, (n_hidden, s.hidden), p, self.device)
        validation_nll = nll_against(y_val, self.n_classes)  # the labels checked once: one wait per validation
        best_nll, best, stale, updates = math.inf, None, 0, 0
        for updates in range(1, total + 1):
            idx, keep = next(blocks)
            backward(net, x[idx], y[idx], keep)
            adam_step(net.theta, net.grad, adam, lr, s.weight_decay)
            if updates % every and updates < total:
                continue
            val = validation_nll(net.logits(x_val))
            if val < best_nll or best is None:
                best_nll, stale = val, 0
                best = (net.theta.clone(), adam.clone())
            else:
                stale += 1
                if stale >= s.patience and updates >= min_updates:
                    break
        net.write_into(model, best[0])
        return best[1], updates

    def _batches(self, y: Tensor, generator: torch.Generator):
        """Index batches without end: class-balanced draws with replacement (``balanced``), else
        shuffled passes over the train set."""
        size = min(self.settings.batch_size, len(y))
        y = y.cpu()  # indices are drawn on the CPU generator: the same batches on any device
        if self.settings.balanced:
            weights = 1.0 / torch.bincount(y, minlength=self.n_classes).double()[y]
            while True:
                yield torch.multinomial(weights, size, replacement=True, generator=generator)
        while True:
            order = torch.randperm(len(y), generator=generator)
            yield from order.split(size)

    def _kept_validation_logits(self, x_val: Tensor) -> Tensor:
        """The kept model's validation logits, from its adoption when the validation images are the
        same (each image's MC logits depend on it and the masks only: a subset is a slice)."""
        cached = self._kept_val
        if cached is not None and cached[0].shape == x_val.shape and torch.equal(cached[0], x_val):
            return cached[1]
        logits = self._validation_logits(self._model, x_val, self._kept_step)
        self._kept_val = (x_val.clone(), logits)
        return logits

    def _validation_logits(self, model: MLP, x_val: Tensor, step: int) -> Tensor:
        """What temperature scaling is fitted on: the logits [T, n, K] of the T sampled networks the
        loop will use (``calibrate=mc_mean``), or the dropout-free network's [n, K]."""
        if self.settings.calibrate == "network":
            return _deterministic_logits(model, x_val)
        return mc_dropout_logits(model, x_val, self.settings.mc_samples, self._mc_generator(step))

    def _mc_generator(self, step: int) -> torch.Generator:
        return torch.Generator().manual_seed(derive_seed(self.seed, step, streams.LEARNER_MC))

    def predict_mc(self, x: Tensor, step: int, out: Tensor | None = None) -> Tensor:
        """Calibrated probabilities [T, N, K] of the kept model; masks seeded by (seed, step). With
        `out` (a [T, N, K] view), they are written there and `out` is returned."""
        self._check_x(x)
        return mc_dropout_predict(self._model, x.to(self.device), self.settings.mc_samples, self._mc_generator(step),
                                  self._temperature, out=out)

    def predict_mean(self, x: Tensor, step: int) -> Tensor:
        """Mean over the T MC samples [N, K]: the per-image prior of EM."""
        return self.predict_mc(x, step).mean(dim=0)

    def state_dict(self) -> dict[str, Any]:
        """Everything ``fit``/``predict_*`` depend on: kept model, optimizer, temperature, seed."""
        return {
            "model": {k: v.detach().cpu().clone() for k, v in self._model.state_dict().items()},
            "optimizer": None if self._adam is None else self._adam.to_dict(),  # CPU tensors
            "temperature": self._temperature,
            "kept_step": self._kept_step,
            "kept_n_train": self._kept_n_train,
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
        self._model = model.to(self.device).eval()
        self._adam = None if state["optimizer"] is None else AdamState.from_dict(state["optimizer"], self.device)
        self._temperature = float(state["temperature"])
        self._kept_step = int(state["kept_step"])
        self._kept_n_train = int(state["kept_n_train"])  # 0: unknown (labald.compat), the next fit warm-starts
        self._fitted = bool(state["fitted"])
        self._kept_val = None
        self.seed = int(state["seed"])


def _update_blocks(batches, rng: np.random.Generator, total: int, block: int, layer_shape: tuple[int, int], p: float,
                   device: torch.device):
    """(batch indices, keep-masks) of each update, on `device`, drawn `block` updates at a time: the
    batches in the order the generator gives them, each update's masks by `_keep_mask` in that order,
    so the values are those of drawing update by update. Each block goes to the device in one copy
    (from pinned memory on CUDA) instead of one per update."""
    n_hidden, hidden = layer_shape
    cuda = torch.device(device).type == "cuda"

    def to_device(t: Tensor) -> Tensor:
        return t.pin_memory().to(device, non_blocking=True) if cuda else t.to(device)

    for done in range(0, total, block):
        idx = [next(batches) for _ in range(min(block, total - done))]
        flat_idx = to_device(torch.cat(idx))
        keeps = to_device(torch.cat([_keep_mask((n_hidden, len(i), hidden), p, rng) for i in idx], dim=1)) \
            if p > 0 else None
        offset = 0
        for i in idx:
            masks = keeps[:, offset:offset + len(i)] if p > 0 else [None] * n_hidden
            yield flat_idx[offset:offset + len(i)], masks
            offset += len(i)


def _keep_mask(shape: tuple[int, ...], p: float, rng: np.random.Generator) -> Tensor:
    """Training dropout's 0/1 keep-mask (float32): the raw 64-bit draws of numpy's PCG64 cut into
    16-bit integers u, kept iff u >= round(p * 2^16), so the rate is p within 2^-17. Six times
    faster than torch's CPU dropout, which was half of a training update."""
    n = math.prod(shape)
    words = rng.bit_generator.random_raw(-(-n // 4)).view(np.uint16)[:n].reshape(shape)
    return torch.from_numpy((words >= round(p * (1 << 16))).astype(np.float32))


@torch.no_grad()
def _deterministic_logits(model: MLP, x: Tensor) -> Tensor:
    """Logits with dropout off: validation NLL and temperature are those of the mean network."""
    model.eval()
    return model(x)


def _scores(logits: Tensor, y_val: Tensor, temperature: float) -> tuple[float, float]:
    """Validation error and NLL of the calibrated prediction the loop uses ([T, n, K] logits: the MC mean)."""
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    mean = probs.mean(dim=0) if probs.ndim == 3 else probs
    return float((mean.argmax(dim=1) != y_val).double().mean()), nll(logits, y_val, temperature)


def _better(criterion: str, candidate: tuple[float, float], kept: tuple[float, float]) -> bool:
    """Keep-best (paper F): adopt unless the candidate validates worse than the kept model."""
    if criterion == "off":
        return True
    error, val_nll = candidate
    if criterion == "error":  # ties go to the candidate: it learned from more labels
        return error <= kept[0]
    return math.isfinite(val_nll) and val_nll <= kept[1]
