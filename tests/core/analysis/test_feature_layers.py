"""One feature across layers: the anchor at its own SAE, its nearest decoder direction at every other SAE."""

import numpy as np
import pytest

from tests.factories import make_sae
from workbench.analysis.feature_layers import (
    WEAK_MATCH,
    best_match,
    feature_across_layers,
    scale_rows,
    unit_rows,
)
from workbench.errors import InputError


def test_best_match_is_the_largest_cosine_not_the_largest_dot_product():
    decoder = np.array([[10.0, 1.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    feature, cosine = best_match(np.array([0.0, 2.0, 0.0]), unit_rows(decoder))
    assert feature == 1 and cosine == pytest.approx(1.0)
    # An anti-parallel direction is the least similar, not the most.
    feature, cosine = best_match(np.array([1.0, 0.0, 0.0]), unit_rows(decoder))
    assert feature == 0 and cosine == pytest.approx(10 / np.sqrt(101))


def test_rows_scale_by_their_reference_max_else_by_their_own_max():
    acts = np.array([[0.0, 2.0, 4.0], [1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    scaled = scale_rows(acts, [8.0, None, None])
    np.testing.assert_allclose(scaled, [[0.0, 0.25, 0.5], [1 / 3, 1.0, 0.0], [0.0, 0.0, 0.0]])


def _load(folder, backend, key):
    from workbench.saes.loader import load_sae
    from workbench.saes.spec import SaeSpec

    return load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", key=key)


def _plant(folder, row, direction):
    """Overwrite one decoder row of the SAE on disk (so its fingerprint changes with it)."""
    import torch
    from sae_lens import SAE

    sae = SAE.load_from_disk(str(folder))
    with torch.no_grad():
        sae.W_dec.data[row] = torch.as_tensor(direction, dtype=sae.W_dec.dtype)
    sae.save_model(str(folder))


@pytest.fixture
def three_saes(backend, tmp_path):
    d = backend.info.d_model
    l1 = make_sae(tmp_path / "l1", d_in=d, layer=1, d_sae=96, seed=1)
    l2 = make_sae(tmp_path / "l2", d_in=d, layer=2, d_sae=80, seed=2)
    l3 = make_sae(tmp_path / "l3", d_in=d, layer=3, d_sae=64, seed=3)
    anchor = _load(l1, backend, "L1")
    direction = anchor.sae.W_dec.detach()[5].numpy()
    rng = np.random.default_rng(0)
    _plant(l2, 7, 3.0 * direction + 0.05 * rng.standard_normal(d))  # a scaled, slightly noisy copy
    return [_load(l3, backend, "L3"), anchor, _load(l2, backend, "L2")]


def test_one_row_per_sae_by_layer_with_the_anchor_and_its_counterparts(backend, three_saes):
    from workbench.saes.activations import capture_activations

    ids = backend.encode_prompt("Waves crash on the shore at dawn.", chat=False)
    data = feature_across_layers(backend, three_saes, "L1", 5, ids, pane="baseline", prompt_len=3)
    assert [r.layer for r in data.rows] == [1, 2, 3]
    assert data.activations.shape == data.scaled.shape == (3, len(ids))
    assert len(data.tokens) == len(ids)
    anchor, planted, other = data.rows
    assert anchor.anchor and (anchor.feature, anchor.cosine) == (5, 1.0) and data.anchor_row == 0
    assert planted.feature == 7 and planted.cosine > 0.95 and not planted.weak
    assert other.cosine < planted.cosine
    assert other.weak == (other.cosine < WEAK_MATCH)
    # Each row holds the activation of exactly the feature it names, at its own SAE.
    by_key = {s.key: s for s in three_saes}
    direct = capture_activations(backend, [by_key["L2"]], ids, features={"L2": [7]})["L2"].dense[:, 0]
    np.testing.assert_allclose(data.activations[1], direct, rtol=1e-5, atol=1e-6)
    assert data.scaled.max() <= 1.0 + 1e-6  # no statistics: each row is scaled by its own max


def test_a_feature_outside_the_sae_is_a_readable_error(backend, three_saes):
    with pytest.raises(InputError, match="feature 96 does not exist"):
        feature_across_layers(backend, three_saes, "L1", 96, [1, 2, 3])
    with pytest.raises(InputError, match="no SAE 'L9'"):
        feature_across_layers(backend, three_saes, "L9", 1, [1, 2, 3])
