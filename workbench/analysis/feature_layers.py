"""One feature across layers: a layers × tokens matrix for a chosen ("anchor") SAE feature.

Feature ids of SAEs at different layers name unrelated features, so "feature 305 at every layer" means nothing.
What does mean something: every SAE here reads the same residual stream, so decoder directions are comparable
across layers. Each row is therefore the anchor itself at its own SAE, and at every other SAE the feature whose
decoder direction is closest to the anchor's (largest cosine), labelled with that cosine. A low cosine says the
feature has no counterpart there; the row is still shown, so that absence is visible rather than hidden.

Rows also carry a colour scale: the activation divided by the feature's max activation on reference text
(its statistics), or by its max on this text when there are no statistics, so rows of different layers are
comparable although their raw activations are not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workbench.cancel import CancelToken, check
from workbench.errors import InputError

if TYPE_CHECKING:
    from workbench.models.protocol import ModelBackend
    from workbench.saes.loader import LoadedSae

WEAK_MATCH = 0.3  # below this decoder cosine, a row's feature is unlikely to be the same concept


@dataclass(frozen=True)
class LayerMatch:
    """The feature shown for one SAE: the anchor itself, or its nearest decoder direction at that SAE."""

    sae_key: str
    layer: int
    feature: int
    label: str
    cosine: float  # decoder-direction cosine with the anchor (1.0 for the anchor)
    anchor: bool
    reference_max: float | None  # the feature's max activation on reference text (statistics), if known

    @property
    def weak(self) -> bool:
        return not self.anchor and self.cosine < WEAK_MATCH


@dataclass(frozen=True)
class FeatureLayers:
    pane: str
    tokens: tuple[str, ...]
    prompt_len: int
    anchor_key: str
    anchor_feature: int
    rows: tuple[LayerMatch, ...]  # one per SAE, by layer
    activations: np.ndarray  # (rows, tokens) raw activations
    scaled: np.ndarray  # (rows, tokens) activation / the row's reference max (or its max on this text)

    @property
    def anchor_row(self) -> int:
        return next(i for i, r in enumerate(self.rows) if r.anchor)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def best_match(anchor: np.ndarray, unit_decoder: np.ndarray) -> tuple[int, float]:
    """(feature, cosine) of the row of `unit_decoder` (unit rows, (d_sae, d)) closest in direction to `anchor`."""
    norm = float(np.linalg.norm(anchor))
    if norm == 0 or unit_decoder.shape[0] == 0:
        raise InputError("cannot match a zero decoder direction")
    cosines = unit_decoder @ (anchor / norm)
    best = int(np.argmax(cosines))
    return best, float(cosines[best])


def scale_rows(activations: np.ndarray, reference_max: Sequence[float | None]) -> np.ndarray:
    """Each row divided by its reference max (statistics), else by its own max on this text; all-zero rows stay 0."""
    scaled = np.zeros_like(activations, dtype=np.float32)
    for i, ref in enumerate(reference_max):
        row = activations[i]
        top = ref if ref is not None and ref > 0 else float(row.max(initial=0.0))
        if top > 0:
            scaled[i] = row / top
    return scaled


_DIRECTIONS: dict[str, np.ndarray] = {}


def unit_directions(sae: LoadedSae, chunk: int = 1024) -> np.ndarray:
    """(d_sae, d_in) float32 unit decoder directions of every feature, computed once per SAE."""
    if sae.fingerprint not in _DIRECTIONS:
        import torch

        from workbench.saes.directions import sae_directions

        parts = []
        with torch.no_grad():
            for start in range(0, sae.d_sae, chunk):
                ids = list(range(start, min(start + chunk, sae.d_sae)))
                parts.append(sae_directions(sae.sae, ids).float().cpu().numpy())
        _DIRECTIONS[sae.fingerprint] = unit_rows(np.concatenate(parts).astype(np.float32))
    return _DIRECTIONS[sae.fingerprint]


def match_across(
    saes: Sequence[LoadedSae], anchor_key: str, feature: int, cancel: CancelToken | None = None
) -> list[tuple[LoadedSae, int, float]]:
    """(sae, feature, cosine) per SAE, by layer: the anchor at its own SAE, its nearest direction elsewhere."""
    anchor_sae = next((s for s in saes if s.key == anchor_key), None)
    if anchor_sae is None:
        raise InputError(f"no SAE {anchor_key!r} is loaded")
    if not 0 <= feature < anchor_sae.d_sae:
        last = anchor_sae.d_sae - 1
        raise InputError(f"feature {feature} does not exist: the SAE at layer {anchor_sae.layer} has 0–{last}")
    anchor = unit_directions(anchor_sae)[feature]
    out = []
    for s in sorted(saes, key=lambda s: (s.layer, s.key)):
        check(cancel)  # per SAE: the first match at an SAE computes all its unit directions
        if s is anchor_sae:
            out.append((s, feature, 1.0))
        elif s.d_in != anchor_sae.d_in:
            continue  # a different residual width cannot share directions
        else:
            out.append((s, *best_match(anchor, unit_directions(s))))
    return out


def feature_across_layers(
    backend: ModelBackend,
    saes: Sequence[LoadedSae],
    anchor_key: str,
    feature: int,
    token_ids: Sequence[int],
    pane: str = "",
    prompt_len: int = 0,
    cancel: CancelToken | None = None,
) -> FeatureLayers:
    """The layers × tokens matrix of `feature` (at SAE `anchor_key`) and its counterparts, on one text."""
    from workbench.analysis.inspect import feature_label
    from workbench.saes.activations import capture_activations

    matches = match_across(saes, anchor_key, feature, cancel)
    chosen = {s.key: [f] for s, f, _cos in matches}
    acts = capture_activations(
        backend, [s for s, _f, _c in matches], token_ids, top_k=1, features=chosen, cancel=cancel
    )
    rows = tuple(
        LayerMatch(
            sae_key=s.key,
            layer=s.layer,
            feature=f,
            label=feature_label(s, f),
            cosine=cos,
            anchor=s.key == anchor_key,
            reference_max=float(s.stats.max_activation[f]) if s.stats is not None else None,
        )
        for s, f, cos in matches
    )
    activations = np.stack([acts[r.sae_key].dense[:, 0] for r in rows]).astype(np.float32)
    first = acts[rows[0].sae_key]
    return FeatureLayers(
        pane=pane,
        tokens=first.tokens,
        prompt_len=prompt_len,
        anchor_key=anchor_key,
        anchor_feature=feature,
        rows=rows,
        activations=activations,
        scaled=scale_rows(activations, [r.reference_max for r in rows]),
    )
