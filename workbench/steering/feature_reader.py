"""A clamp's feature activations, read with as little work as each SAE architecture allows.

A clamp needs a_i(x) for its few features at the positions it edits, at every decoding step. `sae.encode` computes
all d_sae features, and sae-lens' TopK encode also recomputes the decoder's row norms on every call (reading all
of W_dec again): for the demo SAEs (4,608 features) that is two 10.6 MB matrices per clamped layer per token, next
to the 540 MB the whole model reads. `FeatureReader` gives the same numbers as `sae.encode(x)[..., features]`:

- ReLU (standard) and JumpReLU SAEs: a feature depends on its own encoder column only, so only the clamped
  features' columns are multiplied (up to float rounding, the same values as the full product).
- TopK SAEs: whether a feature is in the top k depends on all of them, so the full pre-activations are computed,
  but the decoder norms are computed once, and only the clamped features are read out of the top-k (the same
  selection and values as sae-lens, bit for bit).
- Anything else (input normalisation, hook_z reshaping, hooks on the SAE, other architectures) calls
  `sae.encode` as before; `to_model_space` then maps the delta back with the scale that encode stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from workbench.saes.directions import to_model_space

if TYPE_CHECKING:
    import torch

FAST_ARCHITECTURES = {"StandardSAE": "standard", "JumpReLUSAE": "jumprelu", "TopKSAE": "topk"}


class FeatureReader:
    """Callable: x (…, d_in) in the SAE's space → activations (…, len(features)) of `features`."""

    def __init__(self, sae: Any, features: Sequence[int]) -> None:
        import torch

        self.sae = sae
        self.features = [int(f) for f in features]
        self.kind = _fast_kind(sae)
        self.device, self.dtype = sae.W_dec.device, sae.W_dec.dtype
        with torch.no_grad():
            index = torch.tensor(self.features, dtype=torch.long, device=self.device)
            self._index = index
            self._b_dec = sae.b_dec.detach() if bool(getattr(sae.cfg, "apply_b_dec_to_input", False)) else None
            if self.kind == "topk":
                self._w_enc, self._b_enc = sae.W_enc.detach(), sae.b_enc.detach()
                rescale = bool(getattr(sae.cfg, "rescale_acts_by_decoder_norm", False))
                self._norms = sae.W_dec.detach().norm(dim=-1) if rescale else None
                self._k = int(sae.cfg.k)
            elif self.kind in ("standard", "jumprelu"):
                self._w_enc = sae.W_enc.detach().index_select(1, index).contiguous()
                self._b_enc = sae.b_enc.detach().index_select(0, index)
                self._threshold = sae.threshold.detach().index_select(0, index) if self.kind == "jumprelu" else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        if self.kind is None:
            return self.sae.encode(x)[..., self.features]
        sae_in = x.to(self.dtype)
        if self._b_dec is not None:
            sae_in = sae_in - self._b_dec
        pre = sae_in @ self._w_enc + self._b_enc
        if self.kind == "standard":
            return pre.relu()
        if self.kind == "jumprelu":
            return pre.relu() * (pre > self._threshold).to(pre.dtype)
        if self._norms is not None:
            pre = pre * self._norms
        _, top = torch.topk(pre, k=self._k, dim=-1, sorted=False)
        chosen = (top.unsqueeze(-1) == self._index).any(dim=-2)  # (…, len(features)): in the top k?
        return torch.where(chosen, pre.index_select(-1, self._index).relu(), torch.zeros((), dtype=pre.dtype))

    def to_model_space(self, delta: torch.Tensor) -> torch.Tensor:
        """An SAE-space delta → model space, right after a call on the same tokens (no-op for the fast kinds)."""
        return delta if self.kind is not None else to_model_space(self.sae, delta)


def _fast_kind(sae: Any) -> str | None:
    import torch

    kind = FAST_ARCHITECTURES.get(type(sae).__name__)
    cfg = sae.cfg
    if (
        kind is None
        or getattr(cfg, "normalize_activations", "none") != "none"
        or getattr(cfg, "reshape_activations", "none") != "none"
        or any(m._forward_hooks or m._forward_pre_hooks for m in sae.modules())
    ):
        return None
    activation = getattr(sae, "activation_fn", None)
    if kind == "topk":
        return kind if not getattr(activation, "use_sparse_activations", True) and hasattr(cfg, "k") else None
    return kind if isinstance(activation, torch.nn.ReLU) else None
