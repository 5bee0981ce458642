"""The steering hooks on a tiny random Llama: exact math, positions, counts, and no hook left behind."""

import numpy as np
import pytest
import torch

from workbench.errors import SteeringError
from workbench.models.sampling import SamplingSettings
from workbench.steering.compiled import compile_plan
from workbench.steering.plan import EditMode, FeatureEdit, PositionScope, SteeringPlan, StrengthUnit, Variant


def _compile(backend, saes, *variants):
    return compile_plan(
        SteeringPlan.with_baseline(*variants), saes, backend.info, backend.capabilities, "cpu", torch.float32
    )


def _hook_count(backend):
    return sum(len(b._forward_hooks) for b in backend.blocks)


def _layer_output(backend, plan, ids, layer, start=0, prompt_len=None):
    """Run the model once with the plan attached and return block `layer`'s (steered) output."""
    seen = {}

    def grab(_m, _a, out):
        seen["x"] = out[0] if isinstance(out, tuple) else out

    batch = torch.tensor([ids] * plan.n_rows)
    with plan.attached(backend.blocks, start, prompt_len or len(ids)):
        handle = backend.blocks[layer].register_forward_hook(grab)  # runs after the steering hook
        try:
            with torch.no_grad():
                backend.model.model(input_ids=batch, use_cache=False)
        finally:
            handle.remove()
    return seen["x"]


IDS = [256, *range(72, 84)]


def test_add_changes_only_its_row_by_exactly_s_times_the_decoder_row(backend, loaded_sae):
    plan = _compile(backend, [loaded_sae], Variant("v", (FeatureEdit(layer=1, feature=5, strength=3.0),)))
    out = _layer_output(backend, plan, IDS, layer=1)
    delta = out[1] - out[0]
    expected = 3.0 * loaded_sae.sae.W_dec[5]
    torch.testing.assert_close(delta, expected.expand_as(delta), atol=1e-5, rtol=1e-5)


def test_clamp_delta_equals_the_sae_decode_difference(backend, loaded_sae):
    sae = loaded_sae.sae
    clean = backend.residuals(IDS, [1])[1]
    x = torch.from_numpy(clean)
    f = sae.encode(x)
    feature = int(f.sum(0).argmax())  # a feature that fires on this text
    c = 2.5
    plan = _compile(
        backend,
        [loaded_sae],
        Variant("v", (FeatureEdit(layer=1, feature=feature, strength=c, mode=EditMode.CLAMP),)),
    )
    steered = _layer_output(backend, plan, IDS, layer=1)[1]
    f_clamped = f.clone()
    f_clamped[:, feature] = c
    expected = sae.decode(f_clamped) - sae.decode(f)  # error term x − decode(f) is untouched
    torch.testing.assert_close(steered - x, expected, atol=1e-5, rtol=1e-4)
    # Where the feature was active (the encoder's linear region), re-encoding the steered residual reads c.
    active = f[:, feature] > 0
    assert active.any()
    reread = sae.encode(steered)[active, feature]
    torch.testing.assert_close(reread, torch.full_like(reread, c), atol=1e-4, rtol=1e-4)


def test_clamp_respects_the_saes_input_normalisation(backend, tmp_path):
    from tests.factories import make_sae
    from workbench.saes.loader import load_sae
    from workbench.saes.spec import SaeSpec

    folder = make_sae(tmp_path / "normed", d_in=backend.info.d_model, layer=2, normalize="constant_norm_rescale")
    loaded = load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", key="L2")
    sae = loaded.sae
    x = torch.from_numpy(backend.residuals(IDS, [2])[2])
    f = sae.encode(x)
    feature = int(f.sum(0).argmax())
    plan = _compile(
        backend,
        [loaded],
        Variant("v", (FeatureEdit(layer=2, feature=feature, strength=0.0, mode=EditMode.ABLATE),)),
    )
    steered = _layer_output(backend, plan, IDS, layer=2)[1]
    f_ablated = f.clone()
    f_ablated[:, feature] = 0
    # decode un-normalises with the scale stored by the last encode (and consumes it): encode before each.
    sae.encode(x)
    expected = sae.decode(f_ablated)
    sae.encode(x)
    expected = expected - sae.decode(f)
    torch.testing.assert_close(steered - x, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    ("scope", "changed"),
    [
        (PositionScope.ALL, range(0, 13)),
        (PositionScope.PROMPT, range(0, 8)),
        (PositionScope.GENERATED, range(7, 13)),
    ],
)
def test_position_scopes_change_exactly_their_positions(backend, loaded_sae, scope, changed):
    edit = FeatureEdit(layer=1, feature=3, strength=4.0, positions=scope)
    plan = _compile(backend, [loaded_sae], Variant("v", (edit,)))
    # Pretend the first 8 tokens are the prompt and the rest were generated.
    out = _layer_output(backend, plan, IDS, layer=1, prompt_len=8)
    moved = (out[1] - out[0]).norm(dim=-1) > 1e-6
    assert moved.nonzero().flatten().tolist() == list(changed)
    [[firing]] = plan.firing_report()[1:]
    assert firing.positions == len(changed)


def test_generated_scope_applies_at_every_new_position_with_the_kv_cache(backend, loaded_sae):
    edit = FeatureEdit(layer=1, feature=3, strength=4.0, positions=PositionScope.GENERATED)
    plan = _compile(backend, [loaded_sae], Variant("v", (edit,)))
    settings = SamplingSettings(temperature=0, max_new_tokens=6, stop_at_eos=False)
    result = backend.generate(IDS, plan, settings).run()
    # The last prompt position in the prefill, then one position per later decoding step.
    assert result.panes[1].edits_fired[0].positions == 1 + (result.steps - 1)
    assert result.panes[0].edits_fired == ()


def test_hooks_are_removed_after_an_error_inside_the_forward(backend, loaded_sae):
    plan = _compile(backend, [loaded_sae], Variant("v", (FeatureEdit(layer=1, feature=3, strength=1.0),)))

    def explode(*_):
        raise RuntimeError("boom")

    handle = backend.blocks[2].register_forward_hook(explode)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            backend.generate(IDS, plan, SamplingSettings(max_new_tokens=3)).run()
    finally:
        handle.remove()
    assert _hook_count(backend) == 0


def test_hooks_are_removed_when_a_stream_is_abandoned(backend, loaded_sae):
    plan = _compile(backend, [loaded_sae], Variant("v", (FeatureEdit(layer=1, feature=3, strength=1.0),)))
    stream = iter(backend.generate(IDS, plan, SamplingSettings(max_new_tokens=20, stop_at_eos=False)))
    next(stream)
    assert _hook_count(backend) == 0  # hooks live only during a forward pass, not between tokens


def test_zero_strength_and_unfired_ablation_are_flagged(backend, loaded_sae):
    sae = loaded_sae.sae
    f = sae.encode(torch.from_numpy(backend.residuals(IDS, [1])[1]))
    silent = int((f.max(0).values == 0).nonzero()[0])  # a feature that never fires on this text
    variants = (
        Variant(
            "zero",
            (FeatureEdit(layer=1, feature=3, strength=0.0), FeatureEdit(layer=1, feature=4, strength=2.0)),
        ),
        Variant("silent", (FeatureEdit(layer=1, feature=silent, mode=EditMode.ABLATE),)),
    )
    plan = _compile(backend, [loaded_sae], *variants)
    # One token: only the prompt positions pass through the model, where `silent` never fires.
    result = backend.generate(IDS, plan, SamplingSettings(temperature=0, max_new_tokens=1)).run()
    assert [f.flagged for f in result.panes[1].edits_fired] == [True, False]
    assert [f.flagged for f in result.panes[2].edits_fired] == [True]


def test_units_need_statistics_and_use_them(backend, loaded_sae):
    edit = FeatureEdit(layer=1, feature=5, strength=2.0, unit=StrengthUnit.MAXACT)
    with pytest.raises(SteeringError, match="not computed yet"):
        _compile(backend, [loaded_sae], Variant("v", (edit,)))
    from workbench.saes.stats import compute_statistics

    loaded_sae.stats = compute_statistics(backend, loaded_sae.sae, 1, ["hello world", "steering"], "test")
    fired = np.flatnonzero(loaded_sae.stats.max_activation > 0)
    edit = FeatureEdit(layer=1, feature=int(fired[0]), strength=2.0, unit=StrengthUnit.MAXACT)
    plan = _compile(backend, [loaded_sae], Variant("v", (edit,)))
    [[firing]] = plan.firing_report()[1:]
    assert firing.raw_strength == pytest.approx(2.0 * float(loaded_sae.stats.max_activation[fired[0]]))
    silent = int(np.flatnonzero(loaded_sae.stats.max_activation == 0)[0])
    with pytest.raises(SteeringError, match="never fired"):
        _compile(
            backend,
            [loaded_sae],
            Variant("v", (FeatureEdit(layer=1, feature=silent, strength=1.0, unit=StrengthUnit.MAXACT),)),
        )


def test_edits_that_do_not_fit_are_rejected_with_clear_messages(backend, loaded_sae):
    cases = [
        (FeatureEdit(layer=9, feature=1, strength=1.0), "out of range"),
        (FeatureEdit(layer=2, feature=1, strength=1.0), "no SAE is loaded at layer 2"),
        (FeatureEdit(layer=1, feature=500, strength=1.0), "features 0–127"),
        (FeatureEdit.from_vector(1, np.ones(3)), "needs 64 values"),
    ]
    for edit, message in cases:
        with pytest.raises(SteeringError, match=message):
            _compile(backend, [loaded_sae], Variant("v", (edit,)))


def test_raw_vector_edit_adds_the_vector(backend, loaded_sae):
    vec = np.linspace(-1, 1, backend.info.d_model)
    plan = _compile(backend, [], Variant("v", (FeatureEdit.from_vector(2, vec, strength=0.5),)))
    out = _layer_output(backend, plan, IDS, layer=2)
    torch.testing.assert_close(
        out[1] - out[0],
        torch.tensor(0.5 * vec, dtype=torch.float32).expand(len(IDS), -1),
        atol=1e-5,
        rtol=1e-5,
    )
