"""Neighbours within an SAE: each measure against a direct computation, the cache, and bad input."""

import numpy as np
import pytest
import scipy.sparse as sp

from tests.factories import make_sae
from workbench.analysis import neighbours as nb
from workbench.analysis.coactivation import (
    cached_coactivations,
    coactivation_tables,
    correlation_of,
    jaccard_of,
)
from workbench.cancel import CancelToken
from workbench.errors import Cancelled, InputError


def test_top_cosines_match_the_full_matrix_though_computed_in_chunks():
    rows = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    table = nb.top_cosines(rows, k=5, chunk=7)
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    full = unit @ unit.T
    np.fill_diagonal(full, -np.inf)
    for i in range(50):
        expected = np.argsort(-full[i])[:5]
        assert list(table.ids[i]) == list(expected)
        np.testing.assert_allclose(table.values[i], full[i, expected], rtol=1e-5)


def test_jaccard_and_correlation_on_hand_made_activations():
    acts = np.array(
        [[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [3.0, 0.0, 1.0], [2.0, 4.0, 0.0], [0.0, 0.0, 5.0]], dtype=np.float32
    )
    # feature 0 fires on tokens {0, 2, 3}, feature 1 on {0, 1, 3}: 2 shared of 4 → 0.5
    assert jaccard_of(acts[:, 0], acts[:, 1]) == 0.5
    assert correlation_of(acts[:, 0], acts[:, 1]) == pytest.approx(np.corrcoef(acts[:, 0], acts[:, 1])[0, 1])
    jaccard, correlation = coactivation_tables(sp.csc_matrix(acts), k=2, chunk=2)
    assert jaccard.ids[0, 0] == 1 and jaccard.values[0, 0] == pytest.approx(0.5)
    for i in range(3):
        for j, value in zip(correlation.ids[i], correlation.values[i], strict=True):
            assert value == pytest.approx(np.corrcoef(acts[:, i], acts[:, j])[0, 1], abs=1e-6)
            assert j != i


def test_decoder_neighbours_are_the_cosines_of_the_decoder_rows(loaded_sae):
    result = nb.feature_neighbours(loaded_sae, 3, top=4)
    w_dec = loaded_sae.sae.W_dec.detach().numpy()
    unit = w_dec / np.linalg.norm(w_dec, axis=1, keepdims=True)
    cosines = unit @ unit[3]
    cosines[3] = -np.inf
    best = list(np.argsort(-cosines)[:4])
    decoder_sorted = [n.feature for n in result.neighbours][:4]
    assert decoder_sorted == best
    for n in result.neighbours:
        assert n.decoder_cosine == pytest.approx(float(unit[3] @ unit[n.feature]), abs=1e-5)
        w_enc = loaded_sae.sae.W_enc.detach().numpy().T
        e = w_enc / np.linalg.norm(w_enc, axis=1, keepdims=True)
        assert n.encoder_cosine == pytest.approx(float(e[3] @ e[n.feature]), abs=1e-5)
        assert n.jaccard is None and n.correlation is None
    record = result.to_dict()
    assert set(record) == {"layer", "feature", "label", "neighbours"}
    assert set(record["neighbours"][0]) == {
        "feature", "label", "decoder_cosine", "encoder_cosine", "jaccard", "correlation", "density"
    }  # fmt: skip


def test_direction_tables_are_cached_by_fingerprint(loaded_sae, monkeypatch):
    first = nb.direction_tables(loaded_sae)
    assert nb.cache_path(loaded_sae.fingerprint).is_file()
    monkeypatch.setattr(nb, "top_cosines", lambda *a, **k: pytest.fail("recomputed"))
    again = nb.direction_tables(loaded_sae)
    np.testing.assert_array_equal(first.decoder.ids, again.decoder.ids)


@pytest.mark.parametrize("feature", [-1, 128])
def test_a_feature_out_of_range_is_refused(loaded_sae, feature):
    with pytest.raises(InputError, match="does not exist"):
        nb.feature_neighbours(loaded_sae, feature)


def test_coactivation_on_a_tiny_model_matches_its_columns_and_is_cached(backend, tmp_path):
    from workbench.saes.loader import load_sae
    from workbench.saes.spec import SaeSpec

    folder = make_sae(tmp_path / "sae", d_in=backend.info.d_model, layer=1, d_sae=32)
    sae = load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", key="L1")
    texts = [f"the harbour boats number {i} sail at dawn" for i in range(12)]
    coact = cached_coactivations(backend, [sae], texts, "tiny")["L1"]
    assert coact.n_tokens > 0
    dense = coact.activations.toarray()
    for i in range(4):
        for j, value in coact.jaccard.row(i, 3):
            assert value == pytest.approx(jaccard_of(dense[:, i], dense[:, j]), abs=1e-6)
    result = nb.feature_neighbours(sae, 0, top=3, coactivation=coact)
    for n in result.neighbours:
        assert n.jaccard == pytest.approx(jaccard_of(dense[:, 0], dense[:, n.feature]), abs=1e-6)
        assert n.correlation == pytest.approx(correlation_of(dense[:, 0], dense[:, n.feature]), abs=1e-5)
    again = cached_coactivations(backend, [sae], texts, "tiny")["L1"]  # read back from the cache
    assert (again.activations != coact.activations).nnz == 0


def test_coactivation_can_be_cancelled(backend, loaded_sae):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        cached_coactivations(backend, [loaded_sae], ["some text to read " * 20] * 4, "tiny", cancel=token)
