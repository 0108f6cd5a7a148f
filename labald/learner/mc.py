"""MC-dropout inference: T sampled networks theta_t applied to every image (Gal & Ghahramani 2016).

Sample t keeps a Bernoulli(1 - p) mask on each hidden layer, shared by all images: it is one
network drawn from the dropout posterior, as the BALD scores assume (appendix C). The first layer
has no dropout before it, so it runs once for all samples; each sample's masks are then folded into
the next layer's weights (inverted dropout, scale 1 / (1 - p)), so the second layers of a group of
networks are one wide matmul (their weights side by side, biases included) and the third a batched
one, with no per-activation mask at all; each network computes only the second-layer units its
second mask keeps (~0.8 of the dense product at p = 0.3). Masks are [T, 2, H] draws, cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from labald.learner.mlp import MLP
from labald.numerics import softmax_rows

# Images per block and sampled networks per group: the [chunk, group * (U + 1)] second-layer
# activations (~11 MB at 1024 x 25) stay in cache for the ReLU and the third layer, and 1024 rows keep
# the wide product near the machine's matmul rate (256 rows reached ~360 GFLOP/s of ~430 here).
# Measured at paper scale (N = 20,800, 2 threads), one pass: 256 x 100 1.64x its floor, 1024 x 25
# 1.47x, 512 x 50 1.51x, 1024 x 10 1.60x. Results do not depend on either beyond BLAS rounding: each
# output is one dot product over the same H + 1 (then U + 1) terms whatever the blocking (at paper
# scale the outputs were bit-identical to 256 x 100's; for tiny matrices the BLAS may pick another kernel).
DEFAULT_CHUNK = 1024
DEFAULT_GROUP = 25


@dataclass(frozen=True)
class PoolPredictions:
    """The pool's MC-dropout probabilities: pool image n's [T, K] are column `slot_N[n]` of
    `probs_T_S_K` (None: column n).

    Cross-fitted folds store their images side by side, fold after fold, so each fold's model writes
    one contiguous block: writing T * N rows of K floats at scattered places took ~45 ms more per
    pass at paper scale than writing them in order. Readers never see the order: `take` gathers
    given images (as indexing a [T, N, K] tensor would, the same values), `mean` is the per-image
    mean in pool order (EM's prior) and `dense` the whole [T, N, K].
    """

    probs_T_S_K: Tensor
    slot_N: Tensor | None = None

    def take(self, images: np.ndarray | Tensor) -> Tensor:
        """[T, R, K] for the given pool images, a new tensor (a gather, never a view)."""
        index = torch.as_tensor(images, dtype=torch.int64, device=self.probs_T_S_K.device)
        # index_select, not indexing: 3 ms instead of 12 for 4,000 of 20,800 images at T = 100
        return self.probs_T_S_K.index_select(1, index if self.slot_N is None else self.slot_N[index])

    def mean(self) -> Tensor:
        """Mean over the T samples, [N, K] in pool order."""
        mean_S_K = self.probs_T_S_K.mean(dim=0)
        return mean_S_K if self.slot_N is None else mean_S_K.index_select(0, self.slot_N)

    def dense(self) -> Tensor:
        """[T, N, K] in pool order."""
        return self.probs_T_S_K if self.slot_N is None else self.probs_T_S_K.index_select(1, self.slot_N)


def sample_masks(n_samples: int, hidden: int, p: float, generator: torch.Generator, device=None) -> Tensor:
    """Keep-masks [T, 2, H] (True = unit kept) for the two hidden layers, one row per sampled network,
    drawn on `generator`'s device (the CPU's: the same networks on any device) and moved to `device`."""
    return (torch.rand(n_samples, 2, hidden, generator=generator, device=generator.device) >= p).to(device)


def _check_inputs(model: MLP, x: Tensor, n_samples: int, temperature: float) -> None:
    if x.ndim != 2 or x.shape[1] != model.n_features:
        raise ValueError(f"x must be [N, {model.n_features}], got {tuple(x.shape)}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


@torch.no_grad()
def mc_dropout_predict(model: MLP, x: Tensor, n_samples: int, generator: torch.Generator,
                       temperature: float = 1.0, *, chunk: int = DEFAULT_CHUNK, group: int = DEFAULT_GROUP,
                       out: Tensor | None = None) -> Tensor:
    """Probabilities [T, N, K] of T sampled networks; fc1 runs once per block of `chunk` images, the
    other layers for `group` networks at a time.

    With `out` (a [T, N, K] tensor or view, e.g. a slice of a larger one), the probabilities are
    written there and `out` is returned: cross-fitted folds fill one tensor without a copy each.
    Work memory is about chunk * (group * (U + 1) + H) floats (~11 MB at 1024 x 25, H = 128).
    """
    return _mc_dropout(model, x, n_samples, generator, temperature, chunk, group, softmax=True, out=out)


@torch.no_grad()
def mc_dropout_logits(model: MLP, x: Tensor, n_samples: int, generator: torch.Generator, *,
                      chunk: int = DEFAULT_CHUNK, group: int = DEFAULT_GROUP) -> Tensor:
    """Logits [T, N, K] of the same T sampled networks `mc_dropout_predict` draws from `generator`
    (what temperature scaling of the MC mean is fitted on)."""
    return _mc_dropout(model, x, n_samples, generator, 1.0, chunk, group, softmax=False)


def _mc_dropout(model: MLP, x: Tensor, n_samples: int, generator: torch.Generator, temperature: float,
                chunk: int, group: int, softmax: bool, out: Tensor | None = None) -> Tensor:
    _check_inputs(model, x, n_samples, temperature)
    fc1, fc2, fc3 = model.linears  # MLP's two hidden layers, each followed by ReLU and dropout
    w = fc1.weight
    p, hidden = model.dropout_p, model.hidden
    keep = sample_masks(n_samples, hidden, p, generator, w.device)
    scale = 1.0 / (1.0 - p)
    # Units of layer 2 that mask 2 drops feed nothing: each network computes only its kept ones, listed
    # first in `units` [T, U] (U = the most any network keeps, ~0.8 H at p = 0.3; shorter lists are
    # padded with dropped units whose fc3 rows are zero, so they add exact zeros).
    kept2 = keep[:, 1]
    order = torch.argsort((~kept2).to(torch.uint8), dim=1, stable=True)  # kept units first, in index order
    width = max(1, int(kept2.sum(1).max()))
    units = order[:, :width]
    # fc2 of all T networks side by side, [H + 1, T * (U + 1)]: column (t, u) is fc2's weights into unit
    # u with the input rows scaled by mask 1 of network t, and the last row the bias, which a column of
    # ones after fc1's output picks up; so the second layer is one wide product, bias included. Each
    # network has one more unit, U + 1, whose weights are 0 and bias 1: its ReLU output is 1, and its
    # fc3 row is fc3's bias, so the third layer needs no separate bias either (the bias is the last
    # term of each dot product, which is where an added bias goes: same values as adding it).
    w2_T_H_U = (keep[:, 0, :, None] * scale) * fc2.weight.T[:, units].transpose(0, 1)
    w2_T_H1_U = torch.cat([w2_T_H_U, fc2.bias[units][:, None]], dim=1)
    bias_unit = torch.zeros(n_samples, hidden + 1, 1, dtype=w.dtype, device=w.device)
    bias_unit[:, hidden] = 1.0
    w2_H1_TU = torch.cat([w2_T_H1_U, bias_unit], dim=2).transpose(0, 1).reshape(hidden + 1, -1)
    w3_T_U_K = (torch.gather(kept2, 1, units)[..., None] * (scale / temperature)) * fc3.weight.T[units]
    b3 = (fc3.bias / temperature).expand(n_samples, 1, -1)
    w3_T_U1_K = torch.cat([w3_T_U_K, b3], dim=1)
    n, k, width1 = x.shape[0], model.n_classes, width + 1
    if out is None:
        out = torch.empty(n_samples, n, k, dtype=w.dtype, device=w.device)
    elif tuple(out.shape) != (n_samples, n, k):
        raise ValueError(f"out must be [{n_samples}, {n}, {k}], got {tuple(out.shape)}")
    chunk, group = max(1, min(chunk, n)), max(1, min(group, n_samples))
    h1_ones = torch.ones(chunk, hidden + 1, dtype=w.dtype, device=w.device)
    h2_buffer = torch.empty(chunk * group * width1, dtype=w.dtype, device=w.device)
    for start in range(0, n, chunk):
        xb = x[start:start + chunk].to(dtype=w.dtype, device=w.device)
        b = xb.shape[0]
        h1 = h1_ones[:b]
        torch.relu_(torch.addmm(fc1.bias, xb, w.T, out=h1[:, :hidden]))  # once for all T; last column 1
        for t0 in range(0, n_samples, group):
            g = min(group, n_samples - t0)
            h2 = h2_buffer[:b * g * width1].view(b, g * width1)
            torch.mm(h1, w2_H1_TU[:, t0 * width1:(t0 + g) * width1], out=h2).clamp_(min=0)
            h2_g_b_U1 = h2.view(b, g, width1).transpose(0, 1)  # a view: network t's kept units and its 1
            logits = torch.bmm(h2_g_b_U1, w3_T_U1_K[t0:t0 + g])  # [g, b, K]
            out[t0:t0 + g, start:start + b] = softmax_rows(logits.view(-1, k)).view(g, b, k) if softmax else logits
    return out


@torch.no_grad()
def mc_dropout_predict_naive(model: MLP, x: Tensor, n_samples: int, generator: torch.Generator,
                             temperature: float = 1.0, *, chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Reference: the module's own forward T times with the same masks on its hidden layers."""
    _check_inputs(model, x, n_samples, temperature)
    w = model.linears[0].weight
    keep = sample_masks(n_samples, model.hidden, model.dropout_p, generator, w.device)
    x = x.to(dtype=w.dtype, device=w.device)
    return torch.stack([torch.softmax(model(x, keeps=keep[t]) / temperature, dim=-1) for t in range(n_samples)])
