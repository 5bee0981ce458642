"""SAE feature activations per token: the data behind the feature list and the heatmaps.

One forward pass captures every requested layer; each SAE then encodes its layer's residual. Results are
numpy arrays in frozen dataclasses, safe to send to the GUI thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from workbench.cancel import CancelToken, check
from workbench.errors import InputError
from workbench.models.protocol import ModelBackend
from workbench.saes.loader import LoadedSae


@dataclass(frozen=True)
class FeatureActivations:
    """Activations of one SAE over one text."""

    sae_key: str
    layer: int
    token_ids: tuple[int, ...]
    tokens: tuple[str, ...]
    top_ids: np.ndarray  # (seq, k) feature ids, strongest first
    top_values: np.ndarray  # (seq, k) their activations
    features: tuple[int, ...]  # the chosen features of `dense`
    dense: np.ndarray  # (seq, len(features)) activations of the chosen features
    resid_norm: np.ndarray  # (seq,) ‖x‖ of the residual at this layer

    def top_features(self, position: int) -> list[tuple[int, float]]:
        """(feature, activation) pairs that fire at `position`, strongest first."""
        return [
            (int(f), float(v)) for f, v in zip(self.top_ids[position], self.top_values[position], strict=True) if v > 0
        ]

    def to_dict(self) -> dict[str, object]:
        return {
            "layer": self.layer,
            "tokens": [
                {
                    "token": tok,
                    "features": [{"feature": f, "activation": round(a, 6)} for f, a in self.top_features(i)],
                }
                for i, tok in enumerate(self.tokens)
            ],
        }


def capture_activations(
    backend: ModelBackend,
    saes: Sequence[LoadedSae],
    token_ids: Sequence[int],
    top_k: int = 8,
    features: Mapping[str, Sequence[int]] | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, FeatureActivations]:
    """Per SAE (by key): per-token top-k features and a dense tokens × chosen-features slice."""
    if not token_ids:
        raise InputError("no text to analyse")
    if top_k < 1:
        raise InputError("top-k must be ≥ 1")
    backend.capabilities.require_capture("show feature activations")
    check(cancel)
    residuals = backend.residuals(token_ids, sorted({s.layer for s in saes}), cancel=cancel)
    tokens = tuple(backend.token_strings(token_ids))
    return encode_activations(saes, residuals, token_ids, tokens, top_k, features, cancel)


def encode_activations(
    saes: Sequence[LoadedSae],
    residuals: Mapping[int, np.ndarray],
    token_ids: Sequence[int],
    tokens: tuple[str, ...],
    top_k: int = 8,
    features: Mapping[str, Sequence[int]] | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, FeatureActivations]:
    """`capture_activations` on residuals already captured (one forward can serve several views of a text)."""
    import torch

    features = features or {}
    out: dict[str, FeatureActivations] = {}
    for s in saes:
        check(cancel)  # between SAEs: a superseded job stops before the next encode
        chosen = tuple(int(f) for f in features.get(s.key, ()))
        bad = [f for f in chosen if not 0 <= f < s.d_sae]
        if bad:
            raise InputError(f"feature {bad[0]} does not exist: the SAE at layer {s.layer} has 0–{s.d_sae - 1}")
        resid = residuals[s.layer]
        with torch.no_grad():
            x = torch.from_numpy(resid).to(s.sae.W_dec.device, s.sae.W_dec.dtype)
            acts = s.sae.encode(x).float()
            values, ids = acts.topk(min(top_k, s.d_sae), dim=-1)
            dense = acts[:, list(chosen)] if chosen else acts.new_zeros(acts.shape[0], 0)
        out[s.key] = FeatureActivations(
            sae_key=s.key,
            layer=s.layer,
            token_ids=tuple(int(i) for i in token_ids),
            tokens=tokens,
            top_ids=ids.cpu().numpy(),
            top_values=values.cpu().numpy(),
            features=chosen,
            dense=dense.cpu().numpy(),
            resid_norm=np.linalg.norm(resid, axis=-1),
        )
    return out
