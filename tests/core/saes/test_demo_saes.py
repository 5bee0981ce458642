"""Feature assets (statistics, examples, top tokens, labels) and the demo SAEs shipped in resources/."""

import json

import numpy as np
import pytest

from tests.factories import make_sae, tiny_backend
from workbench.errors import InputError
from workbench.recipe.atlas import N_EXAMPLES, auto_label, build_assets
from workbench.saes.demo import demo_sae_folders
from workbench.saes.features import ATLAS_FILE, FeatureAtlas
from workbench.saes.stats import STATS_FILE, FeatureStatistics

TEXTS = [f"text number {i}: the sea, the ocean and the waves at dawn" for i in range(12)]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    from sae_lens import SAE

    backend = tiny_backend()
    sae = SAE.load_from_disk(str(make_sae(tmp_path_factory.mktemp("sae"), d_in=64, layer=1, d_sae=48)))
    (stats, atlas) = build_assets(backend, {1: sae}, TEXTS, "tiny texts")[1]
    return backend, sae, stats, atlas


def test_statistics_leave_out_position_zero_and_fit_the_sae(assets):
    _, _, stats, atlas = assets
    assert stats.n_tokens == sum(len(t) - 1 for t in TEXTS)  # byte tokenizer: one token per character
    assert stats.d_sae == atlas.d_sae == 48
    assert np.all(stats.density <= 1) and np.all(stats.max_activation >= 0)


def test_the_statistics_pass_alone_gives_the_same_statistics_as_the_assets_pass(assets):
    from workbench.saes.stats import compute_statistics

    backend, sae, stats, _ = assets
    alone = compute_statistics(backend, sae, 1, TEXTS, "tiny texts")
    assert alone.n_tokens == stats.n_tokens and alone.resid_norm == pytest.approx(stats.resid_norm)
    np.testing.assert_array_equal(alone.max_activation, stats.max_activation)
    np.testing.assert_array_equal(alone.density, stats.density)
    np.testing.assert_allclose(alone.mean_activation, stats.mean_activation, rtol=1e-6)
    # Hand check of one feature's density against its activations, position 0 left out.
    import torch

    ids = backend.encode_prompt(TEXTS[0], chat=False)
    resid = torch.from_numpy(backend.residuals(ids, [1])[1][1:])
    acts = sae.encode(resid).detach().numpy()
    one = compute_statistics(backend, sae, 1, TEXTS[:1], "one text")
    np.testing.assert_allclose(one.density, (acts > 0).mean(axis=0), rtol=1e-6)


def test_examples_come_from_distinct_texts_with_the_firing_token_marked(assets):
    _, _, stats, atlas = assets
    feature = int(np.argmax(stats.density))
    card = atlas.card(feature, stats)
    assert len(card["examples"]) == N_EXAMPLES >= 8
    acts = [e["activation"] for e in card["examples"]]
    assert acts == sorted(acts, reverse=True)
    assert card["max_act"] == pytest.approx(acts[0], rel=2e-3)
    first = card["examples"][0]
    assert first["text"].count("[[") == 1 and first["tokens"][first["position"]] in first["text"]
    assert len(card["promoted"]) == len(card["suppressed"]) == 10
    assert card["promoted"][0]["logit"] >= card["suppressed"][0]["logit"]
    assert card["label"] == atlas.labels[feature] and card["label"]
    with pytest.raises(InputError, match="out of range"):
        atlas.card(48)


def test_top_tokens_are_the_decoder_row_through_final_norm_and_unembedding(assets):
    import torch

    backend, sae, _, atlas = assets
    model = backend.model
    with torch.no_grad():
        logits = model.lm_head(model.model.norm(sae.W_dec[5:6].float()))[0]
    assert atlas.promoted[5][0] == int(logits.argmax()) and atlas.suppressed[5][0] == int(logits.argmin())


def test_atlas_round_trips_through_its_file(assets, tmp_path):
    atlas = assets[3]
    atlas.save(tmp_path / ATLAS_FILE)
    again = FeatureAtlas.load(tmp_path / ATLAS_FILE)
    assert again.labels == atlas.labels and again.token_strings == atlas.token_strings
    np.testing.assert_array_equal(again.ex_tokens, atlas.ex_tokens)
    assert again.card(3) == atlas.card(3)


def test_auto_label_weighs_firing_tokens_and_falls_back_to_promoted_ones():
    firing = [(" Ocean", 3.0), (" sea", 2.0), ("ocean", 2.5), (" waves", 1.0), (" sand", 0.5)]
    assert auto_label(firing, [" water"]) == "ocean · sea · waves"
    assert auto_label([(" the", 1.0), (" The", 2.0)], [" cat", " dog"]) == "the · → cat · → dog"
    assert auto_label([], []) == "(never fired)"


SHIPPED = demo_sae_folders()


@pytest.mark.skipif(not SHIPPED, reason="resources/saes is not populated yet (run packaging/train_demo_saes.py)")
def test_shipped_saes_load_fit_the_embedded_model_and_their_files_match():
    from sae_lens import SAE

    total = 0
    for folder in SHIPPED:
        sae = SAE.load_from_disk(str(folder))
        record = json.loads((folder / "training.json").read_text())
        assert sae.cfg.d_in == 576 and sae.cfg.d_sae >= 8 * 576
        assert sae.cfg.metadata.hook_name == f"model.layers.{record['layer']}" and record["layer"] < 30
        assert record["recipe"]["seed"] is not None
        stats = FeatureStatistics.load(folder / STATS_FILE)
        atlas = FeatureAtlas.load(folder / ATLAS_FILE)
        assert stats.d_sae == atlas.d_sae == sae.cfg.d_sae
        assert atlas.ex_act.shape[1] >= 8
        total += sum(p.stat().st_size for p in folder.iterdir())
    assert total <= 60 * 2**20
