"""MC-dropout inference: T sampled networks theta_t applied to every image (Gal & Ghahramani 2016).

Sample t keeps a Bernoulli(1 - p) mask on each hidden layer, shared by all images: it is one
network drawn from the dropout posterior, as the BALD scores assume (appendix C). The first layer
has no dropout before it, so it runs once for all samples; each sample's masks are then folded into
the next layer's weights (inverted dropout, scale 1 / (1 - p)), so the second layers of the T
networks are one wide matmul (their weights side by side, bias included) and the third a batched
one, with no per-activation mask at all; each network computes only the second-layer units its
second mask keeps (~0.8 of the dense product at p = 0.3). Masks are [T, 2, H] draws, cheap.
"""

from __future__ import annotations

import torch
from torch import Tensor

from labald.learner.mlp import MLP

# Images per block: the [chunk, T * U] second-layer activations (~10 MB at 256) stay in cache for the
# ReLU and the third layer; measured at paper scale (N = 20,800, 2 threads), 128 took 0.42 s, 256
# 0.40 s, 512 0.59 s. Results do not depend on it beyond BLAS rounding (each image's outputs are
# computed alike in any block).
DEFAULT_CHUNK = 256


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
                       temperature: float = 1.0, *, chunk: int = DEFAULT_CHUNK, out: Tensor | None = None,
                       rows: Tensor | None = None) -> Tensor:
    """Probabilities [T, N, K] of T sampled networks; fc1 runs once, images in blocks of `chunk`.

    With `out` ([T, N', K]) and `rows` (N indices into its images), image n's probabilities go to
    out[:, rows[n]] and `out` is returned: cross-fitted folds fill one tensor without a copy each.
    Work memory is about T * chunk * (H + K) floats (~15 MB at T = 100, chunk = 256, H = 128).
    """
    return _mc_dropout(model, x, n_samples, generator, temperature, chunk, softmax=True, out=out, rows=rows)


@torch.no_grad()
def mc_dropout_logits(model: MLP, x: Tensor, n_samples: int, generator: torch.Generator, *,
                      chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Logits [T, N, K] of the same T sampled networks `mc_dropout_predict` draws from `generator`
    (what temperature scaling of the MC mean is fitted on)."""
    return _mc_dropout(model, x, n_samples, generator, 1.0, chunk, softmax=False)


def _mc_dropout(model: MLP, x: Tensor, n_samples: int, generator: torch.Generator, temperature: float,
                chunk: int, softmax: bool, out: Tensor | None = None, rows: Tensor | None = None) -> Tensor:
    _check_inputs(model, x, n_samples, temperature)
    if (out is None) != (rows is None):
        raise ValueError("out and rows go together")
    w = model.fc1.weight
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
    # fc2 of all T networks side by side, [H + 1, T * U]: column (t, u) is fc2's weights into unit u with
    # the input rows scaled by mask 1 of network t, and the last row the bias, which a column of ones
    # after fc1's output picks up; so the second layer is one wide product, bias included
    w2_T_H_U = (keep[:, 0, :, None] * scale) * model.fc2.weight.T[:, units].transpose(0, 1)
    w2_H1_TU = torch.cat([w2_T_H_U.transpose(0, 1).reshape(hidden, -1), model.fc2.bias[units].reshape(1, -1)])
    w3_T_U_K = (torch.gather(kept2, 1, units)[..., None] * (scale / temperature)) * model.fc3.weight.T[units]
    b3 = model.fc3.bias / temperature
    n, k = x.shape[0], model.n_classes
    if out is None:
        out_T_N_K = torch.empty(n_samples, n, k, dtype=w.dtype, device=w.device)
    elif out.ndim != 3 or out.shape[0] != n_samples or out.shape[2] != k or rows.shape != (n,):
        raise ValueError(f"out must be [{n_samples}, N', {k}] and rows [{n}], got {tuple(out.shape)} "
                         f"and {tuple(rows.shape)}")
    else:
        out_T_N_K = out
    h1_ones = torch.ones(min(n, max(1, chunk)), hidden + 1, dtype=w.dtype, device=w.device)
    for start in range(0, n, max(1, chunk)):
        xb = x[start:start + chunk].to(dtype=w.dtype, device=w.device)
        b = xb.shape[0]
        h1 = h1_ones[:b]
        torch.relu_(torch.addmm(model.fc1.bias, xb, w.T, out=h1[:, :hidden]))  # once for all T; last column 1
        h2 = torch.mm(h1, w2_H1_TU).clamp_(min=0)  # [b, T * U]
        h2_T_b_U = h2.view(b, n_samples, width).transpose(0, 1)  # a view: network t's kept units
        logits = torch.baddbmm(b3, h2_T_b_U, w3_T_U_K)  # [T, b, K]
        # softmax over a 2-D view: torch's kernel for a short last axis is ~2.5x faster there than in 3-D
        result = torch.softmax(logits.view(-1, k), dim=-1).view(n_samples, b, k) if softmax else logits
        if rows is None:
            out_T_N_K[:, start:start + b] = result
        else:
            out_T_N_K.index_copy_(1, rows[start:start + b], result)
    return out_T_N_K


@torch.no_grad()
def mc_dropout_predict_naive(model: MLP, x: Tensor, n_samples: int, generator: torch.Generator,
                             temperature: float = 1.0, *, chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Reference: the whole network T times, masks applied to the activations, same masks."""
    _check_inputs(model, x, n_samples, temperature)
    w = model.fc1.weight
    p = model.dropout_p
    keep = sample_masks(n_samples, model.hidden, p, generator, w.device).to(w.dtype) / (1.0 - p)
    x = x.to(dtype=w.dtype, device=w.device)
    per_sample = []
    for t in range(n_samples):
        a1 = torch.relu(model.fc1(x)) * keep[t, 0]
        a2 = torch.relu(model.fc2(a1)) * keep[t, 1]
        per_sample.append(torch.softmax(model.fc3(a2) / temperature, dim=-1))
    return torch.stack(per_sample)
