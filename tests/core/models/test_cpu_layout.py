"""Column-major decoder weights: same parameters and values, different strides, same outputs and tokens; the
kernel choice by row count gives the same products as torch's linear."""

import pytest
import torch

from tests.factories import tiny_backend, tiny_llama
from workbench.models import cpu_layout
from workbench.models.cpu_layout import cpu_linear, store_linears_column_major
from workbench.models.sampling import SamplingSettings
from workbench.steering.compiled import compile_plan
from workbench.steering.plan import SteeringPlan, Variant

GREEDY = SamplingSettings(temperature=0.0, max_new_tokens=10, stop_at_eos=False)


def test_every_block_linear_keeps_its_parameter_shape_and_values_but_not_its_strides():
    model = tiny_llama(2, 64)
    blocks = model.model.layers
    linears = [m for m in blocks.modules() if type(m) is torch.nn.Linear]
    before = {id(m.weight): (m.weight, m.weight.detach().clone()) for m in linears}
    x = torch.randn(4, 64)
    q_before = linears[0](x)

    assert store_linears_column_major(blocks) == len(linears) == 14  # q, k, v, o, gate, up, down × 2 layers
    for m in linears:
        param, values = before[id(m.weight)]
        assert m.weight is param  # hooks and optimisers holding the Parameter still hold it
        assert torch.equal(m.weight, values) and m.weight.shape == values.shape
        assert m.weight.t().is_contiguous() and not m.weight.is_contiguous()
    torch.testing.assert_close(linears[0](x), q_before, rtol=1e-6, atol=1e-6)
    assert model.lm_head.weight.is_contiguous()  # the unembedding is outside the blocks: untouched


def test_weights_that_are_not_cpu_float32_are_left_alone():
    blocks = tiny_llama(1, 64).to(torch.float16).model.layers
    assert store_linears_column_major(blocks) == 0
    assert all(m.weight.is_contiguous() for m in blocks.modules() if type(m) is torch.nn.Linear)


def test_a_loaded_backend_decodes_the_same_tokens_as_row_major_weights():
    backend = tiny_backend()  # HFBackend fuses gate|up into one column-major matrix on load (fused_linears.py)
    assert not backend.blocks[0].mlp.up_proj.weight.is_contiguous()
    plan = SteeringPlan.with_baseline(Variant("copy"), Variant("copy 2"))
    compiled = compile_plan(plan, [], backend.info, backend.capabilities, backend.device, backend.dtype)
    prompt = backend.encode_prompt("the sea and the waves", chat=False)
    ours = [p.token_ids for p in backend.generate(prompt, compiled, GREEDY).run().panes]
    for m in backend.blocks.modules():
        if type(m) is torch.nn.Linear:
            m.weight.data = m.weight.data.contiguous()
    theirs = [p.token_ids for p in backend.generate(prompt, compiled, GREEDY).run().panes]
    assert ours == theirs and len(ours) == 3 and len(ours[0]) == 10


@pytest.mark.parametrize("shape", [(1, 1, 64), (4, 1, 64), (3, 5, 64), (2, 64)])
@pytest.mark.parametrize("bias", [True, False])
def test_cpu_linear_equals_torchs_linear_for_any_row_count(shape, bias):
    linear = torch.nn.Linear(64, 96, bias=bias)
    weight = linear.weight.detach().t().contiguous().t()
    x = torch.randn(*shape)
    with torch.inference_mode():
        out = cpu_linear(x, weight, linear.bias)
        torch.testing.assert_close(out, torch.nn.functional.linear(x, linear.weight, linear.bias), rtol=1e-5, atol=1e-5)
    assert out.shape == (*shape[:-1], 96)
    if torch.backends.mkldnn.is_available():
        assert cpu_layout._KERNELS.onednn  # the oneDNN path ran for several rows instead of falling back


def test_without_onednn_or_with_gradients_it_is_torchs_linear(monkeypatch):
    weight, x = torch.randn(96, 64), torch.randn(4, 64, requires_grad=True)
    out = cpu_linear(x, weight)
    assert out.requires_grad and torch.equal(out, torch.nn.functional.linear(x, weight))  # autograd kept
    monkeypatch.setattr(cpu_layout._KERNELS, "onednn", False)
    with torch.inference_mode():
        assert torch.equal(cpu_linear(x, weight), torch.nn.functional.linear(x, weight))


def test_block_linears_compute_through_cpu_linear_and_keep_their_hooks():
    blocks = tiny_llama(1, 64).model.layers
    store_linears_column_major(blocks)
    q = blocks[0].self_attn.q_proj
    seen = []
    handle = q.register_forward_hook(lambda _m, _a, out: seen.append(out.shape))
    with torch.inference_mode():
        q(torch.randn(4, 1, 64))
    handle.remove()
    assert type(q) is torch.nn.Linear and q.forward.__func__ is cpu_layout._cpu_linear_forward
    assert seen == [(4, 1, 64)]


needs_onednn = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this torch has no oneDNN")


@needs_onednn
def test_several_rows_read_a_packed_copy_made_once_and_remade_when_the_weight_changes():
    weight = torch.randn(96, 64).t().contiguous().t()  # column-major, as the loaded model stores it
    x = torch.randn(4, 64)
    with torch.inference_mode():
        first = cpu_linear(x, weight)
        packed = getattr(weight, cpu_layout._PACKED_ATTR)[1]
        assert packed is not weight and packed.is_mkldnn  # oneDNN's own blocked layout
        cpu_linear(x, weight)
        assert getattr(weight, cpu_layout._PACKED_ATTR)[1] is packed  # reused, not packed again
    torch.testing.assert_close(first, torch.nn.functional.linear(x, weight), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        weight.mul_(-2.0)  # changed in place: a stale packed copy would give the old products
    with torch.inference_mode():
        after = cpu_linear(x, weight)
    torch.testing.assert_close(after, -2.0 * first, rtol=1e-5, atol=1e-5)
    weight.data = torch.randn(96, 64)  # replaced: packed again from the new values
    with torch.inference_mode():
        torch.testing.assert_close(cpu_linear(x, weight), torch.nn.functional.linear(x, weight), rtol=1e-5, atol=1e-5)


@needs_onednn
def test_short_of_memory_several_rows_read_the_plain_weight(monkeypatch):
    weight, x = torch.randn(96, 64), torch.randn(4, 64)
    # Room for the copy, but not for the copy and the reserve the KV cache and activations still need.
    free = cpu_layout.PACK_RESERVE_BYTES + weight.numel() * weight.element_size() - 1
    monkeypatch.setattr(cpu_layout, "_free_cpu_bytes", lambda: free)
    with torch.inference_mode():
        out = cpu_linear(x, weight)
    assert getattr(weight, cpu_layout._PACKED_ATTR)[1] is None  # no copy made, and not asked again
    torch.testing.assert_close(out, torch.nn.functional.linear(x, weight), rtol=1e-5, atol=1e-5)


def test_one_row_never_makes_a_packed_copy():
    weight = torch.randn(96, 64)
    with torch.inference_mode():
        cpu_linear(torch.randn(1, 64), weight)
    assert not hasattr(weight, cpu_layout._PACKED_ATTR)
