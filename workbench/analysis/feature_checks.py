"""Warnings for a feature about to be steered: a near-duplicate, or a feature that reads spelling, not meaning.

- Near-duplicate: another feature of any loaded SAE whose decoder direction has cosine ≥ 0.7 with this one's.
  Every SAE here reads the same residual stream, so directions compare across layers too; steering either moves
  the other's direction almost as much.
- Surface-dominated: the feature's top-activating examples (the atlas) fire on one character string inside
  words that mean unrelated things ("arv" in "Jarvis" and "Marvel"; "an" in "San Marino", "Pan-Africanist",
  "Phanerozoic"). Decided from the examples alone, in three steps:
  1. the surface string: the longest string (≥ 2 characters, case folded) contained in the firing token of at
     least half of the examples (`MIN_COVERAGE`);
  2. the words: each such example's firing token grown to the whole word around it in its snippet;
  3. unrelated meanings: words are grouped when one is an inflection of the other (a shared start of ≥ 4
     characters and at most 3 more: "ocean", "oceans", "oceanic"); the examples outside the largest group must
     number at least `MIN_OUTSIDE` — one odd example is not a pattern, and a feature that fires on "Ocean" in
     every example reads one word, which is what a concept feature does;
  4. spelling, not vocabulary: at least `MIN_OUTSIDE` examples fire on a piece of a longer word ("arv" of
     "Jarvis"), other than a stem of ≥ `MIN_STEM` characters at its start ("water" of "watercourse"). Words of
     one topic share strings by chance ("ea" in "sea" and "ocean", "he" in "he" and "she"); a feature that
     fires on each of them as a whole word reads the words, and only a piece inside other words shows the
     characters themselves drive it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import InputError

if TYPE_CHECKING:
    from workbench.saes.features import FeatureAtlas
    from workbench.saes.loader import LoadedSae

NEAR_DUPLICATE = 0.7
MIN_COVERAGE = 0.5
MIN_OUTSIDE = 2
MIN_SURFACE = 2
MIN_STEM = 4


@dataclass(frozen=True)
class NearDuplicate:
    sae_key: str
    layer: int
    feature: int
    cosine: float


def near_duplicates(
    saes: Sequence[LoadedSae], sae_key: str, feature: int, threshold: float = NEAR_DUPLICATE
) -> list[NearDuplicate]:
    """Features of any loaded SAE (this one included, the feature itself not) whose decoder cosine with
    `sae_key`'s `feature` is ≥ `threshold`, highest first."""
    from workbench.analysis.feature_layers import unit_directions

    own = next((s for s in saes if s.key == sae_key), None)
    if own is None:
        raise InputError(f"no SAE {sae_key!r} is loaded")
    if not 0 <= feature < own.d_sae:
        raise InputError(f"feature {feature} does not exist: the SAE at layer {own.layer} has 0–{own.d_sae - 1}")
    anchor = unit_directions(own)[feature]
    found = []
    for sae in saes:
        cosines = unit_directions(sae) @ anchor
        for other in np.nonzero(cosines >= threshold)[0]:
            if sae.key == sae_key and int(other) == feature:
                continue
            found.append(NearDuplicate(sae.key, sae.layer, int(other), float(cosines[other])))
    return sorted(found, key=lambda d: -d.cosine)


@dataclass(frozen=True)
class SurfaceCheck:
    dominated: bool
    surface: str  # the string most firing tokens contain ("" when no string covers half the examples)
    coverage: float  # share of the examples whose firing token contains it
    words: tuple[str, ...]  # the whole words it was found in, most frequent first
    examples: int

    def describe(self) -> str:
        if not self.surface:
            return "no single surface string dominates the top examples"
        if not self.dominated:
            return f"fires on {self.surface!r} in {self.coverage:.0%} of its top examples, in one word: no warning"
        shown = ", ".join(repr(w) for w in self.words[:4])
        return (
            f"fires on the string {self.surface!r} in {self.coverage:.0%} of its top examples, "
            f"inside unrelated words ({shown}): it may read spelling rather than meaning"
        )


def example_words(atlas: FeatureAtlas, feature: int) -> list[tuple[str, str]]:
    """(firing token, the whole word around it) of each top example of `feature`, both case folded."""
    out = []
    for example in atlas.card(feature)["examples"]:
        parts: list[str] = example["tokens"]
        pos: int = example["position"]
        start = sum(len(p) for p in parts[:pos])
        text = "".join(parts)
        end = start + len(parts[pos])
        left, right = start, end
        token = parts[pos]
        # A token that starts (ends) inside a word is grown to the word's start (end): "J[[arv]]is" → "jarvis".
        while token[:1].isalpha() and left > 0 and text[left - 1].isalpha():
            left -= 1
        while token[-1:].isalpha() and right < len(text) and text[right].isalpha():
            right += 1
        out.append((parts[pos].strip().lower(), text[left:right].strip().lower()))
    return out


def dominant_surface(tokens: Sequence[str], min_coverage: float = MIN_COVERAGE) -> tuple[str, float]:
    """The longest string (≥ MIN_SURFACE characters) that at least `min_coverage` of `tokens` contain, and that
    share; ("", best share) when none reaches it. Ties in length go to the larger share, then alphabetically."""
    if not tokens:
        return "", 0.0
    counts: Counter[str] = Counter()
    for token in tokens:
        counts.update({token[i:j] for i in range(len(token)) for j in range(i + MIN_SURFACE, len(token) + 1)})
    best_share = max(counts.values(), default=0) / len(tokens)
    eligible = [(len(s), c, s) for s, c in counts.items() if c / len(tokens) >= min_coverage]
    if not eligible:
        return "", best_share
    _, count, surface = max(eligible, key=lambda e: (e[0], e[1], [-ord(ch) for ch in e[2]]))
    return surface, count / len(tokens)


def meaning_groups(words: Sequence[str]) -> list[list[str]]:
    """Words grouped when one is an inflection of another (shared start ≥ 4 characters, ≤ 3 more), largest first."""
    groups: list[list[str]] = []
    for word in words:
        home = next((g for g in groups if any(_inflection(word, w) for w in g)), None)
        if home is None:
            groups.append([word])
        else:
            home.append(word)
    return sorted(groups, key=len, reverse=True)


def _inflection(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    return short == long or (len(short) >= 4 and long.startswith(short) and len(long) - len(short) <= 3)


def surface_check(atlas: FeatureAtlas, feature: int) -> SurfaceCheck:
    """Whether `feature`'s top examples are dominated by one surface string across unrelated meanings (see the
    module docstring for the rule)."""
    pairs = [(t, w) for t, w in example_words(atlas, feature) if t]
    surface, coverage = dominant_surface([t for t, _ in pairs])
    if not surface:
        return SurfaceCheck(False, "", coverage, (), len(pairs))
    matched = [(t, w) for t, w in pairs if surface in t]
    words = [w for _, w in matched]
    groups = meaning_groups(words)
    outside = len(words) - len(groups[0])
    pieces = sum(_word_piece(t, w) for t, w in matched)
    ordered = tuple(w for w, _ in Counter(words).most_common())
    return SurfaceCheck(outside >= MIN_OUTSIDE and pieces >= MIN_OUTSIDE, surface, coverage, ordered, len(pairs))


def _word_piece(token: str, word: str) -> bool:
    """Whether the firing token is a piece of a longer word, other than a stem at the word's start."""
    return word != token and not (word.startswith(token) and len(token) >= MIN_STEM)


def loaded_surface_check(sae: LoadedSae, feature: int) -> SurfaceCheck | None:
    """The surface check for a loaded SAE's feature; None when the SAE has no atlas of examples."""
    from workbench.analysis.inspect import atlas_for

    atlas = atlas_for(sae)
    return surface_check(atlas, feature) if atlas is not None else None
