"""Integration: generation on the real embedded SmolLM2 (CPU), with real sae-lens SAEs."""

import pytest

from tests.factories import make_sae
from workbench.cancel import CancelToken
from workbench.models.sampling import SamplingSettings
from workbench.steering.plan import EditMode, FeatureEdit, SteeringPlan, Variant

pytestmark = pytest.mark.integration

PROMPT = "Describe a walk along the beach."
GREEDY = SamplingSettings(temperature=0.0, max_new_tokens=16, stop_at_eos=False)


@pytest.fixture(scope="module")
def engine(smollm_engine, tmp_path_factory):
    if not any(s.layer == 8 for s in smollm_engine.saes):
        folder = make_sae(tmp_path_factory.mktemp("saes") / "L8", d_in=576, layer=8, d_sae=1024)
        smollm_engine.add_sae(str(folder))
    return smollm_engine


def _tokens(engine, plan, settings=GREEDY, prompt=PROMPT):
    return [p.token_ids for p in engine.generate(prompt, plan, settings).run().panes]


def test_strong_edit_changes_the_text_and_zero_strength_does_not(engine):
    plan = SteeringPlan.with_baseline(
        Variant("strong", (FeatureEdit(layer=8, feature=3, strength=40.0),)),
        Variant("zero", (FeatureEdit(layer=8, feature=3, strength=0.0),)),
    )
    result = engine.generate(PROMPT, plan, GREEDY).run()
    baseline, strong, zero = result.panes
    assert strong.token_ids != baseline.token_ids
    assert zero.token_ids == baseline.token_ids
    assert not strong.edits_fired[0].flagged and zero.edits_fired[0].flagged


def test_same_seed_gives_the_same_tokens_and_another_seed_does_not(engine):
    plan = SteeringPlan.with_baseline(Variant("v", (FeatureEdit(layer=8, feature=5, strength=8.0),)))
    sampled = SamplingSettings(seed=7, temperature=1.0, top_p=0.95, max_new_tokens=16, stop_at_eos=False)
    first = _tokens(engine, plan, sampled)
    assert _tokens(engine, plan, sampled) == first
    other = SamplingSettings(seed=8, temperature=1.0, top_p=0.95, max_new_tokens=16, stop_at_eos=False)
    assert _tokens(engine, plan, other) != first


def test_greedy_baseline_in_a_batch_equals_the_baseline_alone(engine):
    variants = [Variant(f"v{k}", (FeatureEdit(layer=8, feature=k, strength=10.0),)) for k in range(3)]
    batched = _tokens(engine, SteeringPlan.with_baseline(*variants))
    alone = _tokens(engine, SteeringPlan())
    assert batched[0] == alone[0]
    # And a steered pane alone equals the same pane inside the batch.
    assert _tokens(engine, SteeringPlan((variants[1],)))[0] == batched[2]


def test_adding_a_variant_does_not_change_the_other_panes_sampled_tokens(engine):
    sampled = SamplingSettings(seed=3, temperature=0.9, max_new_tokens=12, stop_at_eos=False)
    v1 = Variant("v1", (FeatureEdit(layer=8, feature=1, strength=6.0),))
    v2 = Variant("v2", (FeatureEdit(layer=8, feature=2, strength=6.0, mode=EditMode.ADD),))
    two = _tokens(engine, SteeringPlan.with_baseline(v1), sampled)
    three = _tokens(engine, SteeringPlan.with_baseline(v1, v2), sampled)
    assert three[:2] == two


def test_cancel_stops_within_one_token(engine):
    token = CancelToken()
    run = engine.generate(PROMPT, SteeringPlan(), SamplingSettings(max_new_tokens=40, stop_at_eos=False), cancel=token)
    seen = []
    for event in run:
        seen.append(event.step)
        if event.step == 3:
            token.cancel()
    assert seen == [1, 2, 3]
    assert run.result is not None and run.result.cancelled
    assert run.result.panes[0].finish_reason == "cancelled"
    assert len(run.result.panes[0].token_ids) == 3


def test_streamed_text_adds_up_to_the_final_text(engine):
    run = engine.generate(
        "Say something in French and in Japanese.",
        SteeringPlan(),
        SamplingSettings(temperature=0, max_new_tokens=24),
    )
    pieces = "".join(e.texts[0] or "" for e in run)
    assert run.result is not None
    assert pieces == run.result.panes[0].text[: len(pieces)]
    assert len(pieces) >= len(run.result.panes[0].text) - 4  # at most a held-back partial character


def test_chat_and_raw_prompts_differ(engine):
    chat = engine.backend.encode_prompt("hello", chat=True)
    raw = engine.backend.encode_prompt("hello", chat=False)
    assert len(chat) > len(raw)
    assert engine.backend.decode(raw).strip() == "hello"
    assert "hello" in engine.backend.decode(chat)


def test_feature_capture_returns_numpy_top_k_and_dense_slices(engine):
    acts = engine.features("The ocean waves crash on the shore.", top_k=4, features={"L8": [1, 2, 3]})["L8"]
    n = len(acts.tokens)
    assert acts.top_ids.shape == (n, 4) and acts.top_values.shape == (n, 4)
    assert acts.dense.shape == (n, 3)
    # The dense slice agrees with the top-k where a chosen feature is in the top-k.
    for pos in range(n):
        for f, v in acts.top_features(pos):
            if f in (1, 2, 3):
                assert acts.dense[pos, [1, 2, 3].index(f)] == pytest.approx(v)
    assert (acts.top_values[:, :-1] >= acts.top_values[:, 1:]).all()
