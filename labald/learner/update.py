"""One training update of the MLP by hand: fused forward and backward, Adam over one flat buffer.

The network is `MLP`'s: its `linears` in order, a ReLU and inverted dropout after all but the last.
At the paper's sizes (batch 1024, 128-d features, 128 hidden units) a training update is six
small matrix products, and autograd's bookkeeping, torch's per-parameter Adam and separate
dropout passes cost more than those products: measured here, 2.4 ms per update of which the
products are ~0.5 ms. So the three layers' forward and backward are written out: ReLU and the
0/1 dropout mask are one in-place pass per layer, the inverted-dropout scale 1 / (1 - p) rides on
the next product's `alpha`, gradients land in views of one flat buffer, and Adam is five
elementwise passes over all parameters at once.

The arithmetic is that of autograd on the mean cross-entropy of the dropout network followed by
``torch.optim.Adam`` (L2 weight decay added to the gradient, bias-corrected moments, eps 1e-8),
up to float rounding order; `tests/test_learner.py` checks both against torch, on `MLP.forward`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from labald.learner.mlp import MLP

BETAS = (0.9, 0.999)
EPS = 1e-8


class FlatNet:
    """An MLP's parameters as views of one flat buffer (a copy), and a gradient buffer alike.

    The views are `MLP.linears`' weight and bias, layer by layer: the order of ``MLP.parameters()``
    (and so of the per-parameter state of a torch optimizer over it).
    """

    def __init__(self, model: MLP):
        tensors = [t for layer in model.linears for t in (layer.weight, layer.bias)]
        self.shapes = [t.shape for t in tensors]
        self.theta = torch.cat([t.detach().reshape(-1) for t in tensors])
        self.grad = torch.zeros_like(self.theta)
        self.params = self.views(self.theta)
        self.grads = self.views(self.grad)
        self.dropout_p = model.dropout_p

    def views(self, flat: Tensor) -> list[Tensor]:
        """`flat` cut into the parameter shapes (views, no copies)."""
        sizes = [math.prod(shape) for shape in self.shapes]
        return [part.view(shape) for part, shape in zip(flat.split(sizes), self.shapes)]

    def write_into(self, model: MLP, flat: Tensor | None = None) -> None:
        """Copy `flat` (default: the current parameters) into `model`'s parameters."""
        tensors = [t for layer in model.linears for t in (layer.weight, layer.bias)]
        with torch.no_grad():
            for target, value in zip(tensors, self.views(self.theta if flat is None else flat)):
                target.copy_(value)

    @torch.no_grad()
    def logits(self, x: Tensor) -> Tensor:
        """Logits [N, K] of the dropout-free network (what ``MLP.eval()`` computes)."""
        *hidden, (w_last, b_last) = _layers(self.params)
        h = x
        for w, b in hidden:
            h = torch.addmm(b, h, w.t()).clamp_(min=0)
        return torch.addmm(b_last, h, w_last.t())


def _layers(flat_views: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
    """(weight, bias) of each layer from the views in parameter order."""
    return list(zip(flat_views[0::2], flat_views[1::2]))


@dataclass
class AdamState:
    """Adam's moments over a flat parameter buffer, the number of steps taken and the last rate."""

    step: int
    exp_avg: Tensor
    exp_avg_sq: Tensor
    lr: float | None = None

    @classmethod
    def zeros(cls, n: int, device: torch.device | str = "cpu") -> AdamState:
        return cls(0, torch.zeros(n, device=device), torch.zeros(n, device=device))

    def clone(self) -> AdamState:
        return AdamState(self.step, self.exp_avg.clone(), self.exp_avg_sq.clone(), self.lr)

    def to_dict(self) -> dict:
        """For a checkpoint: CPU tensors."""
        return {"step": self.step, "exp_avg": self.exp_avg.cpu().clone(), "exp_avg_sq": self.exp_avg_sq.cpu().clone(),
                "lr": self.lr}

    @classmethod
    def from_dict(cls, state: dict, device: torch.device | str = "cpu") -> AdamState:
        """From ``to_dict()`` (an older checkpoint's form is upgraded by `labald.compat`), onto `device`."""
        moments = (state[key].to(device, copy=True) for key in ("exp_avg", "exp_avg_sq"))
        return cls(int(state["step"]), *moments, state["lr"])


def adam_step(theta: Tensor, grad: Tensor, state: AdamState, lr: float, weight_decay: float) -> None:
    """One ``torch.optim.Adam`` step (amsgrad off) on flat `theta`; `grad` is overwritten."""
    beta1, beta2 = BETAS
    state.step += 1
    state.lr = lr
    if weight_decay:
        grad.add_(theta, alpha=weight_decay)
    state.exp_avg.lerp_(grad, 1 - beta1)
    state.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    denom = (state.exp_avg_sq.sqrt() / math.sqrt(1 - beta2 ** state.step)).add_(EPS)
    theta.addcdiv_(state.exp_avg, denom, value=-lr / (1 - beta1 ** state.step))


def backward(net: FlatNet, x: Tensor, y: Tensor, keeps: Sequence[Tensor | None]) -> None:
    """Gradient of the mean cross-entropy of the dropout network into ``net.grad``.

    `keeps`: one 0/1 mask [n, H] per hidden layer (float: a float product is three times faster
    than a bool one), or Nones for no dropout; kept units are scaled by 1 / (1 - p) (inverted
    dropout, as ``MLP.forward`` does). The scale rides on the next product's `alpha`.
    """
    *hidden, (w_last, b_last) = _layers(net.params)
    scale = 1.0 / (1.0 - net.dropout_p) if keeps[0] is not None else 1.0
    inputs = [x]  # each layer's input: x, then relu(z) * keep of each hidden layer (unscaled)
    alpha = 1.0  # the input's dropout scale: none on x
    for (w, b), keep in zip(hidden, keeps):
        a = torch.addmm(b, inputs[-1], w.t(), alpha=alpha).clamp_(min=0)
        if keep is not None:
            a.mul_(keep)
        inputs.append(a)
        alpha = scale
    g = torch.softmax(torch.addmm(b_last, inputs[-1], w_last.t(), alpha=alpha), dim=1)  # d loss / d logits
    g[torch.arange(len(y), device=y.device), y] -= 1.0
    g.div_(len(y))
    layers, grads = _layers(net.params), _layers(net.grads)
    for i in reversed(range(len(layers))):
        (w, _), (g_w, g_b) = layers[i], grads[i]
        torch.mm(g.t(), inputs[i], out=g_w)
        if i:  # the input was a hidden layer's output, scaled by its dropout in the product
            g_w.mul_(scale)
        torch.sum(g, dim=0, out=g_b)
        if i:
            g = _where_positive(torch.mm(g, w).mul_(scale), inputs[i])  # zero where relu or dropout cut


def _where_positive(grad: Tensor, activation: Tensor) -> Tensor:
    """`grad` where `activation` > 0, else 0: ReLU's backward (one fused pass, 20x a masked_fill_)."""
    return torch.ops.aten.threshold_backward(grad, activation, 0)
