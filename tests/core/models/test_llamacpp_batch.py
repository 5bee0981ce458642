"""2+ panes as sequences of one llama.cpp context (models/llamacpp_batch.py): the same tokens as a context per
pane, each row steered by its own pane's vector, and the ubatch plan that keeps llama.cpp's kernels the same."""

import numpy as np
import pytest

from workbench.cancel import CancelToken
from workbench.engine import Engine
from workbench.models.control_vector import control_vector
from workbench.models.llamacpp_batch import decode_calls
from workbench.models.llamacpp_native import N_UBATCH, NativeContext
from workbench.models.sampling import SamplingSettings
from workbench.steering.plan import FeatureEdit, PositionScope, SteeringPlan, Variant

GREEDY = SamplingSettings(temperature=0, max_new_tokens=16, stop_at_eos=False)
SAMPLED = SamplingSettings(
    seed=7, temperature=1.0, top_p=0.95, top_k=50, repetition_penalty=1.1, max_new_tokens=16, stop_at_eos=False
)
# Over 512 tokens: several ubatches, and a last one of 64+ tokens (llama.cpp's tiled attention).
LONG = "Summarise this. " + " ".join(f"The heron was seen near the river on day {i}." for i in range(46))


def _vector(seed: int, scale: float) -> tuple[float, ...]:
    return tuple(float(x) for x in np.random.default_rng(seed).standard_normal(576) * scale)


def _edit(layer: int, seed: int, scale: float = 2.0, positions=PositionScope.ALL) -> FeatureEdit:
    return FeatureEdit(layer=layer, vector=_vector(seed, scale), strength=1.0, positions=positions)


# Baseline, then panes whose own contexts split the prompt differently: `generated` sets its vector at the last
# prompt position (a cut there), `all` and `prompt` do not; the split panes are not neighbours (rows 1 and 3).
PLAN = SteeringPlan.with_baseline(
    Variant("gen", (_edit(3, 1, 1.5, PositionScope.GENERATED), _edit(29, 2, 3.0))),
    Variant("all", (_edit(8, 3),)),
    Variant("gen8", (_edit(8, 4, positions=PositionScope.GENERATED),)),
    Variant("prompt", (_edit(8, 5, positions=PositionScope.PROMPT), _edit(15, 6))),
)


@pytest.fixture(scope="module")
def engine():
    from workbench.models.llamacpp import LlamaCppBackend
    from workbench.models.spec import ModelSpec

    backend = LlamaCppBackend.load(ModelSpec.parse("default"), device="cpu", threads=1)
    engine = Engine()
    engine.use_backend(backend)
    yield engine
    backend.close()


def _panes(engine, prompt, plan, settings, batched):
    engine.backend.batch_panes = batched
    try:
        return engine.generate(prompt, plan, settings).run().panes
    finally:
        engine.backend.batch_panes = True


def test_decode_calls_keep_each_panes_ubatches_in_one_ubatch_each():
    unsplit = ((0, 512), (512, 830))
    split = ((0, 512), (512, 829), (829, 830))
    layouts = [unsplit, split, unsplit, split, unsplit]
    n_ubatch = max(N_UBATCH, 128 * len(layouts))
    calls = decode_calls(layouts, n_ubatch)
    for row, layout in enumerate(layouts):
        mine = [(lo, hi) for first, end, lo, hi in calls if first <= row < end]
        assert [p for lo, hi in mine for p in range(lo, hi)] == list(range(830))  # every position once, in order
        for lo, hi in mine:  # inside one of its own ubatches, and on the same side of 64 tokens
            [(a, b)] = [(a, b) for a, b in layout if a <= lo and hi <= b]
            assert (hi - lo >= 64) == (b - a >= 64) and (hi - lo == 1) == (b - a == 1)
    assert all((end - first) * (hi - lo) <= n_ubatch for first, end, lo, hi in calls)
    assert calls[0] == (0, 5, 0, 128)  # the shared first 512 tokens run for all panes at once
    assert {(first, end) for first, end, lo, _ in calls if lo >= 512} == {(i, i + 1) for i in range(5)}


@pytest.mark.integration
@pytest.mark.parametrize("settings", [GREEDY, SAMPLED], ids=["greedy", "sampled"])
def test_batched_panes_give_the_tokens_of_a_context_per_pane(engine, settings):
    ours = _panes(engine, "Write a haiku about autumn.", PLAN, settings, batched=True)
    theirs = _panes(engine, "Write a haiku about autumn.", PLAN, settings, batched=False)
    assert [p.token_ids for p in ours] == [p.token_ids for p in theirs]
    assert [p.edits_fired for p in ours] == [p.edits_fired for p in theirs]
    assert len({p.token_ids for p in ours}) == len(ours)  # every pane was steered its own way


def _prompt_and_step_logits(engine, prompt, plan, batched):
    import torch

    backend = engine.backend
    backend.batch_panes = batched
    try:
        ids = backend.encode_prompt(prompt, chat=True)
        compiled = engine.compile(plan)
        run = backend.generate(ids, compiled, GREEDY)
        cache = run.new_cache()
        first = run.forward(torch.tensor([ids] * compiled.n_rows), 0, cache).numpy().copy()
        step = run.forward(torch.tensor([[42]] * compiled.n_rows), len(ids), cache).numpy().copy()
        return len(ids), first, step
    finally:
        backend.batch_panes = True


@pytest.mark.integration
def test_a_prompt_over_several_ubatches_gives_the_same_logits_bit_for_bit(engine):
    """Logits, not tokens: a different ubatch split moves logits by tenths, which greedy tokens often hide."""
    plan = SteeringPlan(PLAN.variants[:4])  # baseline, a split pane, an unsplit one, a split one
    n, *ours = _prompt_and_step_logits(engine, LONG, plan, batched=True)
    _, *theirs = _prompt_and_step_logits(engine, LONG, plan, batched=False)
    assert n > N_UBATCH + 64
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.integration
def test_each_sequence_gets_its_own_rows_with_different_tokens_per_row(engine):
    """Straight at the context: three texts of one length, each row its own vector at layers 5 and 29 (the last
    block keeps only the rows with logits), against one context per row with llama.cpp's control vector."""
    from workbench.models.llamacpp_batch import PaneBatch

    backend = engine.backend
    texts = ["The cat sat on the warm mat today.", "A ship sailed over the grey sea.", "Numbers add up to ten here."]
    rows = [backend.encode_text(t)[:7] for t in texts]
    vectors = [
        {5: np.asarray(_vector(10 + r, 2.0), np.float32), 29: np.asarray(_vector(20 + r, 2.0), np.float32)}
        for r in range(3)
    ]
    deltas = {layer: np.stack([v[layer] for v in vectors])[:, None, :].repeat(7, axis=1) for layer in (5, 29)}
    batch = PaneBatch(backend.native, 3, 1024, 1)
    try:
        got = batch.decode(rows, 0, deltas, [((0, 7),)] * 3)
    finally:
        batch.close()
    for r, tokens in enumerate(rows):
        ctx = NativeContext(backend.native, 1024, 1)
        try:
            ctx.set_vector(control_vector(list(vectors[r].items()), 30, 576))
            ctx.decode(tokens, 0)
            np.testing.assert_array_equal(got[r], ctx.last_logits())
        finally:
            ctx.close()


@pytest.mark.integration
def test_a_cancel_mid_run_stops_every_pane_and_the_next_run_starts_clean(engine):
    full = [p.token_ids for p in _panes(engine, "Tell me about rivers.", PLAN, SAMPLED, batched=True)]
    token = CancelToken()
    run = engine.generate("Tell me about rivers.", PLAN, SAMPLED, cancel=token)
    for event in run:
        if event.step == 5:
            token.cancel()
    assert run.result is not None and run.result.cancelled and run.result.steps == 5
    assert {p.finish_reason for p in run.result.panes} == {"cancelled"}
    assert [p.token_ids for p in run.result.panes] == [f[:5] for f in full]
    again = [p.token_ids for p in _panes(engine, "Tell me about rivers.", PLAN, SAMPLED, batched=True)]
    assert again == full


@pytest.mark.integration
def test_one_pane_and_gpu_layers_keep_a_context_per_pane(engine):
    backend = engine.backend
    assert backend._batches(2) and not backend._batches(1)  # one pane: llama.cpp's own control vector
    backend.native.n_gpu_layers = 4  # tensors on a GPU: the callback cannot write them
    try:
        assert not backend._batches(4)
    finally:
        backend.native.n_gpu_layers = 0
    alone = _panes(engine, "Write a haiku about autumn.", SteeringPlan(), GREEDY, batched=True)
    first = _panes(engine, "Write a haiku about autumn.", PLAN, GREEDY, batched=True)[0]
    assert first.token_ids == alone[0].token_ids  # the baseline of a batch is the baseline alone
