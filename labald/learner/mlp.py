"""The learner's network: features -> hidden -> hidden -> K logits with MC-dropout-ready layers."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    """Two ReLU hidden layers, dropout after each (none on the input), as in the paper's appendix F.

    The layers are named so the MC-dropout paths can run them piecewise: ``fc1`` (input ->
    hidden, computed once for all MC samples), ``fc2`` (hidden -> hidden), ``fc3`` (-> logits).
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
    def n_features(self) -> int:
        return self.fc1.in_features

    @property
    def n_classes(self) -> int:
        return self.fc3.out_features

    @property
    def hidden(self) -> int:
        return self.fc1.out_features

    def forward(self, x_N_D: Tensor) -> Tensor:
        """Logits [N, K]; dropout is active only in ``train()`` mode (global torch RNG)."""
        h = self.drop(torch.relu(self.fc1(x_N_D)))
        h = self.drop(torch.relu(self.fc2(h)))
        return self.fc3(h)
