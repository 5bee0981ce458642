"""Decoder directions and the SAE-space → model-space map, for any sae-lens architecture.

Architectures differ in how activations meet W_dec (TopK can rescale by decoder norms), so the direction of
feature i is measured as decode(e_i) − decode(0) with the output normalisation bypassed. SAEs with a
per-token input normalisation (constant_norm_rescale, layer_norm) map an SAE-space delta back to model space
with the scale sae-lens stored during the last `encode`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def sae_directions(sae: Any, features: Sequence[int]) -> torch.Tensor:
    """Rows (len(features), d_in): the SAE-space output direction of each feature, in the SAE's dtype."""
    import torch

    with torch.no_grad():
        basis = torch.zeros(len(features), sae.cfg.d_sae, dtype=sae.W_dec.dtype, device=sae.W_dec.device)
        basis[torch.arange(len(features)), torch.tensor(list(features), dtype=torch.long)] = 1.0
        zero = torch.zeros(1, sae.cfg.d_sae, dtype=sae.W_dec.dtype, device=sae.W_dec.device)
        saved = sae.run_time_activation_norm_fn_out
        sae.run_time_activation_norm_fn_out = _identity
        try:
            return sae.decode(basis) - sae.decode(zero)
        finally:
            sae.run_time_activation_norm_fn_out = saved


def to_model_space(sae: Any, delta: torch.Tensor) -> torch.Tensor:
    """Map an SAE-space delta (…, d_in) to model space, right after `sae.encode` of the same tokens.

    decode ends with an affine per-token map (norm_out); the difference of two outputs is its linear part.
    """
    mode = getattr(sae.cfg, "normalize_activations", "none")
    if mode == "constant_norm_rescale" and hasattr(sae, "x_norm_coeff"):
        coeff = sae.x_norm_coeff
        del sae.x_norm_coeff  # sae-lens deletes it in norm_out too; keep the SAE's state as it expects
        return delta / coeff
    if mode == "layer_norm" and hasattr(sae, "ln_std"):
        std = sae.ln_std
        del sae.ln_std, sae.ln_mu
        return delta * std
    return delta


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x
