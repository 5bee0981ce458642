"""A quick sweep on the real embedded SmolLM2 with the demo SAE at layer 15 ("sea · ocean · water", f3877)."""

import pytest

from workbench.saes.demo import demo_sae_folder
from workbench.saes.stats import STATS_FILE, FeatureStatistics
from workbench.steering.plan import StrengthUnit
from workbench.sweeps.runner import run_sweep
from workbench.sweeps.spec import SweepPrompt, SweepSpec, SweepTarget
from workbench.sweeps.summary import summarise

pytestmark = pytest.mark.integration


@pytest.fixture
def demo_engine(smollm_engine):
    folder = demo_sae_folder(15)
    if not (folder / "cfg.json").is_file():
        pytest.skip("the demo SAEs are not in this checkout")
    smollm_engine.add_sae(str(folder), key="sweep-L15")
    yield smollm_engine
    smollm_engine.remove_sae("sweep-L15")


def test_magnitude_sweep_on_the_demo_ocean_feature(demo_engine):
    spec = SweepSpec(
        targets=(SweepTarget("sweep-L15", 3877),),
        strengths=(0.0, 10.0),
        prompts=(SweepPrompt("Tell me about your weekend plans."),),
        unit=StrengthUnit.MAXACT,
        max_new_tokens=8,
    )
    result = run_sweep(demo_engine, spec)
    (target,) = result.targets
    stats = FeatureStatistics.load(demo_sae_folder(15) / STATS_FILE)
    assert target.max_activation == pytest.approx(float(stats.max_activation[3877]))  # concept is in units of it
    zero, strong = result.rows
    (base,) = result.baseline
    assert zero.token_ids == base.token_ids and zero.concept == base.concept and zero.nll == base.nll
    assert strong.token_ids != base.token_ids
    kl = {d.strength: d.kl for d in result.drift}
    assert kl[0.0] == pytest.approx(0.0, abs=1e-6) and kl[10.0] > 0.1
    summary = summarise(result)
    assert [c.strength for c in summary.cells] == [0.0, 10.0]
