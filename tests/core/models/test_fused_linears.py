"""Fused q|k|v and gate|up products: the same Parameters, values and outputs as the separate projections, one copy
of the weights, and each module still right when called on its own or after its weight was replaced."""

import copy

import pytest
import torch

from tests.factories import tiny_llama
from workbench.models.fused_linears import FusedGroup, decoding_products, prepare_blocks


def _logits(model, ids):
    with torch.inference_mode():
        return model(input_ids=ids, use_cache=False).logits


@pytest.mark.parametrize("bias", [False, True])
def test_prepared_blocks_give_the_same_logits_with_the_same_parameters(bias):
    model = tiny_llama(2, 64)
    if bias:  # Qwen2-style projections with biases: give the model some and keep them through the fusion
        model.config.attention_bias = True
        for block in model.model.layers:
            for name in ("q_proj", "k_proj", "v_proj"):
                old = getattr(block.self_attn, name)
                new = torch.nn.Linear(old.in_features, old.out_features, bias=True)
                new.weight.data.copy_(old.weight.data)
                torch.nn.init.normal_(new.bias, std=0.1)
                setattr(block.self_attn, name, new)
    reference = copy.deepcopy(model)
    params = {name: (p, p.detach().clone()) for name, p in model.named_parameters()}
    ids = torch.tensor([[1, 5, 9, 3, 7], [2, 4, 6, 8, 10]])

    assert prepare_blocks(model.model.layers) == 2 * 4  # q|k|v, o, gate|up, down per block

    for name, p in model.named_parameters():
        assert p is params[name][0] and torch.equal(p, params[name][1])
    torch.testing.assert_close(_logits(model, ids), _logits(reference, ids), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(_logits(model, ids[:1, -1:]), _logits(reference, ids[:1, -1:]), rtol=1e-5, atol=1e-5)


def test_one_copy_of_the_weights_in_the_storage_order_of_each_product():
    blocks = tiny_llama(1, 64).model.layers
    prepare_blocks(blocks)
    attn, mlp = blocks[0].self_attn, blocks[0].mlp
    qkv = {m.weight.untyped_storage().data_ptr() for m in (attn.q_proj, attn.k_proj, attn.v_proj)}
    gate_up = {m.weight.untyped_storage().data_ptr() for m in (mlp.gate_proj, mlp.up_proj)}
    assert len(qkv) == 1 and len(gate_up) == 1
    products = decoding_products(blocks)
    assert [tuple(w.shape) for w in products] == [(128, 64), (64, 64), (256, 64), (64, 128)]  # q|k|v: 64+32+32
    assert sum(w.numel() for w in products) == sum(
        m.weight.numel() for m in blocks.modules() if type(m) is torch.nn.Linear
    )
    assert products[0].t().is_contiguous() and products[2].t().is_contiguous()  # more outputs than inputs
    assert products[3].is_contiguous()  # down: fewer outputs than inputs, row-major


def test_a_projection_called_on_its_own_or_on_another_input_computes_its_own_product():
    attn = tiny_llama(1, 64).model.layers[0].self_attn
    k_weight = attn.k_proj.weight.detach().clone()
    FusedGroup([attn.q_proj, attn.k_proj, attn.v_proj])
    x, other = torch.randn(3, 64), torch.randn(3, 64)
    with torch.inference_mode():
        attn.q_proj(x)
        torch.testing.assert_close(attn.k_proj(other), other @ k_weight.T)  # not x's slice
        torch.testing.assert_close(attn.k_proj(x), x @ k_weight.T)
        torch.testing.assert_close(attn.v_proj(x), x @ attn.v_proj.weight.detach().T)


def test_a_replaced_weight_is_used_instead_of_the_fused_matrix():
    mlp = tiny_llama(1, 64).model.layers[0].mlp
    FusedGroup([mlp.gate_proj, mlp.up_proj])
    x = torch.randn(1, 64)
    new_gate, new_up = torch.randn(128, 64), torch.randn(128, 64)
    mlp.gate_proj.weight.data = new_gate
    mlp.up_proj.weight.data = new_up
    with torch.inference_mode():
        torch.testing.assert_close(mlp.gate_proj(x), x @ new_gate.T)
        torch.testing.assert_close(mlp.up_proj(x), x @ new_up.T)


def test_blocks_without_the_projections_are_left_alone():
    assert prepare_blocks(torch.nn.ModuleList([torch.nn.Module()])) == 0


def test_hooks_on_a_fused_projection_still_run_and_can_change_its_output():
    model = tiny_llama(1, 64)
    reference = copy.deepcopy(model)
    prepare_blocks(model.model.layers)
    seen = []

    def double(module, args, output):
        seen.append(output.shape)
        return output * 2

    for m in (model.model.layers[0].self_attn.v_proj, reference.model.layers[0].self_attn.v_proj):
        m.register_forward_hook(double)
    ids = torch.tensor([[1, 5, 9]])
    torch.testing.assert_close(_logits(model, ids), _logits(reference, ids), rtol=1e-5, atol=1e-5)
    assert seen == [torch.Size([1, 3, 32])] * 2
