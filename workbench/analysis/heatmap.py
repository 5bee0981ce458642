"""Heatmap data: tokens × the features that fire most on a text, and layers × tokens residual norms.

The SAE encodes the text once, in chunks of positions, and everything after the encode stays in torch: the
per-position top-k, the ranking of features and the columns of the chosen ones. A 2,000-token text through a
32,768-feature SAE is one (tokens, features) float32 matrix; encoding it twice or walking its top-k in Python
cost more than the encode itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.analysis.inspect import feature_label
from workbench.cancel import CancelToken, check
from workbench.errors import InputError

if TYPE_CHECKING:
    from workbench.engine import Engine
    from workbench.saes.loader import LoadedSae
    from workbench.saes.stats import FeatureStatistics


DENSE = 0.3  # features firing on more than this fraction of tokens are left out of the ranking
TOP_K = 8  # the features of each position that take part in the ranking
# Positions per encode chunk: bounds sae-lens's temporaries (pre-activations, bias, activation function) to
# about CHUNK_VALUES floats whatever the SAE's width, and lets a superseded job stop between chunks. Not fewer
# than CHUNK_MIN_ROWS: every chunk reads all of W_enc, so thin chunks of a wide SAE cost more in memory traffic
# than they save (32,768 features: 32-row chunks took 2.4x as long as one encode, 512-row chunks as long).
CHUNK_VALUES = 1 << 24
CHUNK_MIN_ROWS = 256


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
    features, matrix = top_features(sae, residuals[sae.layer], n_features, cancel)
    norms = np.stack([np.linalg.norm(residuals[layer], axis=-1) for layer in layers]) if layers else np.zeros((0, 0))
    return HeatmapData(
        pane=pane,
        sae_key=sae_key,
        layer=sae.layer,
        tokens=tokens,
        prompt_len=prompt_len,
        features=features,
        labels=tuple(feature_label(sae, f) for f in features),
        matrix=matrix,
        norm_layers=tuple(layers),
        norms=norms,
    )


def top_features(
    sae: LoadedSae, resid: np.ndarray, n_features: int, cancel: CancelToken | None = None
) -> tuple[tuple[int, ...], np.ndarray]:
    """The `n_features` features that fire most on a text's residuals (seq, d_in), and their (features, seq)
    activations.

    Rank by peak activation among each position's TOP_K, skipping position 0 (an outlier that lights up
    features everywhere). With statistics, rank by the peak relative to the feature's usual activation instead,
    and leave out features that fire on most tokens: they say little about this text. Ties keep the order in
    which the features first appear, reading positions in order and each position strongest first.
    """
    import torch

    with torch.inference_mode():
        chunks = encode_chunks(sae, resid, cancel)
        tops = [c.topk(min(TOP_K, sae.d_sae), dim=-1) for c in chunks]
        values = torch.cat([t.values for t in tops])[1:].cpu().numpy()
        ids = torch.cat([t.indices for t in tops])[1:].cpu().numpy()
        chosen = torch.from_numpy(rank(ids.reshape(-1), values.reshape(-1), sae.d_sae, sae.stats)[:n_features])
        # index_select, not c[:, chosen]: advanced indexing walks the whole chunk (~10 ms per 512 × 32,768).
        columns = torch.cat([c.index_select(1, chosen.to(c.device)) for c in chunks])
        matrix = columns.T.contiguous().cpu().numpy()
    return tuple(int(f) for f in chosen.tolist()), matrix


def encode_chunks(sae: LoadedSae, resid: np.ndarray, cancel: CancelToken | None = None) -> list[Any]:
    """sae-lens's encode of every position as float32 (rows, d_sae) tensors on the SAE's device, a chunk of
    positions at a time (call under torch.inference_mode). Kept as chunks: joining them would copy them all."""
    import torch

    module = sae.sae
    x = torch.from_numpy(np.ascontiguousarray(resid, dtype=np.float32))
    step = max(CHUNK_MIN_ROWS, CHUNK_VALUES // sae.d_sae)
    chunks = []
    for start in range(0, x.shape[0], step):
        check(cancel)
        chunks.append(module.encode(x[start : start + step].to(module.W_dec.device, module.W_dec.dtype)).float())
    return chunks


def rank(ids: np.ndarray, values: np.ndarray, d_sae: int, stats: FeatureStatistics | None) -> np.ndarray:
    """Features ordered by their best (scaled) value among (ids, values) pairs read in order, best first; a
    feature with no positive value is left out. In numpy: a few thousand pairs, where torch's parallel kernels
    cost more in start-up than in work (tens of ms each on a busy 2-core machine). Float64, as a Python float
    division would be."""
    values = values.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if stats is None:
            keep = values > 0
        else:
            # Density compared in its own dtype (float32 with a Python float, as before); the tests negated, so
            # that a NaN statistic counts as neither dense nor ≤ 0.
            density = np.asarray(stats.density)[ids]
            mean = np.asarray(stats.mean_activation, dtype=np.float64)[ids]
            values = values / mean
            keep = ~(density > DENSE) & ~(mean <= 0) & (values > 0)
    ids, values = ids[keep], values[keep]
    best = np.zeros(d_sae)
    np.maximum.at(best, ids, values)  # every kept value is > 0
    first = np.full(d_sae, ids.size)
    np.minimum.at(first, ids, np.arange(ids.size))
    candidates = np.unique(ids)
    # Best first; among equal bests, the feature seen first.
    return candidates[np.lexsort((first[candidates], -best[candidates]))]
