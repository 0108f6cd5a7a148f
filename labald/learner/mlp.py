"""The learner's network: features -> hidden -> hidden -> K logits with MC-dropout-ready layers."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    """Two ReLU hidden layers, dropout after each (none on the input), as in the paper's appendix F.

    The one definition of the network. The fused paths derive from it: the training update
    (`labald.learner.update.FlatNet`) flattens `linears` in order and runs their forward and backward
    with the dropout rule of `forward`; the MC-dropout inference (`labald.learner.mc`) folds each
    sampled network's masks into the weights of `linears`. `tests/test_learner.py` checks both against
    autograd on `forward` for every option that changes the network (hidden width, dropout rate).
    """

    def __init__(self, n_features: int, n_classes: int, hidden: int = 128, dropout: float = 0.3):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.dropout_p = float(dropout)
        self.fc1 = nn.Linear(n_features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, n_classes)
        self.drop = nn.Dropout(dropout)

    @property
    def linears(self) -> tuple[nn.Linear, ...]:
        """The layers in order, input -> hidden -> hidden -> logits; a ReLU and dropout follow every
        one but the last. Their parameters, weight then bias, are `parameters()` in order."""
        return (self.fc1, self.fc2, self.fc3)

    @property
    def n_features(self) -> int:
        return self.fc1.in_features

    @property
    def n_classes(self) -> int:
        return self.fc3.out_features

    @property
    def hidden(self) -> int:
        return self.fc1.out_features

    def forward(self, x_N_D: Tensor, keeps: Sequence[Tensor] | None = None) -> Tensor:
        """Logits [N, K]. Dropout: with `keeps`, one 0/1 keep-mask per hidden layer (broadcastable to
        its [N, H] output), kept units scaled by 1 / (1 - p) (inverted dropout, as ``nn.Dropout``);
        without, ``nn.Dropout``'s own draws, active only in ``train()`` mode (global torch RNG)."""
        *hidden, last = self.linears
        h = x_N_D
        for i, layer in enumerate(hidden):
            h = torch.relu(layer(h))
            h = self.drop(h) if keeps is None else h * (keeps[i].to(h.dtype) / (1.0 - self.dropout_p))
        return last(h)
