"""Heatmap data: tokens × the features that fire most on a text, and layers × tokens residual norms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workbench.analysis.inspect import feature_label
from workbench.cancel import CancelToken, check
from workbench.errors import InputError
from workbench.saes.activations import encode_activations

if TYPE_CHECKING:
    from workbench.engine import Engine


DENSE = 0.3  # features firing on more than this fraction of tokens are left out of the ranking


@dataclass(frozen=True)
class HeatmapData:
    pane: str
    sae_key: str
    layer: int
    tokens: tuple[str, ...]
    prompt_len: int
    features: tuple[int, ...]
    labels: tuple[str, ...]
    matrix: np.ndarray  # (features, tokens)
    norm_layers: tuple[int, ...]
    norms: np.ndarray  # (layers, tokens)


def build_heatmap(
    engine: Engine,
    pane: str,
    token_ids: list[int],
    prompt_len: int,
    sae_key: str,
    n_features: int = 16,
    cancel: CancelToken | None = None,
) -> HeatmapData:
    """Pick the features that fire most on this text and return their tokens × features activations."""
    if not token_ids:
        raise InputError("no text to analyse")
    sae = engine.sae(sae_key)
    backend = engine.backend
    backend.capabilities.require_capture("draw a heatmap")
    # One forward serves every view of the text: the SAE's features and the residual norm of each SAE layer.
    layers = sorted({s.layer for s in engine.saes})
    check(cancel)
    residuals = backend.residuals(token_ids, layers, cancel=cancel)
    tokens = tuple(backend.token_strings(token_ids))
    acts = encode_activations([sae], residuals, token_ids, tokens, top_k=8, cancel=cancel)[sae_key]
    stats = sae.stats
    # Rank by peak activation on this text, skipping position 0 (an outlier that lights up features
    # everywhere). With statistics, rank by the peak relative to the feature's usual activation instead, and
    # leave out features that fire on most tokens: they say little about this text.
    best: dict[int, float] = {}
    for f, v in zip(acts.top_ids[1:].ravel().tolist(), acts.top_values[1:].ravel().tolist(), strict=True):
        if stats is not None:
            if stats.density[f] > DENSE or stats.mean_activation[f] <= 0:
                continue
            v = v / float(stats.mean_activation[f])
        if v > best.get(f, 0.0):
            best[f] = v
    features = sorted(best, key=lambda f: -best[f])[:n_features]
    dense = encode_activations([sae], residuals, token_ids, tokens, 1, {sae_key: features}, cancel)[sae_key]
    norms = np.stack([np.linalg.norm(residuals[layer], axis=-1) for layer in layers]) if layers else np.zeros((0, 0))
    return HeatmapData(
        pane=pane,
        sae_key=sae_key,
        layer=acts.layer,
        tokens=acts.tokens,
        prompt_len=prompt_len,
        features=tuple(features),
        labels=tuple(feature_label(sae, f) for f in features),
        matrix=dense.dense.T.copy(),
        norm_layers=tuple(layers),
        norms=norms,
    )
