"""Per-row seeds: a batch of rows with different seeds draws, row by row, what separate runs would draw."""

import dataclasses

from workbench.models.sampling import SamplingSettings
from workbench.steering.plan import SteeringPlan, Variant


def test_each_row_of_a_batch_draws_as_a_run_with_its_own_seed(sweep_engine):
    backend = sweep_engine.backend
    ids = backend.encode_prompt("The sea", chat=False)
    settings = SamplingSettings(temperature=1.0, top_p=1.0, max_new_tokens=10, stop_at_eos=False)
    plan = sweep_engine.compile(SteeringPlan((Variant("a"), Variant("b"), Variant("c"))))
    run = dataclasses.replace(backend.generate(ids, plan, settings), row_seeds=[3, 5, 3])
    batched = [p.token_ids for p in run.run().panes]
    alone = []
    for seed in (3, 5):
        one = sweep_engine.compile(SteeringPlan((Variant("a"),)))
        alone.append(backend.generate(ids, one, dataclasses.replace(settings, seed=seed)).run().panes[0].token_ids)
    assert batched == [alone[0], alone[1], alone[0]]
    assert alone[0] != alone[1]


def test_without_row_seeds_every_row_uses_the_settings_seed(sweep_engine):
    backend = sweep_engine.backend
    ids = backend.encode_prompt("The sea", chat=False)
    settings = SamplingSettings(seed=4, temperature=1.0, top_p=1.0, max_new_tokens=6, stop_at_eos=False)
    plan = sweep_engine.compile(SteeringPlan((Variant("a"), Variant("b"))))
    default = [p.token_ids for p in backend.generate(ids, plan, settings).run().panes]
    explicit = dataclasses.replace(backend.generate(ids, plan, settings), row_seeds=[4, 4])
    assert default == [p.token_ids for p in explicit.run().panes]
    assert default[0] == default[1]
