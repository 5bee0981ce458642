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


def test_normalized_mse_is_error_over_squared_norm_about_zero():
    x = np.array([[3.0, 4.0], [0.0, 1.0]])
    x_hat = np.array([[3.0, 3.0], [1.0, 1.0]])
    # Σ‖x − x̂‖² = 1 + 1; Σ‖x‖² = 25 + 1.
    assert metrics.normalized_mse(x, x_hat) == pytest.approx(2 / 26)


def test_kl_divergence_matches_the_definition():
    p_logits = np.array([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]])
    q_logits = np.array([[2.0, 1.0, 0.0], [5.0, 5.0, 5.0]])
    p = np.exp(p_logits[0]) / np.exp(p_logits[0]).sum()
    q = np.exp(q_logits[0]) / np.exp(q_logits[0]).sum()
    expected = float((p * np.log(p / q)).sum())
    kl = metrics.kl_divergence(p_logits, q_logits)
    assert kl[0] == pytest.approx(expected) and kl[1] == pytest.approx(0.0, abs=1e-12)
    assert metrics.kl_divergence(p_logits + 100.0, q_logits)[0] == pytest.approx(expected)  # shift-invariant


def _synthetic_tally(rng, texts, d=8, d_sae=12, vocab=7, huge=None):
    """A tally fed by hand: per text a residual with a large mean, a reconstruction with small errors, random
    activations and logits. `huge` = (text, position) gets a residual 1000× the others, reconstructed 1 % off."""
    tally = metrics.EvaluationTally(d_sae)
    rows = []
    for t, seq in enumerate(texts):
        resid = rng.normal(5.0, 1.0, size=(seq, d))
        x_hat = resid[1:] + rng.normal(0, 0.3, size=(seq - 1, d))
        if huge is not None and huge[0] == t:
            resid[huge[1]] *= 1000.0
            x_hat[huge[1] - 1] = resid[huge[1]] * 0.99
        acts = np.maximum(rng.normal(size=(seq - 1, d_sae)), 0)
        logits = {k: rng.normal(size=(seq, vocab)) for k in ("clean", "sae", "zero")}
        ids = list(rng.integers(0, vocab, size=seq))
        tally.add_text(t, ids, resid, x_hat, acts, logits)
        rows.append((resid, x_hat, acts, logits, ids))
    return tally, rows


def _strings(ids):
    return [f"<{i}>" for i in ids]


def test_every_figure_of_an_evaluation_matches_a_direct_computation():
    rng = np.random.default_rng(1)
    tally, rows = _synthetic_tally(rng, [9, 12, 7, 10])
    result = tally.finish(_strings, n_boot=200)
    x = np.concatenate([r[0][1:] for r in rows])
    x_hat = np.concatenate([r[1] for r in rows])
    acts = np.concatenate([r[2] for r in rows])
    assert result.massive_tokens.count == 0 and result.fve == result.fve_all
    assert result.fve == pytest.approx(metrics.fve(x, x_hat))
    assert result.mse == pytest.approx(metrics.mse(x, x_hat))
    assert result.normalized_mse == pytest.approx(metrics.normalized_mse(x, x_hat))
    assert result.l0 == pytest.approx(metrics.l0(acts))
    assert result.dead_fraction == pytest.approx(float(((acts > 0).sum(0) == 0).mean()))
    np.testing.assert_allclose(result.feature_density, (acts > 0).mean(0), rtol=1e-6)

    def ce(logits, ids):  # next-token CE at positions 1..n-2, by hand
        z = logits[1:-1]
        log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -log_p[np.arange(len(z)), ids[2:]].sum()

    n_pred = sum(len(r[4]) - 2 for r in rows)
    ce_of = {k: sum(ce(r[3][k], r[4]) for r in rows) / n_pred for k in ("clean", "sae", "zero")}
    assert result.ce_clean == pytest.approx(ce_of["clean"], rel=1e-5)
    assert result.ce_loss_recovered == pytest.approx(
        (ce_of["zero"] - ce_of["sae"]) / (ce_of["zero"] - ce_of["clean"]), rel=1e-4
    )
    kl = sum(metrics.kl_divergence(r[3]["clean"][1:-1], r[3]["sae"][1:-1]).sum() for r in rows) / n_pred
    assert result.kl == pytest.approx(kl)
    low, high = result.fve_ci
    assert low <= result.fve <= high
    assert result.n_texts == 4 and result.n_tokens == len(x)


def test_one_massive_token_moves_fve_and_is_left_out_of_the_robust_figure():
    rng = np.random.default_rng(2)
    lengths = [20, 20, 20]
    plain, _ = _synthetic_tally(rng, lengths)
    rng = np.random.default_rng(2)
    with_huge, rows_huge = _synthetic_tally(rng, lengths, huge=(1, 5))
    result = with_huge.finish(_strings, n_boot=100)
    # The huge token dominates Σ‖x − μ‖²: FVE with it is near 1 although the SAE is no better elsewhere.
    assert result.fve_all > 0.99 > result.fve
    x = np.concatenate([r[0][1:] for r in rows_huge])
    x_hat = np.concatenate([r[1] for r in rows_huge])
    keep = np.ones(len(x), bool)
    keep[19 + 4] = False  # text 1 starts at row 19; position 5 is its row 4
    assert result.fve == pytest.approx(metrics.fve(x[keep], x_hat[keep]))
    assert result.fve_all == pytest.approx(metrics.fve(x, x_hat))
    assert result.mse == pytest.approx(metrics.mse(x[keep], x_hat[keep]))
    m = result.massive_tokens
    assert m.count == 1 and m.listed[0].text == 1 and m.listed[0].position == 5
    assert m.listed[0].norm == pytest.approx(float(np.linalg.norm(x[19 + 4])))
    norms = np.linalg.norm(x, axis=1)
    assert m.threshold == pytest.approx(10 * np.median(norms))
    assert m.as_dict()["by_token"] == {m.listed[0].token: 1}
    # Without the huge token the two runs are the same data: the robust figure did not move.
    assert plain.finish(_strings, n_boot=100).fve_all == pytest.approx(metrics.fve(x[keep], x_hat[keep]), abs=0.05)


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
    assert perfect.kl == pytest.approx(0.0, abs=1e-5) and perfect.normalized_mse == pytest.approx(0.0, abs=1e-10)


def test_evaluate_sae_figures_match_a_direct_computation_on_the_tiny_model(tmp_path):
    """The per-text pipeline: residuals, reconstruction and spliced logits recomputed here through the protocol."""
    import torch
    from sae_lens import SAE

    from workbench.models.protocol import ResidualSplice

    backend = tiny_backend()
    sae = SAE.load_from_disk(str(make_sae(tmp_path / "sae", d_in=64, layer=1, d_sae=96)))
    texts = ["the tide came in over the sand", "boats rocked in the harbour", "a third, shorter one"]
    result = metrics.evaluate_sae(backend, sae, 1, texts, n_boot=100)
    xs, hats, kls, n_pred = [], [], 0.0, 0
    for text in texts:
        ids = backend.encode_prompt(text, chat=False)
        clean = backend.forward(ids, capture=[1])
        x = clean.residuals[1][1:]
        with torch.no_grad():
            x_hat = sae.decode(sae.encode(torch.from_numpy(x))).numpy()
        spliced = backend.forward(ids, splice=ResidualSplice(1, x_hat, start=1))
        kls += metrics.kl_divergence(clean.logits[1:-1], spliced.logits[1:-1]).sum()
        n_pred += len(ids) - 2
        xs.append(x)
        hats.append(x_hat)
    x, x_hat = np.concatenate(xs), np.concatenate(hats)
    assert result.massive_tokens.count == 0
    assert result.fve == pytest.approx(metrics.fve(x, x_hat), rel=1e-5)
    assert result.normalized_mse == pytest.approx(metrics.normalized_mse(x, x_hat), rel=1e-5)
    assert result.kl == pytest.approx(kls / n_pred, rel=1e-4)
    assert result.pca_fve is not None and result.random_fve is not None
    assert result.n_texts == 3 and result.massive_tokens.position0["texts"] == 3


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
