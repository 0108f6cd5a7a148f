"""MC-dropout inference: T stochastic forward passes of the MLP, sharing its first layer.

Masks are Bernoulli keep-masks on the two hidden layers (inverted dropout, scaled by
1 / (1 - p)). They are drawn as random bytes: a unit is dropped iff its byte < round(256 p), so
the dropout rate is p quantised to 1/256 (0.3 -> 77/256 = 0.3008) and the scale uses that rate.
Bytes are drawn image by image ([N, T, 2, H] in row-major order), so the masks of image i do
not depend on the chunk size, nor on which other images are predicted after it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from labald.learner.mlp import MLP

MASK_LEVELS = 256
DEFAULT_CHUNK = 256


def quantised_dropout(p: float) -> tuple[int, float]:
    """(byte threshold, effective dropout rate) used by the MC paths for nominal rate ``p``."""
    threshold = int(round(p * MASK_LEVELS))
    if threshold >= MASK_LEVELS:
        raise ValueError(f"dropout rate {p} leaves no unit active")
    return threshold, threshold / MASK_LEVELS


def _draw_mask_bytes(n_rows: int, n_samples: int, hidden: int, generator: torch.Generator,
                     device: torch.device) -> Tensor:
    """Random bytes [n, T, 2, H] for both hidden layers; 8 bytes per 64-bit draw, image-major."""
    per_row = n_samples * 2 * hidden
    words = -(-per_row // 8)
    bits = torch.randint(-(2**63), 2**63 - 1, (n_rows, words), dtype=torch.int64,
                         generator=generator, device=device)
    return bits.view(torch.uint8)[:, :per_row].view(n_rows, n_samples, 2, hidden)


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
    """Probabilities [T, N, K] of T dropout samples; fc1 runs once, images in chunks of ``chunk``.

    Work buffers are allocated once and reused (fresh large allocations cost page faults):
    about chunk * T * 11 H bytes, ~36 MB at 256 x 100 x 128, besides the [T, N, K] output.
    """
    _check_inputs(model, x, n_samples, temperature)
    w = model.fc1.weight
    threshold, p_eff = quantised_dropout(model.dropout_p)
    scale = 1.0 / (1.0 - p_eff)
    n, t, k, h = x.shape[0], n_samples, model.n_classes, model.hidden
    out_T_N_K = torch.empty(t, n, k, dtype=w.dtype, device=w.device)
    rows = max(1, min(chunk, n))
    keep = torch.empty(rows, t, h, dtype=torch.bool, device=w.device)
    act = torch.empty(rows, t, h, dtype=w.dtype, device=w.device)
    hid = torch.empty(rows * t, h, dtype=w.dtype, device=w.device)
    logits = torch.empty(rows * t, k, dtype=w.dtype, device=w.device)
    w2_t = model.fc2.weight.T
    w3_t = model.fc3.weight.T * scale  # fold the layer-2 dropout scale into fc3
    for start in range(0, n, rows):
        xc = x[start:start + rows].to(dtype=w.dtype, device=w.device)
        m = xc.shape[0]
        keep_m, act_m, hid_m, logits_m = keep[:m], act[:m], hid[:m * t], logits[:m * t]
        h1 = torch.relu(model.fc1(xc)) * scale  # [m, H], once for all T samples
        mask_bytes = _draw_mask_bytes(m, t, h, generator, w.device)  # [m, T, 2, H]
        torch.ge(mask_bytes[:, :, 0, :], threshold, out=keep_m)
        torch.mul(h1[:, None, :], keep_m, out=act_m)  # layer-1 dropout, [m, T, H]
        torch.addmm(model.fc2.bias, act_m.view(m * t, h), w2_t, out=hid_m).relu_()
        torch.ge(mask_bytes[:, :, 1, :], threshold, out=keep_m)
        torch.mul(hid_m.view(m, t, h), keep_m, out=act_m)  # layer-2 dropout
        torch.addmm(model.fc3.bias, act_m.view(m * t, h), w3_t, out=logits_m)
        if temperature != 1.0:
            logits_m.div_(temperature)
        probs = torch.softmax(logits_m.view(m, t, k), dim=-1)
        out_T_N_K[:, start:start + m, :] = probs.transpose(0, 1)
    return out_T_N_K


@torch.no_grad()
def mc_dropout_predict_naive(model: MLP, x: Tensor, n_samples: int, generator: torch.Generator,
                             temperature: float = 1.0, *, chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Reference: the whole network T times per chunk, with the same masks as the fast path."""
    _check_inputs(model, x, n_samples, temperature)
    w = model.fc1.weight
    threshold, p_eff = quantised_dropout(model.dropout_p)
    n, h = x.shape[0], model.hidden
    outs = []
    for start in range(0, n, chunk):
        xc = x[start:start + chunk].to(dtype=w.dtype, device=w.device)
        mask_bytes = _draw_mask_bytes(xc.shape[0], n_samples, h, generator, w.device)
        per_sample = []
        for s in range(n_samples):
            keep1 = (mask_bytes[:, s, 0, :] >= threshold).to(w.dtype)
            keep2 = (mask_bytes[:, s, 1, :] >= threshold).to(w.dtype)
            a1 = torch.relu(model.fc1(xc)) * keep1 / (1.0 - p_eff)
            a2 = torch.relu(model.fc2(a1)) * keep2 / (1.0 - p_eff)
            per_sample.append(torch.softmax(model.fc3(a2) / temperature, dim=-1))
        outs.append(torch.stack(per_sample))
    if not outs:
        return torch.empty(n_samples, 0, model.n_classes, dtype=w.dtype, device=w.device)
    return torch.cat(outs, dim=1)
