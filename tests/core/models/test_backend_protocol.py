"""The core through the backend protocol only: every test here runs on the transformers backend and on a
minimal backend written in tests (minimal_backend.py), so nothing in the core may reach past the protocol."""

import dataclasses

import numpy as np
import pytest

from workbench.cancel import CancelToken
from workbench.errors import Cancelled, InputError, SteeringError
from workbench.models.protocol import Capabilities, ResidualSplice
from workbench.models.sampling import SamplingSettings
from workbench.steering.plan import EditMode, FeatureEdit, PositionScope, SteeringPlan, Variant

TEXT = "Waves crash on the shore at dawn."
GREEDY = SamplingSettings(temperature=0, max_new_tokens=6, stop_at_eos=False)


def _feature_that_fires(engine, key, ids):
    acts = engine.features(ids, [key], top_k=1)[key]
    return int(acts.top_ids[1:, 0][np.argmax(acts.top_values[1:, 0])])


# -- text ---------------------------------------------------------------------------------------------------
def test_text_round_trips_and_every_token_has_a_string(any_backend):
    ids = any_backend.encode_prompt("hello there", chat=False)
    assert any_backend.decode(ids).strip() == "hello there"
    assert len(any_backend.token_strings(ids)) == len(ids)
    assert "".join(any_backend.token_strings(any_backend.encode_text("abc"))) == "abc"
    chat = any_backend.encode_prompt("hello", chat=True)
    assert len(chat) > len(any_backend.encode_text("hello")) and "hello" in any_backend.decode(chat)


# -- capture ------------------------------------------------------------------------------------------------
def test_residuals_are_block_outputs_and_agree_across_every_capture_path(any_backend):
    ids = any_backend.encode_prompt(TEXT, chat=False)
    resid = any_backend.residuals(ids, [1, 3])
    assert resid[1].shape == (len(ids), any_backend.info.d_model) and resid[1].dtype == np.float32
    batch = any_backend.residual_batch([ids, ids], [1])
    assert batch[1].shape == (2, len(ids), any_backend.info.d_model)
    np.testing.assert_allclose(batch[1][1], resid[1], atol=1e-5)
    full = any_backend.forward(ids, capture=[3])
    np.testing.assert_allclose(full.residuals[3], resid[3], atol=1e-5)
    assert full.logits.shape == (len(ids), any_backend.info.vocab_size)
    with pytest.raises(InputError, match="layer 9 is out of range"):
        any_backend.residuals(ids, [9])


def test_a_batched_forward_of_rows_of_any_length_equals_each_row_alone(any_backend):
    prompt = any_backend.encode_prompt(TEXT, chat=False)
    rows = [[*prompt, 5, 9, 14, 3], [*prompt, 7], [*prompt, 11, 2]]  # one prompt, generated tails of 4, 1, 2
    batched = any_backend.forward_batch(rows, capture=[1, 3])
    assert len(batched) == len(rows)
    for row, passed in zip(rows, batched, strict=True):
        alone = any_backend.forward(row, capture=[1, 3])
        assert passed.logits.shape == alone.logits.shape == (len(row), any_backend.info.vocab_size)
        np.testing.assert_allclose(passed.logits, alone.logits, rtol=1e-5, atol=1e-5)
        for layer in (1, 3):
            assert passed.residuals[layer].shape == (len(row), any_backend.info.d_model)
            np.testing.assert_allclose(passed.residuals[layer], alone.residuals[layer], rtol=1e-5, atol=1e-5)
    with pytest.raises(InputError, match="every row at least one token"):
        any_backend.forward_batch([prompt, []])
    with pytest.raises(InputError, match="layer 9 is out of range"):
        any_backend.forward_batch([prompt], capture=[9])


def test_a_splice_of_the_residual_itself_changes_nothing_and_zeros_do(any_backend):
    ids = any_backend.encode_prompt(TEXT, chat=False)
    clean = any_backend.forward(ids, capture=[1])
    same = any_backend.forward(ids, splice=ResidualSplice(1, clean.residuals[1][1:], start=1))
    np.testing.assert_allclose(same.logits, clean.logits, atol=1e-4)
    zeroed = any_backend.forward(ids, splice=ResidualSplice(1, np.zeros_like(clean.residuals[1][1:]), start=1))
    np.testing.assert_allclose(zeroed.logits[0], clean.logits[0], atol=1e-4)  # position 0 is before the splice
    assert not np.allclose(zeroed.logits[1:], clean.logits[1:], atol=1e-3)


def test_the_logit_lens_ranks_like_the_full_final_norm_for_one_direction(any_backend):
    rng = np.random.default_rng(0)
    directions = rng.standard_normal((3, any_backend.info.d_model)).astype(np.float32)
    lens = any_backend.unembed(directions)
    full = any_backend.unembed(directions, normalize=True)
    assert lens.shape == full.shape == (3, any_backend.info.vocab_size)
    assert (lens.argmax(-1) == full.argmax(-1)).all()  # the norm only rescales each row


# -- steering -----------------------------------------------------------------------------------------------
def test_steered_generation_adds_clamps_and_ablates_and_counts_firings(any_engine):
    ids = any_engine.backend.encode_prompt(TEXT, chat=False)
    feature = _feature_that_fires(any_engine, "L1", ids)
    plan = SteeringPlan.with_baseline(
        Variant("add", (FeatureEdit(layer=1, feature=5, strength=4.0),)),
        Variant("clamp", (FeatureEdit(layer=1, feature=feature, strength=3.0, mode=EditMode.CLAMP),)),
        Variant("ablate", (FeatureEdit(layer=2, feature=7, mode=EditMode.ABLATE),)),
        Variant("late", (FeatureEdit(layer=1, feature=5, strength=4.0, positions=PositionScope.GENERATED),)),
    )
    result = any_engine.generate(TEXT, plan, GREEDY, chat=False).run()
    base, add, clamp, _ablate, late = result.panes
    assert base.edits_fired == ()
    assert add.edits_fired[0].positions == len(ids) + result.steps - 1  # every prompt and generated position
    assert late.edits_fired[0].positions == result.steps  # the last prompt position and each generated one
    assert not clamp.edits_fired[0].flagged
    again = any_engine.generate(TEXT, plan, GREEDY, chat=False).run()
    assert [p.token_ids for p in again.panes] == [p.token_ids for p in result.panes]


def test_sampled_tokens_are_identical_for_the_same_seed(any_engine):
    settings = SamplingSettings(seed=7, temperature=1.0, top_p=0.9, max_new_tokens=8, stop_at_eos=False)
    plan = SteeringPlan.with_baseline(Variant("v", (FeatureEdit(layer=2, feature=3, strength=2.0),)))
    first = any_engine.generate("The sea", plan, settings, chat=False).run()
    second = any_engine.generate("The sea", plan, settings, chat=False).run()
    assert [p.token_ids for p in first.panes] == [p.token_ids for p in second.panes]


def test_an_edit_mode_the_backend_lacks_is_refused_before_any_work(any_engine):
    add_only = dataclasses.replace(any_engine.backend.capabilities, modes=frozenset({EditMode.ADD}))
    plan = SteeringPlan.with_baseline(Variant("v", (FeatureEdit(layer=1, feature=2, mode=EditMode.CLAMP),)))
    backend = any_engine.backend
    saved = backend.capabilities
    backend.capabilities = add_only
    try:
        with pytest.raises(SteeringError, match="cannot clamp"):
            any_engine.compile(plan)
    finally:
        backend.capabilities = saved


# -- analyses -----------------------------------------------------------------------------------------------
def test_activations_and_the_heatmap(any_engine):
    from workbench.analysis.heatmap import build_heatmap

    ids = any_engine.backend.encode_prompt(TEXT, chat=False)
    acts = any_engine.features(ids, ["L1", "L2"], top_k=4, features={"L1": [3, 5]})
    assert acts["L1"].top_ids.shape == (len(ids), 4) and acts["L1"].dense.shape == (len(ids), 2)
    assert acts["L2"].tokens == tuple(any_engine.backend.token_strings(ids))
    heat = build_heatmap(any_engine, "baseline", ids, 3, "L1", n_features=5)
    assert heat.matrix.shape == (len(heat.features), len(ids)) and 0 < len(heat.features) <= 5
    assert heat.norms.shape == (2, len(ids)) and heat.norm_layers == (1, 2)


def test_a_cancelled_analysis_stops_before_any_work(any_engine):
    from workbench.analysis.feature_layers import feature_across_layers
    from workbench.analysis.heatmap import build_heatmap
    from workbench.analysis.inspect import feature_card

    token = CancelToken()
    token.cancel()
    ids = any_engine.backend.encode_prompt(TEXT, chat=False)
    with pytest.raises(Cancelled):
        build_heatmap(any_engine, "baseline", ids, 3, "L1", cancel=token)
    with pytest.raises(Cancelled):
        feature_across_layers(any_engine.backend, any_engine.saes, "L1", 3, ids, cancel=token)
    with pytest.raises(Cancelled):
        feature_card(any_engine.backend, any_engine.sae("L1"), 3, cancel=token)


def test_a_forward_cancelled_midway_stops_at_the_next_block_and_leaves_no_hook(any_backend):
    token = CancelToken()
    blocks_run = []

    def cancel_after_block_1(_module, _args, _output):
        blocks_run.append(1)
        token.cancel()

    block = any_backend.model.model.layers[1]
    handle = block.register_forward_hook(cancel_after_block_1)
    try:
        with pytest.raises(Cancelled):
            any_backend.residuals(any_backend.encode_prompt(TEXT, chat=False), [3], cancel=token)
    finally:
        handle.remove()
    assert blocks_run == [1]
    assert all(not b._forward_pre_hooks and not b._forward_hooks for b in any_backend.model.model.layers)


def test_a_backend_without_capture_refuses_analyses_in_one_line(any_engine):
    saved = any_engine.backend.capabilities
    any_engine.backend.capabilities = Capabilities(modes=frozenset({EditMode.ADD}), capture=False, batched=False)
    try:
        with pytest.raises(InputError, match="cannot capture activations, so it cannot show feature activations"):
            any_engine.features(TEXT, ["L1"])
        with pytest.raises(InputError, match="cannot capture activations"):
            any_engine.compute_statistics("L1", ["some text"], "unit test")
    finally:
        any_engine.backend.capabilities = saved


def test_the_feature_card_reads_promoted_tokens_through_the_protocol(any_engine):
    from workbench.analysis.inspect import feature_card

    card = feature_card(any_engine.backend, any_engine.sae("L2"), 4, n_tokens=5)
    assert len(card.promoted) == len(card.suppressed) == 5
    assert card.promoted[0][1] >= card.promoted[-1][1] >= card.suppressed[-1][1]


def test_statistics_and_metrics(any_engine):
    from workbench.saes.metrics import evaluate_sae

    texts = ["some text here", "more text, more words", "x"]
    stats = any_engine.compute_statistics("L1", texts, "unit test")
    assert stats.n_tokens == sum(len(any_engine.backend.encode_prompt(t, chat=False)) - 1 for t in texts[:2])
    sae = any_engine.sae("L1")
    metrics = evaluate_sae(any_engine.backend, sae.sae, 1, texts)
    assert metrics.n_tokens == stats.n_tokens
    assert metrics.ce_zero != metrics.ce_clean and np.isfinite(metrics.ce_loss_recovered)
    assert metrics.fve <= 1.0 and metrics.l0 > 0


def test_steer_effect_and_feature_across_layers(any_engine):
    from workbench.analysis.effect import steer_effect
    from workbench.analysis.feature_layers import feature_across_layers

    plan = SteeringPlan.with_baseline(Variant("v", (FeatureEdit(layer=1, feature=5, strength=8.0),)))
    result = any_engine.generate(TEXT, plan, GREEDY, chat=False).run()
    [row] = steer_effect(any_engine, plan, result)
    assert (row.variant, row.layer, row.feature) == ("v", 1, 5)
    ids = list(result.prompt_ids)
    layers = feature_across_layers(any_engine.backend, any_engine.saes, "L1", 5, ids)
    assert [r.layer for r in layers.rows] == [1, 2] and layers.activations.shape == (2, len(ids))


def test_a_session_records_the_model_through_the_protocol(any_engine):
    from workbench.session.record import record_session

    plan = SteeringPlan.with_baseline(Variant("v", (FeatureEdit(layer=1, feature=5, strength=2.0),)))
    result = any_engine.generate(TEXT, plan, GREEDY, chat=False).run()
    session = record_session(any_engine, TEXT, plan, GREEDY, chat=False, result=result)
    info = any_engine.backend.info
    assert (session.model.architecture, session.model.n_layers, session.model.d_model) == ("llama", 4, 64)
    assert session.model.name == info.name and [s.key for s in session.saes] == ["L1", "L2"]
    assert session.outputs[1].edits[0].positions == result.panes[1].edits_fired[0].positions
