"""Find features by label or id across the loaded SAEs.

A front end fetches one small `FeatureIndex` per SAE (labels and densities) once, then searches it locally on
every keystroke: no model call, so search answers at once even while the model process is busy generating.

Query forms: a word or phrase ("ocean", "sea · coastal") matches labels; a number ("852", "f852") matches that
feature id in every SAE; a layer prefix ("L15 ocean", "L15 852", "15:852") keeps one layer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from workbench.saes.loader import LoadedSae

_LAYER = re.compile(r"^(?:l|layer\s*)(\d+)(?:\s+|:|$)|^(\d+):(?=\d)")
_ID = re.compile(r"^(?:f|#|feature\s*)?(\d+)$")


@dataclass(frozen=True)
class FeatureIndex:
    """The labels (empty when the SAE has no atlas) and densities of one SAE's features."""

    sae_key: str
    layer: int
    d_sae: int
    labels: tuple[str, ...] = ()
    # Fraction of reference tokens each feature fires on; empty without statistics. An array pickles in one
    # piece, so receiving an index costs the GUI process little.
    density: np.ndarray | tuple[float, ...] = ()

    def label(self, feature: int) -> str:
        return self.labels[feature] if feature < len(self.labels) else f"feature {feature}"


@dataclass(frozen=True)
class FeatureHit:
    sae_key: str
    layer: int
    feature: int
    label: str
    density: float | None


def feature_index(sae: LoadedSae) -> FeatureIndex:
    from workbench.analysis.inspect import atlas_for

    atlas = atlas_for(sae)
    stats = sae.stats
    return FeatureIndex(
        sae_key=sae.key,
        layer=sae.layer,
        d_sae=sae.d_sae,
        labels=tuple(atlas.labels) if atlas is not None else (),
        density=np.asarray(stats.density, dtype=np.float32) if stats is not None else (),
    )


def parse_query(query: str) -> tuple[int | None, str]:
    """(layer or None, the rest, lower-cased): "L15 ocean" → (15, "ocean"); "15:852" → (15, "852")."""
    text = query.strip().lower()
    match = _LAYER.match(text)
    if match is None:
        return None, text
    return int(match.group(1) or match.group(2)), text[match.end() :].strip()


def _label_rank(label: str, needle: str) -> int | None:
    """Lower is better: the needle as the label's n-th word ranks n, as part of a word 10+n; None: no match."""
    lowered = label.lower()
    if needle not in lowered:
        return None
    # Labels are "word · word · → promoted"; the first word is the strongest firing token.
    words = [w.removeprefix("→ ").strip() for w in lowered.split(" · ")]
    exact = next((n for n, w in enumerate(words) if w == needle), None)
    if exact is not None:
        return exact
    return 10 + next((n for n, w in enumerate(words) if needle in w), len(words))


def search_features(indexes: Sequence[FeatureIndex], query: str, limit: int = 50) -> list[FeatureHit]:
    """Features matching `query`, best first: id matches, then exact label words (earlier words first), then
    substrings; ties keep the SAEs' layer order and feature order."""
    layer, needle = parse_query(query)
    if not needle and layer is None:
        return []
    id_match = _ID.match(needle)
    wanted = int(id_match.group(1)) if id_match else None
    scored: list[tuple[int, int, FeatureHit]] = []
    for order, index in enumerate(sorted(indexes, key=lambda x: (x.layer, x.sae_key))):
        if layer is not None and index.layer != layer:
            continue

        def hit(feature: int, index: FeatureIndex = index) -> FeatureHit:
            density = float(index.density[feature]) if feature < len(index.density) else None
            return FeatureHit(index.sae_key, index.layer, feature, index.label(feature), density)

        if wanted is not None:
            if 0 <= wanted < index.d_sae:
                scored.append((-1, order, hit(wanted)))
            continue
        if not needle:
            continue
        for feature, label in enumerate(index.labels):
            rank = _label_rank(label, needle)
            if rank is not None:
                scored.append((rank, order, hit(feature)))
    scored.sort(key=lambda x: (x[0], x[1], x[2].feature))
    return [h for _rank, _order, h in scored[:limit]]
