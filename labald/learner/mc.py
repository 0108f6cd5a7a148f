"""MC-dropout inference: T sampled networks theta_t applied to every image (Gal & Ghahramani 2016).

Sample t keeps a Bernoulli(1 - p) mask on each hidden layer, shared by all images: it is one
network drawn from the dropout posterior, as the BALD scores assume (appendix C). The first layer
has no dropout before it, so it runs once for all samples; each sample's masks are then folded into
the next layer's weights (inverted dropout, scale 1 / (1 - p)), so the second layers of the T
networks are one wide matmul (their weights side by side, [H, T * H]) and the third a batched one,
with no per-activation mask at all. Masks are [T, 2, H] draws, cheap.
"""

from __future__ import annotations

import torch
from torch import Tensor

from labald.learner.mlp import MLP

# Images per block: [T, chunk, H] activations of ~13 MB at 256 stay in cache between the two products;
# measured at paper scale (N = 20,800), 256 took 0.61 s, 512 0.66 s, 2048 0.86 s. Results do not
# depend on it (each image's outputs are computed alike in any block).
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
                       temperature: float = 1.0, *, chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Probabilities [T, N, K] of T sampled networks; fc1 runs once, images in blocks of `chunk`.

    Work memory is about T * chunk * (H + K) floats (~15 MB at T = 100, chunk = 256, H = 128).
    """
    return _mc_dropout(model, x, n_samples, generator, temperature, chunk, softmax=True)


@torch.no_grad()
def mc_dropout_logits(model: MLP, x: Tensor, n_samples: int, generator: torch.Generator, *,
                      chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Logits [T, N, K] of the same T sampled networks `mc_dropout_predict` draws from `generator`
    (what temperature scaling of the MC mean is fitted on)."""
    return _mc_dropout(model, x, n_samples, generator, 1.0, chunk, softmax=False)


def _mc_dropout(model: MLP, x: Tensor, n_samples: int, generator: torch.Generator, temperature: float,
                chunk: int, softmax: bool) -> Tensor:
    _check_inputs(model, x, n_samples, temperature)
    w = model.fc1.weight
    p, hidden = model.dropout_p, model.hidden
    keep = sample_masks(n_samples, hidden, p, generator, w.device).to(w.dtype) / (1.0 - p)
    # fc2 of all T networks side by side: [H, T * H], column block t = fc2's input rows scaled by mask 1
    # of network t, so the second layer is one wide product (an H x T*H matrix, not T small ones)
    w2_H_TH = (keep[:, 0, :, None] * model.fc2.weight.T).transpose(0, 1).reshape(hidden, n_samples * hidden)
    b2_TH = model.fc2.bias.repeat(n_samples)
    w3_T_H_K = keep[:, 1, :, None] * model.fc3.weight.T / temperature  # fc3's input by mask 2
    b3 = model.fc3.bias / temperature
    n = x.shape[0]
    out_T_N_K = torch.empty(n_samples, n, model.n_classes, dtype=w.dtype, device=w.device)
    for start in range(0, n, max(1, chunk)):
        h1 = torch.relu(model.fc1(x[start:start + chunk].to(dtype=w.dtype, device=w.device)))  # once for all T
        h2 = torch.addmm(b2_TH, h1, w2_H_TH).clamp_(min=0)  # [n, T * H]
        h2_T_n_H = h2.view(len(h1), n_samples, hidden).transpose(0, 1)  # a view: network t's activations
        logits = torch.baddbmm(b3, h2_T_n_H, w3_T_H_K)  # [T, n, K]
        out_T_N_K[:, start:start + h1.shape[0]] = torch.softmax(logits, dim=-1) if softmax else logits
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
