"""The warnings for a feature about to be steered: near-duplicates and surface-string features."""

import dataclasses

import numpy as np
import pytest

from workbench.analysis.feature_checks import dominant_surface, meaning_groups, near_duplicates, surface_check
from workbench.saes.demo import demo_sae_folder
from workbench.saes.features import ATLAS_FILE, FeatureAtlas


def _atlas(layer):
    path = demo_sae_folder(layer) / ATLAS_FILE
    if not path.is_file():
        pytest.skip("the demo SAEs are not in this checkout")
    return FeatureAtlas.load(path)


def _snippets_atlas(examples):
    """A one-feature atlas whose examples are the given snippets, each a list of token strings with the firing
    token in [brackets]."""
    vocab: dict[str, int] = {}
    width = max(len(e) for e in examples)
    ids = np.full((1, len(examples), width), -1, dtype=np.int32)
    pos = np.zeros((1, len(examples)), dtype=np.int16)
    for e, snippet in enumerate(examples):
        for i, piece in enumerate(snippet):
            if piece.startswith("[") and piece.endswith("]"):
                piece, pos[0, e] = piece[1:-1], i
            ids[0, e, i] = vocab.setdefault(piece, len(vocab))
    top = np.zeros((1, 1), dtype=np.int32)
    return FeatureAtlas(
        labels=["f0"], ex_tokens=ids, ex_pos=pos, ex_act=np.ones((1, len(examples)), dtype=np.float16),
        promoted=top, promoted_logit=top.astype(np.float16), suppressed=top, suppressed_logit=top.astype(np.float16),
        token_strings={v: k for k, v in vocab.items()}, source="test", n_tokens=0,
    )  # fmt: skip


def test_a_string_that_fires_inside_unrelated_words_is_flagged():
    atlas = _snippets_atlas(
        [["Tony", " J", "[arv]", "is"], ["a", " M", "[arv]", "el"], [" J", "[arv]", "is", " said"],
         [" M", "[arv]", "el", " film"], [" the", " [sea]"]]
    )  # fmt: skip
    check = surface_check(atlas, 0)
    assert check.dominated and check.surface == "arv" and check.coverage == pytest.approx(0.8)
    assert set(check.words) == {"jarvis", "marvel"}


def test_topic_words_that_share_a_string_by_chance_are_not_flagged():
    # "ea" is in all six firing tokens, across three meanings, but each is a whole word: the feature reads words.
    atlas = _snippets_atlas(
        [["the", "[ sea]"], ["an", "[ ocean]"], ["deep", "[ sea]"], ["the", "[ ocean]", " floor"], ["[ beach]"],
         ["a", "[ beach]", " house"]]
    )  # fmt: skip
    check = surface_check(atlas, 0)
    assert check.surface == "ea" and check.coverage == 1.0 and not check.dominated


def test_a_stem_at_the_start_of_a_compound_is_not_spelling():
    atlas = _snippets_atlas(
        [["[water]", "course"], ["[water]", "logged"], [" the", "[ water]"], ["[water]", "falls"], ["[water]", "shed"]]
    )
    assert not surface_check(atlas, 0).dominated


@pytest.mark.parametrize(("layer", "feature", "surface"), [(22, 432, "in"), (8, 2980, "arv")])
def test_surface_features_of_the_demo_saes_are_flagged(layer, feature, surface):
    check = surface_check(_atlas(layer), feature)
    assert check.dominated and check.surface == surface and check.coverage >= 0.5
    assert len(check.words) >= 2 and "unrelated words" in check.describe()


@pytest.mark.parametrize(("layer", "feature", "words"), [(8, 809, {"ocean"}), (15, 3877, {"ocean", "sea"})])
def test_ocean_features_read_words_not_a_string(layer, feature, words):
    check = surface_check(_atlas(layer), feature)
    assert not check.dominated and words <= set(check.words)


def test_the_dominant_surface_is_the_longest_string_half_the_tokens_contain():
    assert dominant_surface(["arv", "arv", "marvel", "arts"]) == ("arv", 0.75)
    assert dominant_surface(["cat", "dog", "cow"])[0] == ""


def test_inflections_are_one_meaning_and_other_words_are_not():
    groups = meaning_groups(["ocean", "oceans", "oceanic", "jarvis", "marvel", "san", "sanitary"])
    assert ["ocean", "oceans", "oceanic"] in groups and ["san"] in groups and ["sanitary"] in groups


def test_a_feature_is_a_near_duplicate_of_its_copy_in_another_sae(loaded_sae):
    copy = dataclasses.replace(loaded_sae, key="L1.2")
    found = near_duplicates([loaded_sae, copy], "L1", 5)
    assert found[0].sae_key == "L1.2" and found[0].feature == 5 and found[0].cosine == pytest.approx(1.0, abs=1e-5)
    assert all(not (d.sae_key == "L1" and d.feature == 5) for d in found)
    assert all(d.cosine >= 0.7 for d in found)
