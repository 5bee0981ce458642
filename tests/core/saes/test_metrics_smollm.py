"""The honest metrics on the real embedded SmolLM2 with a shipped demo SAE, bounded to a few short texts."""

import numpy as np
import pytest

from workbench.saes.demo import demo_sae_folder
from workbench.saes.metrics import evaluate_sae

pytestmark = pytest.mark.integration

TEXTS = [
    "The lighthouse keeper climbed the stairs every evening to light the lamp.",
    "def add(a, b):\n    return a + b",
    "Paris is the capital and most populous city of France.",
]


@pytest.fixture(scope="module")
def demo_l8(smollm_engine):
    from workbench.engine import Engine

    if not (demo_sae_folder(8) / "cfg.json").is_file():
        pytest.skip("resources/saes is not populated yet")
    engine = Engine()
    engine.use_backend(smollm_engine.backend)
    return engine.sae(engine.add_sae(str(demo_sae_folder(8))).key)


def test_a_demo_sae_beats_its_baselines_and_reports_the_first_positions_apart(smollm_engine, demo_l8):
    result = evaluate_sae(smollm_engine.backend, demo_l8.sae, 8, TEXTS, max_tokens_per_text=32, n_boot=200)
    assert result.n_texts == 3 and result.l0 == pytest.approx(32.0)
    assert result.fve_ci[0] <= result.fve <= result.fve_ci[1]
    # The SAE is worth more than the baselines (with ~90 tokens the cross-fitted PCA over-fits: no order there).
    assert result.fve > max(result.pca_fve, result.random_fve)
    assert 0 < result.normalized_mse < 1 and result.kl > 0 and result.ce_loss_recovered > 0.5
    # Position 0 is never scored; it is compared with the same threshold and counted apart.
    backend, m = smollm_engine.backend, result.massive_tokens
    first = [np.linalg.norm(backend.residuals(backend.encode_prompt(t, chat=False)[:32], [8])[8][0]) for t in TEXTS]
    assert m.position0 == {
        "scored": False,
        "texts": 3,
        "massive": sum(n > m.threshold for n in first),
        "norm_median": pytest.approx(float(np.median(first)), rel=1e-5),
    }
    assert result.massive_tokens.as_dict()["threshold"] == pytest.approx(10 * result.massive_tokens.median_norm)
    assert np.isfinite(result.fve_all) and result.n_tokens == sum(
        min(len(smollm_engine.backend.encode_prompt(t, chat=False)), 32) - 1 for t in TEXTS
    )
