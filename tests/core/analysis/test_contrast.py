"""Minimal pairs and contrast sets: the formulas on hand-made numbers and a tiny real model."""

import numpy as np
import pytest

from tests.factories import make_sae, tiny_backend
from workbench.analysis.contrast import (
    aurocs,
    builtin_pairs,
    contrast_sets,
    differing_positions,
    effect_sizes,
    minimal_pair,
)
from workbench.errors import InputError


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from workbench.engine import Engine

    engine = Engine()
    engine.use_backend(tiny_backend())
    engine.add_sae(str(make_sae(tmp_path_factory.mktemp("sae") / "L1", d_in=64, layer=1, d_sae=64)))
    return engine


def test_effect_size_is_the_mean_difference_over_the_pooled_spread():
    a = np.array([[3.0], [5.0], [4.0]])
    b = np.array([[1.0], [2.0], [0.0], [1.0]])
    pooled = np.sqrt((2 * np.var([3, 5, 4], ddof=1) + 3 * np.var([1, 2, 0, 1], ddof=1)) / 5)
    assert effect_sizes(a, b)[0] == pytest.approx((4.0 - 1.0) / pooled)


def test_effect_size_without_spread_is_zero_or_undefined():
    same = effect_sizes(np.zeros((2, 1)), np.zeros((3, 1)))
    apart = effect_sizes(np.ones((2, 1)), np.zeros((3, 1)))
    assert same[0] == 0.0 and np.isnan(apart[0])


def test_auroc_counts_pairs_where_a_beats_b_and_half_the_ties():
    a = np.array([[3.0, 0.0], [1.0, 1.0]])
    b = np.array([[2.0, 1.0], [0.0, 1.0], [1.0, 2.0]])
    # column 0: pairs (3>2,3>0,3>1; 1<2,1>0,1=1) → 4 wins + 1 tie of 6 → 4.5/6
    # column 1: (0<1,0<1,0<2; 1=1,1=1,1<2) → 2 ties → 1/6
    np.testing.assert_allclose(aurocs(a, b), [4.5 / 6, 1 / 6])


def test_differing_positions_are_what_a_diff_shows():
    assert differing_positions([1, 2, 3, 4], [1, 9, 3, 4]) == ([1], [1])
    assert differing_positions([1, 2, 3], [1, 7, 8, 3]) == ([1], [1, 2])


def test_minimal_pair_difference_is_taken_at_the_differing_tokens(engine):
    key = engine.saes[0].key
    result = minimal_pair(engine, key, "the coffee was bitter", "the coffin was bitter", top=5)
    full = {
        f: engine.features(t, [key], features={key: range(64)})[key].dense
        for f, t in (("a", "the coffee was bitter"), ("b", "the coffin was bitter"))
    }
    ids_a = engine.backend.encode_prompt("the coffee was bitter", chat=False)
    ids_b = engine.backend.encode_prompt("the coffin was bitter", chat=False)
    da, db = differing_positions(ids_a, ids_b)
    for f in result.features:
        expected = full["a"][da, f.feature].max() - full["b"][db, f.feature].max()
        assert f.difference == pytest.approx(expected, abs=1e-5)
        assert f.a_max == pytest.approx(full["a"][1:, f.feature].max(), abs=1e-5)
    diffs = [abs(f.difference) for f in result.features]
    assert diffs == sorted(diffs, reverse=True)
    record = result.to_dict()
    assert set(record) == {"layer", "a_tokens", "b_tokens", "features"}
    assert set(record["features"][0]) == {
        "feature",
        "label",
        "a_max",
        "b_max",
        "difference",
        "a_positions",
        "b_positions",
    }


def test_a_pair_that_does_not_differ_is_refused(engine):
    with pytest.raises(InputError, match="nothing differs"):
        minimal_pair(engine, engine.saes[0].key, "same text", "same text")


def test_contrast_sets_rank_by_effect_size_with_examples(engine):
    key = engine.saes[0].key
    result = contrast_sets(
        engine, key, ["boats at sea", "the sea is wide", "waves and sea"], ["a cup of tea", "tea time"], top=3
    )
    record = result.to_dict()
    assert {"effect_size", "auroc"} <= set(record["features"][0])
    strengths = [abs(f.effect_size) if f.effect_size is not None else np.inf for f in result.features]
    assert strengths == sorted(strengths, reverse=True)
    for f in result.features:
        assert all(e.text is not None and 0 <= e.text < 3 for e in f.a_positions)


def test_contrast_sets_need_two_texts_each(engine):
    with pytest.raises(InputError, match="at least two texts"):
        contrast_sets(engine, engine.saes[0].key, ["only one"], ["a", "b"])


def test_the_built_in_pairs_differ_and_are_unique():
    pairs = builtin_pairs()
    assert len(pairs) >= 10 and len({p["id"] for p in pairs}) == len(pairs)
    assert all(p["a"] != p["b"] and p["note"] for p in pairs)
