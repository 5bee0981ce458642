"""PCA and random-decoder baselines and the bootstrap interval, each against a direct computation."""

import numpy as np
import pytest

from workbench.saes import baselines, metrics


def _data(rng, n_texts=6, per_text=15, d=5):
    mean = rng.normal(4.0, 1.0, size=d)
    x = mean + rng.normal(size=(n_texts * per_text, d)) * np.array([3.0, 2.0, 1.0, 0.5, 0.1])
    groups = np.repeat(np.arange(n_texts), per_text)
    return x, groups


def test_pca_is_fitted_on_the_other_fold_and_scored_with_the_sae_denominator():
    rng = np.random.default_rng(0)
    x, groups = _data(rng)
    err = baselines.pca_errors(x, groups, k=2)
    expected = np.zeros(len(x))
    for fold in (0, 1):
        fit, score = x[groups % 2 != fold], x[groups % 2 == fold]
        mean = fit.mean(0)
        _, _, vt = np.linalg.svd(fit - mean, full_matrices=False)
        basis = vt[:2].T
        c = score - mean
        expected[groups % 2 == fold] = ((c - c @ basis @ basis.T) ** 2).sum(1)
    np.testing.assert_allclose(err, expected, rtol=1e-8)
    # FVE of the baseline: 1 − Σ err / Σ‖x − μ‖² over the scored tokens, as for the SAE.
    assert baselines.fve_from_errors(x, err) == pytest.approx(1 - expected.sum() / ((x - x.mean(0)) ** 2).sum())
    full = baselines.pca_errors(x, groups, k=5)
    np.testing.assert_allclose(full, 0.0, atol=1e-9)
    assert baselines.pca_errors(x, np.zeros(len(x), int), k=2) is None  # one text: nothing to cross-fit


def test_fve_from_errors_equals_fve_of_the_reconstruction():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 1.0, size=(30, 4))
    x_hat = x + rng.normal(0, 0.4, size=x.shape)
    assert baselines.fve_from_errors(x, ((x - x_hat) ** 2).sum(1)) == pytest.approx(metrics.fve(x, x_hat))


def test_random_decoder_fits_least_squares_codes_on_the_k_most_correlated_directions():
    rng = np.random.default_rng(2)
    x, groups = _data(rng, d=5)
    k, d_sae = 2, 9
    err = baselines.random_decoder_errors(x, groups, k=k, d_sae=d_sae, seed=3)
    atoms = baselines.random_dictionary(d_sae, 5, seed=3)
    np.testing.assert_allclose(np.linalg.norm(atoms, axis=1), 1.0)
    for token in (0, 17, 44):  # by hand, one token at a time
        fold = groups[token] % 2
        c = x[token] - x[groups % 2 != fold].mean(0)
        chosen = np.argsort(-np.abs(atoms @ c))[:k]
        coef, *_ = np.linalg.lstsq(atoms[chosen].T, c, rcond=None)
        assert err[token] == pytest.approx(((c - atoms[chosen].T @ coef) ** 2).sum(), rel=1e-6)
    # With as many directions as dimensions the random codes reconstruct everything.
    np.testing.assert_allclose(baselines.random_decoder_errors(x, groups, k=5, d_sae=d_sae), 0.0, atol=1e-6)


def test_bootstrap_interval_resamples_texts_with_replacement():
    rng = np.random.default_rng(3)
    x, groups = _data(rng, n_texts=8, per_text=10)
    sq_err = rng.uniform(0.0, 2.0, size=len(x))
    low, high = baselines.bootstrap_fve(x, sq_err, groups, n_boot=300, seed=7)
    # Direct: the same draws, each replicate's tokens concatenated and FVE computed from scratch.
    draws = np.random.default_rng(7).integers(0, 8, size=(300, 8))
    values = []
    for row in draws:
        idx = np.concatenate([np.flatnonzero(groups == g) for g in row])
        values.append(baselines.fve_from_errors(x[idx], sq_err[idx]))
    assert (low, high) == pytest.approx(tuple(np.percentile(values, [2.5, 97.5])))
    assert low <= baselines.fve_from_errors(x, sq_err) <= high
