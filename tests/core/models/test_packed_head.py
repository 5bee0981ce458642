"""The decoding head: the same logits as the model's own head, and the same tokens."""

import pytest
import torch

from tests.factories import tiny_backend, tiny_llama
from workbench.models.packed_head import LogitsHead
from workbench.models.sampling import SamplingSettings
from workbench.steering.compiled import compile_plan
from workbench.steering.plan import SteeringPlan, Variant

GREEDY = SamplingSettings(temperature=0.0, max_new_tokens=12, stop_at_eos=False)


@pytest.mark.parametrize("tied", [True, False])
def test_logits_match_the_models_head_for_several_row_counts(tied):
    model = tiny_llama()
    head, embedding = model.get_output_embeddings(), model.get_input_embeddings()
    if tied:  # as in SmolLM2: one matrix for the lookup and the logits
        head.weight = embedding.weight
    reference = torch.nn.Linear(head.in_features, head.out_features, bias=False)
    reference.weight.data = head.weight.detach().clone()
    ours = LogitsHead(head, embedding)
    for rows in (1, 4, 3, 9):
        hidden = torch.randn(rows, head.in_features, generator=torch.Generator().manual_seed(rows))
        with torch.inference_mode():
            torch.testing.assert_close(ours(hidden), reference(hidden), rtol=1e-5, atol=1e-5)
    assert ours._weight is not None and ours._weight.t().is_contiguous()
    # A tied matrix keeps its row-major storage for the embedding's lookups; an untied one is re-stored in place.
    assert head.weight.is_contiguous() == tied and embedding.weight.is_contiguous()
    assert (ours._weight is head.weight) != tied


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h.to(torch.float16),  # only float32 has the fast kernels
        lambda h: torch.nn.Linear(h.in_features, h.out_features, bias=True),  # a bias: not a plain unembedding
    ],
)
def test_heads_it_cannot_use_keep_their_own_forward(change):
    head = change(tiny_backend().model.get_output_embeddings())
    ours = LogitsHead(head)
    hidden = torch.randn(4, head.in_features, dtype=head.weight.dtype)
    assert ours._weight is None
    with torch.inference_mode():
        assert torch.equal(ours(hidden), head(hidden))


def test_generation_gives_the_same_tokens_with_and_without_our_head():
    backend = tiny_backend()
    assert backend._head is not None  # a LlamaForCausalLM decodes through it
    plan = SteeringPlan.with_baseline(Variant("copy"), Variant("copy 2"), Variant("copy 3"))
    compiled = compile_plan(plan, [], backend.info, backend.capabilities, backend.device, backend.dtype)
    prompt = backend.encode_prompt("the sea and the waves", chat=False)
    ours = [p.token_ids for p in backend.generate(prompt, compiled, GREEDY).run().panes]
    backend._head = None
    theirs = [p.token_ids for p in backend.generate(prompt, compiled, GREEDY).run().panes]
    assert ours == theirs and len(ours) == 4 and len(ours[0]) == 12
