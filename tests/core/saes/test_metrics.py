"""SAE quality metrics against hand-computed references, and the end-to-end evaluation on a tiny model."""

import numpy as np
import pytest

from tests.factories import make_sae, tiny_backend
from workbench.saes import metrics


def test_l0_counts_positive_activations_per_token():
    acts = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 0.5], [-1.0, 0.0, 0.0]])
    assert metrics.l0(acts) == pytest.approx((2 + 1 + 0) / 3)


def test_fve_measures_variance_about_the_mean_not_about_zero():
    # x has a large mean (10, -4); the reconstruction is off by 1 in every coordinate of the first token.
    x = np.array([[11.0, -3.0], [9.0, -5.0], [10.0, -4.0], [10.0, -4.0]])
    x_hat = x.copy()
    x_hat[0] += 1.0
    # Σ‖x − x̂‖² = 2; μ = (10, −4); Σ‖x − μ‖² = 2 + 2 + 0 + 0 = 4 → FVE = 1 − 2/4.
    assert metrics.fve(x, x_hat) == pytest.approx(0.5)
    about_zero = 1 - 2 / float((x**2).sum())
    assert about_zero > 0.99  # the about-zero formula would call this reconstruction nearly perfect


def test_mse_is_the_mean_over_tokens_and_dimensions():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    x_hat = np.array([[1.0, 0.0], [3.0, 5.0]])
    assert metrics.mse(x, x_hat) == pytest.approx((0 + 4 + 0 + 1) / 4)


def test_dead_and_dense_fractions():
    counts = np.array([0, 5, 50, 0, 11])
    assert metrics.dead_fraction(counts) == pytest.approx(2 / 5)
    # densities over 100 tokens: 0, .05, .5, 0, .11 → two features above 10 %
    assert metrics.dense_fraction(counts, n_tokens=100) == pytest.approx(2 / 5)


def test_ce_loss_recovered_and_delta_loss():
    assert metrics.ce_loss_recovered(ce_clean=2.0, ce_sae=2.5, ce_zero=7.0) == pytest.approx(4.5 / 5.0)
    assert metrics.delta_loss(ce_clean=2.0, ce_sae=2.5) == pytest.approx(0.5)
    assert metrics.ce_loss_recovered(2.0, 2.0, 7.0) == pytest.approx(1.0)
    assert metrics.ce_loss_recovered(2.0, 7.0, 7.0) == pytest.approx(0.0)


def test_streaming_tally_matches_the_batch_formulas():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(50, 6))
    x_hat = x + rng.normal(0, 0.5, size=x.shape)
    acts = np.maximum(rng.normal(size=(50, 9)), 0)
    tally = metrics.ReconstructionTally(6, 9)
    for chunk in (slice(0, 7), slice(7, 31), slice(31, 50)):
        tally.add(x[chunk], x_hat[chunk], acts[chunk])
    assert tally.fve() == pytest.approx(metrics.fve(x, x_hat))
    assert tally.mse() == pytest.approx(metrics.mse(x, x_hat))
    assert tally.l0() == pytest.approx(metrics.l0(acts))
    assert tally.n == 50


def test_evaluate_sae_on_a_tiny_model(tmp_path):
    import torch
    from sae_lens import SAE

    backend = tiny_backend()
    sae = SAE.load_from_disk(str(make_sae(tmp_path / "sae", d_in=64, layer=1, d_sae=96)))
    texts = ["the quick brown fox jumps over the lazy dog", "hello world, again and again", "x"]
    result = metrics.evaluate_sae(backend, sae, 1, texts)
    assert (
        result.n_tokens
        == len("the quick brown fox jumps over the lazy dog") - 1 + len("hello world, again and again") - 1
    )
    assert 0 <= result.dead_fraction <= 1 and 0 <= result.dense_fraction <= 1
    assert result.delta_loss == pytest.approx(result.ce_sae - result.ce_clean)
    expected = (result.ce_zero - result.ce_sae) / (result.ce_zero - result.ce_clean)
    assert result.ce_loss_recovered == pytest.approx(expected)
    # An SAE that reconstructs perfectly recovers all of the loss.
    with torch.no_grad():
        perfect = metrics.evaluate_sae(backend, _IdentitySae(64), 1, texts[:1])
    assert perfect.fve == pytest.approx(1.0) and perfect.ce_loss_recovered == pytest.approx(1.0, abs=1e-4)


class _IdentitySae:
    """Encode = identity (positive part and negative part as two features), decode = their difference."""

    def __init__(self, d: int) -> None:
        import torch

        self.W_dec = torch.zeros(2 * d, d)
        self.cfg = type("Cfg", (), {"d_in": d, "d_sae": 2 * d})()

    def encode(self, x):
        import torch

        return torch.cat([x.clamp(min=0), (-x).clamp(min=0)], dim=-1)

    def decode(self, f):
        d = f.shape[-1] // 2
        return f[..., :d] - f[..., d:]
