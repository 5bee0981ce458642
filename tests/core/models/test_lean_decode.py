"""The lean one-position decoding step (models/lean_decode.py): the same bits as transformers' forward, step by
step, on tiny random Llamas of several shapes and on the embedded SmolLM2; the same tokens in generation, steered
or not; and transformers' path wherever the lean step would not reproduce it."""

import pytest
import torch

from tests.factories import make_sae, tiny_backend, tiny_tokenizer
from workbench.engine import Engine
from workbench.models.hf import HFBackend
from workbench.models.kv_cache import growing_cache
from workbench.models.lean_decode import LeanDecoder, unsupported_reason
from workbench.models.sampling import SamplingSettings
from workbench.steering.plan import EditMode, FeatureEdit, PositionScope, SteeringPlan, Variant

PROMPT = [256, 72, 101, 108, 108, 111, 32, 116, 104, 101, 32, 115, 101, 97]


def _backend(model):
    return HFBackend(model, tiny_tokenizer(), "tiny-llama", "<memory>", "tiny")


def _llama(**overrides):
    """A tiny random Llama (tests/factories.py's shape, 2 blocks) with `overrides` in its config."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(1)
    config = {
        "vocab_size": 258,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        "bos_token_id": 256,
        "eos_token_id": 257,
    }
    return LlamaForCausalLM(LlamaConfig(**{**config, **overrides})).eval()


def _steps_agree(backend, rows, steps, prompt=PROMPT):
    """Prefill one cache per path with transformers, then feed both the same random tokens one position at a
    time: the lean step's logits equal transformers' forward's bit for bit at every step."""
    model, lean = backend.model, backend._lean
    assert lean is not None
    ids = torch.tensor([prompt] * rows)
    caches = [growing_cache(model.config, len(prompt) + steps) for _ in range(2)]
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for cache in caches:
            model.model(input_ids=ids, past_key_values=cache, use_cache=True)
        assert lean.usable(caches[0])
        start = len(prompt)
        for _ in range(steps):
            token = torch.randint(0, model.config.vocab_size, (rows, 1), generator=generator)
            ours = model.lm_head(lean.hidden(token, start, caches[0]))
            theirs = model(input_ids=token, past_key_values=caches[1], use_cache=True).logits
            assert torch.equal(ours, theirs)
            start += 1
        assert caches[0].get_seq_length() == caches[1].get_seq_length() == start


def _tokens(backend, plan, settings, lean):
    from workbench.steering.compiled import compile_plan

    compiled = compile_plan(plan, [], backend.info, backend.capabilities, backend.device, backend.dtype)
    backend.lean_decoding = lean
    try:
        return [p.token_ids for p in backend.generate(PROMPT, compiled, settings).run().panes]
    finally:
        backend.lean_decoding = True


@pytest.mark.parametrize("rows", [1, 4])
def test_each_step_gives_transformers_logits_bit_for_bit(rows):
    _steps_agree(tiny_backend(), rows, steps=6)


def test_several_rows_read_the_packed_weights_prepared_once_per_run_or_cpu_linear_without_onednn(monkeypatch):
    from workbench.models import cpu_layout

    backend = tiny_backend()
    _steps_agree(backend, rows=3, steps=3)
    prepared = backend._lean._multi_row
    qkv = backend._lean._parts[0].qkv
    assert prepared and prepared[0][0] is cpu_layout.onednn_weight(qkv)  # the packed copy cpu_linear keeps
    monkeypatch.setattr(cpu_layout._KERNELS, "onednn", False)  # a torch build whose oneDNN op failed
    _steps_agree(backend, rows=3, steps=3)
    assert backend._lean._multi_row == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"num_key_value_heads": 4},  # multi-head attention: no GQA in the SDPA call
        {"num_key_value_heads": 1},
        {"attention_bias": True, "mlp_bias": True},
        {"head_dim": 32},  # heads × head_dim ≠ hidden size
        {"hidden_act": "gelu"},
        {
            "rope_parameters": {
                "rope_type": "llama3",
                "rope_theta": 500000.0,
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16,
            }
        },
        {"rope_parameters": {"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0}},
        # Dynamic NTK rescales the frequencies once positions pass 16, which these steps do.
        {
            "max_position_embeddings": 16,
            "rope_parameters": {"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0},
        },
    ],
    ids=["mha", "mqa", "biases", "head-dim", "gelu", "llama3-rope", "linear-rope", "dynamic-rope"],
)
def test_llama_variants_give_transformers_logits_bit_for_bit(overrides):
    _steps_agree(_backend(_llama(**overrides)), rows=2, steps=6)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_generation_gives_the_same_tokens_on_both_paths_one_pane_and_several(temperature):
    backend = tiny_backend()
    settings = SamplingSettings(temperature=temperature, top_p=0.9, seed=5, max_new_tokens=12, stop_at_eos=False)
    calls = []
    lean_hidden = backend._lean.hidden
    backend._lean.hidden = lambda *args: calls.append(1) or lean_hidden(*args)
    for plan in (SteeringPlan(), SteeringPlan.with_baseline(Variant("a"), Variant("b"), Variant("c"))):
        ours = _tokens(backend, plan, settings, lean=True)
        assert len(calls) == 11  # every step after the prompt
        calls.clear()
        assert ours == _tokens(backend, plan, settings, lean=False) and not calls


@pytest.fixture
def steered(tmp_path):
    """An engine on a tiny Llama with real sae-lens SAEs at layers 1 and 2, and a plan using every edit mode."""
    engine = Engine()
    engine.use_backend(tiny_backend())
    for layer in (1, 2):
        engine.add_sae(str(make_sae(tmp_path / f"sae_l{layer}", d_in=64, layer=layer, seed=layer)))
    plan = SteeringPlan.with_baseline(
        Variant("add", (FeatureEdit(layer=1, feature=5, strength=4.0),)),
        Variant("clamp", (FeatureEdit(layer=1, feature=9, strength=3.0, mode=EditMode.CLAMP),)),
        Variant("ablate", (FeatureEdit(layer=2, feature=7, mode=EditMode.ABLATE),)),
        Variant("late", (FeatureEdit(layer=2, feature=5, strength=4.0, positions=PositionScope.GENERATED),)),
    )
    return engine, plan


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_steering_hooks_act_on_the_lean_step_as_on_transformers_path(steered, temperature):
    engine, plan = steered
    settings = SamplingSettings(temperature=temperature, seed=3, max_new_tokens=10, stop_at_eos=False)
    runs = []
    for lean in (True, False):
        engine.backend.lean_decoding = lean
        runs.append(engine.generate("Waves crash on the shore.", plan, settings, chat=False).run())
    engine.backend.lean_decoding = True
    ours, theirs = ([(p.token_ids, p.edits_fired) for p in run.panes] for run in runs)
    assert ours == theirs
    assert ours[0][0] != ours[1][0]  # the add changed the text: the hook ran at the lean steps


def test_a_hook_inside_a_block_or_a_replaced_weight_sends_the_run_to_transformers_path():
    backend = tiny_backend()
    settings = SamplingSettings(temperature=0.0, max_new_tokens=6, stop_at_eos=False)
    reference = _tokens(backend, SteeringPlan(), settings, lean=False)
    seen = []
    handle = backend.blocks[1].mlp.register_forward_hook(lambda _m, _a, out: seen.append(out.shape[1]))
    assert not backend._lean.usable(growing_cache(backend.model.config, 8))
    assert _tokens(backend, SteeringPlan(), settings, lean=True) == reference
    assert seen == [len(PROMPT)] + [1] * 5  # the MLP's hook ran at every step
    handle.remove()
    backend.blocks[0].self_attn.k_proj.weight.data = backend.blocks[0].self_attn.k_proj.weight.data.clone()
    assert not backend._lean.usable(growing_cache(backend.model.config, 8))
    replaced = _tokens(backend, SteeringPlan(), settings, lean=True)
    assert replaced == _tokens(backend, SteeringPlan(), settings, lean=False)


def test_models_it_does_not_reproduce_keep_transformers_path():
    eager = _llama(attn_implementation="eager")
    assert "eager" in (unsupported_reason(eager, eager.model.layers) or "")
    assert _backend(eager)._lean is None
    half = _llama().to(torch.bfloat16)
    assert _backend(half)._lean is None
    assert LeanDecoder.install(half, half.model.layers) is None
    assert "forward" not in vars(half.model.layers[0])  # its blocks were left alone


# -- the embedded SmolLM2 -------------------------------------------------------------------------------------
@pytest.mark.integration
@pytest.mark.parametrize("rows", [1, 4])
def test_smollm_steps_give_transformers_logits_bit_for_bit(smollm_engine, rows):
    backend = smollm_engine.backend
    _steps_agree(backend, rows, steps=4, prompt=backend.encode_prompt("Describe a walk along the beach.", chat=True))


@pytest.mark.integration
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_smollm_steered_panes_give_the_same_tokens_on_both_paths(smollm_engine, tmp_path, temperature):
    engine = smollm_engine
    if not any(s.layer == 8 for s in engine.saes):
        engine.add_sae(str(make_sae(tmp_path / "L8", d_in=576, layer=8, d_sae=1024)))
    plan = SteeringPlan.with_baseline(
        Variant("add", (FeatureEdit(layer=8, feature=3, strength=8.0),)),
        Variant("clamp", (FeatureEdit(layer=8, feature=11, strength=5.0, mode=EditMode.CLAMP),)),
        Variant("late", (FeatureEdit(layer=8, feature=3, strength=8.0, positions=PositionScope.GENERATED),)),
    )
    settings = SamplingSettings(temperature=temperature, seed=11, max_new_tokens=12, stop_at_eos=False)
    runs = {}
    try:
        for lean in (True, False):
            engine.backend.lean_decoding = lean
            for name, p in (("one", SteeringPlan()), ("four", plan)):
                run = engine.generate("Describe a walk along the beach.", p, settings).run()
                runs[lean, name] = [(pane.token_ids, pane.edits_fired) for pane in run.panes]
    finally:
        engine.backend.lean_decoding = True
    assert runs[True, "one"] == runs[False, "one"]
    assert runs[True, "four"] == runs[False, "four"]
