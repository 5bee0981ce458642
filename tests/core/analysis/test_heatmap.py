"""Heatmap data: the chunked, torch-only ranking picks the same features with the same activations as the
direct computation (one encode of the whole text, each position's top-k walked in Python)."""

import numpy as np
import pytest
import torch

from workbench.analysis import heatmap as hm
from workbench.saes.stats import FeatureStatistics

TEXT = "Waves crash on the shore at dawn, and the lighthouse keeper climbs the stairs again."


def direct(sae, resid, n_features):
    """The heatmap's features and (features, tokens) matrix computed the plain way, as the app did before."""
    with torch.no_grad():
        acts = sae.sae.encode(torch.from_numpy(resid)).float()
        values, ids = acts.topk(min(hm.TOP_K, sae.d_sae), dim=-1)
    best: dict[int, float] = {}
    stats = sae.stats
    for f, v in zip(ids[1:].ravel().tolist(), values[1:].ravel().tolist(), strict=True):
        if stats is not None:
            if stats.density[f] > hm.DENSE or stats.mean_activation[f] <= 0:
                continue
            v = v / float(stats.mean_activation[f])
        if v > best.get(f, 0.0):
            best[f] = v
    features = sorted(best, key=lambda f: -best[f])[:n_features]
    return tuple(features), acts[:, features].T.numpy()


@pytest.fixture
def text_ids(any_engine):
    return any_engine.backend.encode_prompt(TEXT, chat=False)


def _check_same_as_direct(engine, ids, monkeypatch, n_features=6):
    monkeypatch.setattr(hm, "CHUNK_VALUES", 128 * 5)  # 5 positions a chunk: the text spans many chunks
    monkeypatch.setattr(hm, "CHUNK_MIN_ROWS", 1)
    data = hm.build_heatmap(engine, "baseline", ids, 3, "L1", n_features=n_features)
    sae = engine.sae("L1")
    resid = engine.backend.residuals(ids, [1])[1]
    features, matrix = direct(sae, resid, n_features)
    assert data.features == features and len(features) == n_features
    assert data.matrix.dtype == np.float32 and data.matrix.shape == (n_features, len(ids))
    np.testing.assert_allclose(data.matrix, matrix, rtol=1e-6, atol=1e-7)
    return data


def test_the_heatmap_matches_the_direct_computation(any_engine, text_ids, monkeypatch):
    data = _check_same_as_direct(any_engine, text_ids, monkeypatch)
    assert data.layer == 1 and data.tokens == tuple(any_engine.backend.token_strings(text_ids))


def test_with_statistics_dense_and_never_active_features_are_left_out_as_before(any_engine, text_ids, monkeypatch):
    sae = any_engine.sae("L1")
    plain, _ = direct(sae, any_engine.backend.residuals(text_ids, [1])[1], 8)
    rng = np.random.default_rng(0)
    density = rng.uniform(0.0, 0.2, sae.d_sae).astype(np.float32)
    mean = rng.uniform(0.5, 2.0, sae.d_sae).astype(np.float32)
    density[plain[0]] = 0.6  # dense: left out
    mean[plain[1]] = 0.0  # never active on reference text: left out
    density[plain[2]] = np.float32(hm.DENSE)  # at the limit, as float32: kept
    sae.stats = FeatureStatistics(mean * 3, density, mean, 1.0, 100, "test")
    data = _check_same_as_direct(any_engine, text_ids, monkeypatch)
    assert plain[0] not in data.features and plain[1] not in data.features


def test_equal_peaks_keep_the_order_in_which_features_first_appear():
    ids = np.array([5, 3, 5, 7, 9, 3])
    values = np.array([1.0, 2.0, 2.0, 1.0, 0.0, -1.0], np.float32)
    assert hm.rank(ids, values, 10, None).tolist() == [5, 3, 7]  # 9 and 3's -1 never fired


def test_a_one_token_text_has_no_features_but_keeps_its_shape(any_engine):
    ids = any_engine.backend.encode_prompt(TEXT, chat=False)[:1]
    data = hm.build_heatmap(any_engine, "baseline", ids, 1, "L1")
    assert data.features == () and data.matrix.shape == (0, 1)
