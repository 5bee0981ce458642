"""Find features by label or id across the loaded SAEs.

A front end fetches one small `FeatureIndex` per SAE (labels and densities) once, then searches it locally on
every keystroke: no model call, so search answers at once even while the model process is busy generating.

Query forms: a word or phrase ("ocean", "sea · coastal") matches labels; a number ("3877", "f3877") matches that
feature id in every SAE; a layer prefix ("L15 ocean", "L15 3877", "15:3877") keeps one layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
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
    # Labels imported for this SAE (`labels import`; workbench/saes/labels.py) as (feature, label) pairs: found by
    # search after the automatic labels' own words, and shown beside them.
    imported: tuple[tuple[int, str], ...] = ()

    def label(self, feature: int) -> str:
        return self.labels[feature] if feature < len(self.labels) else f"feature {feature}"

    def imported_label(self, feature: int) -> str | None:
        return dict(self.imported).get(feature) if self.imported else None

    @cached_property
    def prepared(self) -> _Prepared:
        """Search tables, built on the first search (in the process that searches, never pickled before)."""
        if not self.imported:
            return _Prepared(self.labels)
        extra = dict(self.imported)
        own = [self.labels[i] if i < len(self.labels) else "" for i in range(self.d_sae)]
        # An imported label is one more " · " word of its feature's line (its own dots flattened).
        return _Prepared(
            [" · ".join(p for p in (own[i], extra.get(i, "").replace("·", " ")) if p) for i in range(self.d_sae)]
        )


@dataclass(frozen=True)
class FeatureHit:
    sae_key: str
    layer: int
    feature: int
    label: str
    density: float | None
    imported_label: str | None = None


def feature_index(sae: LoadedSae) -> FeatureIndex:
    from workbench.analysis.inspect import atlas_for
    from workbench.saes.labels import stored_labels

    atlas = atlas_for(sae)
    stats = sae.stats
    return FeatureIndex(
        sae_key=sae.key,
        layer=sae.layer,
        d_sae=sae.d_sae,
        labels=tuple(atlas.labels) if atlas is not None else (),
        density=np.asarray(stats.density, dtype=np.float32) if stats is not None else (),
        imported=tuple(sorted(stored_labels(sae.fingerprint).items())),
    )


def parse_query(query: str) -> tuple[int | None, str]:
    """(layer or None, the rest, lower-cased): "L15 ocean" → (15, "ocean"); "15:852" → (15, "852")."""
    text = query.strip().lower()
    match = _LAYER.match(text)
    if match is None:
        return None, text
    return int(match.group(1) or match.group(2)), text[match.end() :].strip()


def search_features(indexes: Sequence[FeatureIndex], query: str, limit: int = 50) -> list[FeatureHit]:
    """Features matching `query`, best first: id matches; then the needle as a whole label word, earlier words
    first (the first word is the feature's strongest firing token); then as part of a word, earlier words
    first; then anywhere in the label. Ties keep the SAEs' layer order, then feature order.

    Tier by tier, stopping at `limit`: a one-letter query that matches most labels costs no more than a rare word.
    """
    layer, needle = parse_query(query)
    needle = needle.replace("\n", " ")
    if not needle:
        return []
    ordered = [x for x in sorted(indexes, key=lambda x: (x.layer, x.sae_key)) if layer is None or x.layer == layer]
    hits: list[FeatureHit] = []
    id_match = _ID.match(needle)
    if id_match is not None:
        wanted = int(id_match.group(1))
        hits = [_hit(x, wanted) for x in ordered if 0 <= wanted < x.d_sae]
        return hits[:limit]
    depth = max((x.prepared.depth for x in ordered), default=0)
    tiers: list[Callable[[_Prepared], Iterable[int]]] = [
        *(lambda p, n=n: p.exact_at(n, needle) for n in range(depth)),
        *(lambda p, n=n: p.containing_at(n, needle) for n in range(depth)),
        lambda p: p.containing(needle),
    ]
    seen: set[tuple[str, int]] = set()
    for tier in tiers:
        for index in ordered:
            for feature in tier(index.prepared):
                if (index.sae_key, feature) in seen:
                    continue
                seen.add((index.sae_key, feature))
                hits.append(_hit(index, feature))
                if len(hits) >= limit:
                    return hits
    return hits


def _hit(index: FeatureIndex, feature: int) -> FeatureHit:
    density = float(index.density[feature]) if feature < len(index.density) else None
    return FeatureHit(index.sae_key, index.layer, feature, index.label(feature), density, index.imported_label(feature))


class _Lines:
    """Strings, one per feature, joined by newlines: searched with str.find at C speed; line n is feature n."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.text = "\n" + "\n".join(lines) + "\n"  # every line sits between two newlines

    def find(self, pattern: str) -> Iterator[int]:
        """Features (ascending, lazily: callers stop early) whose line contains `pattern`; a pattern that starts
        and ends with a newline matches whole lines."""
        text, line, counted = self.text, -1, 0
        pos = text.find(pattern)
        while pos >= 0:
            line += text.count("\n", counted, pos + 1)
            counted = pos + 1
            yield line
            # Go on from the newline that opens the next line.
            start = pos + len(pattern) - 1 if pattern.endswith("\n") else text.find("\n", pos + 1)
            pos = text.find(pattern, start)


class _Prepared:
    """Search tables for one index's labels (a few joined strings), built on its first search."""

    def __init__(self, labels: Sequence[str]) -> None:
        # Labels are "word · word · → promoted"; words are compared lower-cased, without the arrow.
        text = "\n".join(label.replace("\n", " ") for label in labels).lower().replace(" · → ", " · ")
        lines = [line.removeprefix("→ ") for line in text.split("\n")] if labels else []
        words = [line.split(" · ") for line in lines]
        self.depth = max(map(len, words), default=0)
        self.columns = [_Lines(ws[n] if n < len(ws) else "" for ws in words) for n in range(self.depth)]
        self.labels = _Lines(lines)

    def exact_at(self, n: int, needle: str) -> Iterable[int]:
        return self.columns[n].find(f"\n{needle}\n") if n < self.depth else ()

    def containing_at(self, n: int, needle: str) -> Iterable[int]:
        return self.columns[n].find(needle) if n < self.depth else ()

    def containing(self, needle: str) -> Iterable[int]:
        return self.labels.find(needle)
