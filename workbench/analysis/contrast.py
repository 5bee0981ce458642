"""Minimal pairs and contrast sets: which features tell two texts, or two sets of texts, apart.

A minimal pair ("The coffee was bitter." / "The coffin was bitter.") differs in a few tokens; the features whose
activation differs most *at those tokens* separate the meanings, and the ones that fire at those tokens in both
texts about equally respond to the shared form. Contrast sets (texts about a concept against texts without it)
rank every feature by effect size and AUROC.

Texts are read raw, as `features --text` reads them; position 0 (the attention sink, whose residual norm dwarfs
the rest) is left out of maxima, means and examples, as in the feature statistics.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.cancel import CancelToken, check
from workbench.errors import InputError
from workbench.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from workbench.engine import Engine

SHARED_RATIO = 0.5  # shared form: the weaker text's activation at the differing tokens is ≥ half the stronger's


@dataclass(frozen=True)
class Firing:
    """Where a feature fires: a token position (in text `text` of a set; None for a minimal pair's text)."""

    position: int
    token: str
    activation: float
    text: int | None = None

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {} if self.text is None else {"text": self.text}
        record.update(position=self.position, token=self.token, activation=_sig(self.activation))
        return record


@dataclass(frozen=True)
class ContrastFeature:
    feature: int
    label: str
    a_max: float  # largest activation anywhere in A (position 0 left out); for sets, over every text of A
    b_max: float
    difference: float  # pair: max at A's differing tokens − max at B's; sets: mean of per-text maxima, A − B
    a_positions: tuple[Firing, ...]  # pair: every firing position of A; sets: the top examples from A
    b_positions: tuple[Firing, ...]
    effect_size: float | None = None  # sets only: difference ÷ pooled standard deviation (None: zero spread)
    auroc: float | None = None  # sets only

    def to_dict(self, sets: bool = False) -> dict[str, Any]:
        record: dict[str, Any] = {
            "feature": self.feature,
            "label": self.label,
            "a_max": _sig(self.a_max),
            "b_max": _sig(self.b_max),
            "difference": _sig(self.difference),
            "a_positions": [f.to_dict() for f in self.a_positions],
            "b_positions": [f.to_dict() for f in self.b_positions],
        }
        if sets:
            record.update(
                effect_size=None if self.effect_size is None else _sig(self.effect_size),
                auroc=None if self.auroc is None else _sig(self.auroc),
            )
        return record


@dataclass(frozen=True)
class Contrast:
    layer: int
    a_tokens: tuple[Any, ...]  # pair: A's tokens; sets: one token list per text of A
    b_tokens: tuple[Any, ...]
    features: tuple[ContrastFeature, ...]
    sets: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The `contrast --json` record."""
        return {
            "layer": self.layer,
            "a_tokens": [list(t) if isinstance(t, tuple) else t for t in self.a_tokens],
            "b_tokens": [list(t) if isinstance(t, tuple) else t for t in self.b_tokens],
            "features": [f.to_dict(self.sets) for f in self.features],
        }


def dense_activations(engine: Engine, sae_key: str, text: str) -> tuple[tuple[int, ...], tuple[str, ...], np.ndarray]:
    """(token ids, tokens, (seq, d_sae) activations of every feature) of raw `text`, read as `features --text`
    reads it."""
    sae = engine.sae(sae_key)
    if not text.strip():
        raise InputError("empty text: nothing to contrast")
    acts = engine.features(text, [sae.key], top_k=1, features={sae.key: range(sae.d_sae)})[sae.key]
    return acts.token_ids, acts.tokens, acts.dense


def differing_positions(a: Sequence[Any], b: Sequence[Any]) -> tuple[list[int], list[int]]:
    """Positions of A and of B outside their longest common runs (what a diff shows as changed)."""
    matcher = difflib.SequenceMatcher(None, list(a), list(b), autojunk=False)
    in_a: list[int] = []
    in_b: list[int] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op != "equal":
            in_a += range(a0, a1)
            in_b += range(b0, b1)
    return in_a, in_b


def pair_differences(acts_a: np.ndarray, acts_b: np.ndarray, diff_a: list[int], diff_b: list[int]) -> np.ndarray:
    """Per feature: max activation over A's differing positions − max over B's (0 for a side with none)."""
    top_a = acts_a[diff_a].max(axis=0) if diff_a else np.zeros(acts_a.shape[1], np.float32)
    top_b = acts_b[diff_b].max(axis=0) if diff_b else np.zeros(acts_b.shape[1], np.float32)
    return np.asarray(top_a - top_b)


def minimal_pair(engine: Engine, sae_key: str, text_a: str, text_b: str, top: int = 10) -> Contrast:
    """The `top` features that differ most at the differing tokens, and the `top` shared-form ones (firing there
    in both texts about equally), listed together by |difference|."""
    if top < 1:
        raise InputError("--top must be ≥ 1")
    sae = engine.sae(sae_key)
    ids_a, tokens_a, acts_a = dense_activations(engine, sae.key, text_a)
    ids_b, tokens_b, acts_b = dense_activations(engine, sae.key, text_b)
    diff_a, diff_b = differing_positions(ids_a, ids_b)
    if not diff_a and not diff_b:
        raise InputError("the two texts have the same tokens: nothing differs")
    # Position 0 is the attention sink: never a differing token worth reporting, and left out of the maxima.
    diff_a, diff_b = [p for p in diff_a if p > 0], [p for p in diff_b if p > 0]
    difference = pair_differences(acts_a, acts_b, diff_a, diff_b)
    at_a = acts_a[diff_a].max(axis=0) if diff_a else np.zeros(sae.d_sae)
    at_b = acts_b[diff_b].max(axis=0) if diff_b else np.zeros(sae.d_sae)
    firing = np.nonzero((at_a > 0) | (at_b > 0))[0]
    by_difference = sorted(firing, key=lambda f: -abs(float(difference[f])))[:top]
    weaker, stronger = np.minimum(at_a, at_b), np.maximum(at_a, at_b)
    shared = [f for f in firing if weaker[f] > 0 and weaker[f] >= SHARED_RATIO * stronger[f]]
    shared = sorted(shared, key=lambda f: -float(weaker[f]))[:top]
    chosen = sorted({int(f) for f in (*by_difference, *shared)}, key=lambda f: -abs(float(difference[f])))
    label_of = _labeller(engine, sae.key)
    features = tuple(
        ContrastFeature(
            feature=f,
            label=label_of(f),
            a_max=float(acts_a[1:, f].max(initial=0.0)),
            b_max=float(acts_b[1:, f].max(initial=0.0)),
            difference=float(difference[f]),
            a_positions=_firings(acts_a[:, f], tokens_a),
            b_positions=_firings(acts_b[:, f], tokens_b),
        )
        for f in chosen
    )
    return Contrast(sae.layer, tuple(tokens_a), tuple(tokens_b), features)


def _firings(column: np.ndarray, tokens: Sequence[str]) -> tuple[Firing, ...]:
    return tuple(Firing(int(p), tokens[int(p)], float(column[p])) for p in np.nonzero(column[1:] > 0)[0] + 1)


def _labeller(engine: Engine, sae_key: str) -> Any:
    from workbench.analysis.neighbours import default_label

    sae = engine.sae(sae_key)
    return lambda f: default_label(sae, f)


# -- contrast sets --------------------------------------------------------------------------------------------
def effect_sizes(values_a: np.ndarray, values_b: np.ndarray) -> np.ndarray:
    """Per column: (mean A − mean B) ÷ the pooled standard deviation (Cohen's d). NaN where the pooled spread is
    zero but the means differ (perfect separation with no spread); 0 where both are constant and equal."""
    n_a, n_b = values_a.shape[0], values_b.shape[0]
    if n_a < 2 or n_b < 2:
        raise InputError("each set needs at least two texts for an effect size")
    diff = values_a.mean(axis=0) - values_b.mean(axis=0)
    pooled = np.sqrt(
        ((n_a - 1) * values_a.var(axis=0, ddof=1) + (n_b - 1) * values_b.var(axis=0, ddof=1)) / (n_a + n_b - 2)
    )
    out = np.divide(diff, pooled, out=np.full(diff.shape, np.nan), where=pooled > 0)
    out[(pooled == 0) & (diff == 0)] = 0.0
    return out


def aurocs(values_a: np.ndarray, values_b: np.ndarray) -> np.ndarray:
    """Per column: the AUROC of the value as a detector of set A (Mann–Whitney: P(a > b) + ½ P(a = b)).

    With a text's max activation as the value, this is how well "the feature fires (this strongly) on a text"
    tells A's texts from B's: 1 = every A text above every B text, 0.5 = chance."""
    from scipy.stats import rankdata

    n_a, n_b = values_a.shape[0], values_b.shape[0]
    if n_a == 0 or n_b == 0:
        raise InputError("each set needs at least one text")
    ranks = rankdata(np.concatenate([values_a, values_b]), axis=0)  # ties share their average rank
    u = ranks[:n_a].sum(axis=0) - n_a * (n_a + 1) / 2
    return np.asarray(u / (n_a * n_b))


@dataclass(frozen=True)
class _SetActivations:
    tokens: list[tuple[str, ...]]
    maxima: np.ndarray  # (texts, d_sae): each text's max activation per feature (position 0 left out)
    where: np.ndarray  # (texts, d_sae): its position


def _read_set(
    engine: Engine,
    sae_key: str,
    texts: Sequence[str],
    what: str,
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> _SetActivations:
    tokens, maxima, where = [], [], []
    for i, text in enumerate(texts):
        check(cancel)  # between texts
        _, toks, acts = dense_activations(engine, sae_key, text)
        rest = acts[1:] if acts.shape[0] > 1 else np.zeros((1, acts.shape[1]), np.float32)
        tokens.append(toks)
        maxima.append(rest.max(axis=0))
        where.append(rest.argmax(axis=0) + 1)
        progress(Progress(what, i + 1, len(texts)))
    return _SetActivations(tokens, np.stack(maxima), np.stack(where))


def contrast_sets(
    engine: Engine,
    sae_key: str,
    texts_a: Sequence[str],
    texts_b: Sequence[str],
    top: int = 10,
    n_examples: int = 3,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> Contrast:
    """Features ranked by |effect size| and by |AUROC − ½| of each text's max activation (the `top` of each,
    listed together by |effect size|), with each feature's top examples from both sets."""
    if top < 1:
        raise InputError("--top must be ≥ 1")
    if len(texts_a) < 2 or len(texts_b) < 2:
        raise InputError("each file needs at least two texts for an effect size")
    a = _read_set(engine, sae_key, texts_a, "contrast: set A", progress, cancel)
    b = _read_set(engine, sae_key, texts_b, "contrast: set B", progress, cancel)
    effect, auc = effect_sizes(a.maxima, b.maxima), aurocs(a.maxima, b.maxima)
    strength = np.where(np.isnan(effect), np.inf, np.abs(np.nan_to_num(effect)))
    fired = (a.maxima.max(axis=0) > 0) | (b.maxima.max(axis=0) > 0)
    candidates = np.nonzero(fired)[0]
    by_effect = sorted(candidates, key=lambda f: -strength[f])[:top]
    by_auc = sorted(candidates, key=lambda f: -abs(auc[f] - 0.5))[:top]
    chosen = sorted({int(f) for f in (*by_effect, *by_auc)}, key=lambda f: -strength[f])
    label_of = _labeller(engine, sae_key)
    features = []
    for f in chosen:
        row = ContrastFeature(
            feature=f,
            label=label_of(f),
            a_max=float(a.maxima[:, f].max()),
            b_max=float(b.maxima[:, f].max()),
            difference=float(a.maxima[:, f].mean() - b.maxima[:, f].mean()),
            a_positions=_examples(a, f, n_examples),
            b_positions=_examples(b, f, n_examples),
        )
        features.append(
            replace(row, effect_size=None if np.isnan(effect[f]) else float(effect[f]), auroc=float(auc[f]))
        )
    return Contrast(engine.sae(sae_key).layer, tuple(a.tokens), tuple(b.tokens), tuple(features), sets=True)


def _examples(s: _SetActivations, feature: int, n: int) -> tuple[Firing, ...]:
    order = np.argsort(-s.maxima[:, feature], kind="stable")[:n]
    return tuple(
        Firing(int(s.where[t, feature]), s.tokens[t][int(s.where[t, feature])], float(s.maxima[t, feature]), int(t))
        for t in order
        if s.maxima[t, feature] > 0
    )


# -- the built-in minimal pairs -------------------------------------------------------------------------------
PAIRS_FILE = "minimal_pairs.json"


def builtin_pairs() -> list[dict[str, str]]:
    """The shipped minimal pairs (resources/pairs/minimal_pairs.json): id, a, b and a note on the two meanings."""
    from workbench.saes.demo import resources_dir

    path = resources_dir() / "pairs" / PAIRS_FILE
    try:
        pairs = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"the built-in minimal pairs are unreadable ({path}): {exc}") from exc
    return [{k: str(v) for k, v in p.items()} for p in pairs]


def builtin_pair(pair_id: str) -> tuple[str, str]:
    pairs = builtin_pairs()
    found = next((p for p in pairs if p["id"] == pair_id), None)
    if found is None:
        raise InputError(f"no built-in pair {pair_id!r}: one of {', '.join(p['id'] for p in pairs)}")
    return found["a"], found["b"]


def _sig(value: float) -> float:
    return float(f"{value:.4g}")
