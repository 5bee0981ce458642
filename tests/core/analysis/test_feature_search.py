"""Feature search by label or id across SAEs: the ranking a researcher expects."""

from workbench.analysis.feature_search import FeatureIndex, parse_query, search_features

L8 = FeatureIndex(
    "L8",
    8,
    4,
    labels=("sea · coastal · coast", "seasons · weather", "beach · sand · → sea", "travel · trip"),
    density=(0.01, 0.02, 0.03, 0.04),
)
L15 = FeatureIndex("L15", 15, 3, labels=("ocean · sea · waves", "overseas · abroad", "sea"))
BARE = FeatureIndex("L22", 22, 1000)  # no atlas, no statistics


def _ids(hits):
    return [(h.sae_key, h.feature) for h in hits]


def test_exact_first_words_rank_first_then_later_words_then_substrings():
    hits = search_features([L15, L8, BARE], "sea")
    assert _ids(hits) == [
        ("L8", 0),  # "sea" is the first word, lower layer first
        ("L15", 2),
        ("L15", 0),  # second word
        ("L8", 2),  # a promoted token "→ sea" counts as a word
        ("L8", 1),  # substrings: "seasons", "overseas"
        ("L15", 1),
    ]


def test_hits_carry_layer_label_and_density():
    [hit] = search_features([L8, L15], "travel")
    assert (hit.sae_key, hit.layer, hit.feature, hit.label, hit.density) == ("L8", 8, 3, "travel · trip", 0.04)
    assert search_features([L15], "abroad")[0].density is None  # no statistics


def test_a_number_finds_that_feature_in_every_sae_even_without_an_atlas():
    assert _ids(search_features([L8, L15, BARE], "2")) == [("L8", 2), ("L15", 2), ("L22", 2)]
    assert _ids(search_features([L8, BARE], "f999")) == [("L22", 999)]
    assert search_features([BARE], "999")[0].label == "feature 999"


def test_a_layer_prefix_keeps_one_layer():
    assert parse_query("L15 Ocean") == (15, "ocean")
    assert parse_query("15:852") == (15, "852")
    assert parse_query("layer 8 sea") == (8, "sea")
    assert parse_query("lake") == (None, "lake")
    assert _ids(search_features([L8, L15], "L15 sea")) == [("L15", 2), ("L15", 0), ("L15", 1)]
    assert _ids(search_features([L8, L15, BARE], "22:7")) == [("L22", 7)]


def test_empty_queries_and_limits():
    assert search_features([L8], "   ") == []
    assert search_features([L8], "L8") == []
    assert len(search_features([BARE, L8, L15], "e", limit=3)) == 3


def test_an_index_of_a_loaded_sae_carries_its_densities(loaded_sae):
    import numpy as np

    from workbench.analysis.feature_search import feature_index
    from workbench.saes.stats import FeatureStatistics

    bare = feature_index(loaded_sae)  # a random SAE: no atlas, no statistics
    assert (bare.sae_key, bare.layer, bare.d_sae, bare.labels, len(bare.density)) == ("L1", 1, 128, (), 0)
    density = np.linspace(0, 0.5, 128, dtype=np.float32)
    zeros = np.zeros(128, np.float32)
    loaded_sae.stats = FeatureStatistics(zeros, density, zeros, 1.0, 10, "test")
    [hit] = search_features([feature_index(loaded_sae)], "f127")
    assert (hit.feature, hit.label, hit.density) == (127, "feature 127", 0.5)


def test_adjacent_and_last_labels_are_found_and_a_limit_keeps_the_ranking():
    index = FeatureIndex("L1", 1, 6, labels=("sea", "sea", "x · sea", "seal · y", "a\nsea", "b · → sea"))
    assert [h.feature for h in search_features([index], "sea")] == [0, 1, 2, 5, 3, 4]
    for limit in range(1, 6):
        assert search_features([index], "sea", limit) == search_features([index], "sea")[:limit]
    assert [h.feature for h in search_features([index], "y")] == [3]
