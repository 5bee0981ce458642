"""The warnings for a feature about to be steered: near-duplicates and surface-string features."""

import dataclasses

import pytest

from workbench.analysis.feature_checks import dominant_surface, meaning_groups, near_duplicates, surface_check
from workbench.saes.demo import demo_sae_folder
from workbench.saes.features import ATLAS_FILE, FeatureAtlas


def _atlas(layer):
    path = demo_sae_folder(layer) / ATLAS_FILE
    if not path.is_file():
        pytest.skip("the demo SAEs are not in this checkout")
    return FeatureAtlas.load(path)


@pytest.mark.parametrize(("layer", "feature", "surface"), [(22, 1519, "an"), (8, 2980, "arv")])
def test_surface_features_of_the_demo_saes_are_flagged(layer, feature, surface):
    check = surface_check(_atlas(layer), feature)
    assert check.dominated and check.surface == surface and check.coverage >= 0.5
    assert len(check.words) >= 2 and "unrelated words" in check.describe()


@pytest.mark.parametrize(("layer", "feature"), [(8, 809), (15, 852)])
def test_ocean_features_read_a_word_not_a_string(layer, feature):
    check = surface_check(_atlas(layer), feature)
    assert not check.dominated and check.words == ("ocean",)


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
