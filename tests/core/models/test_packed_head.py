"""The batched decoding head: the same logits as the model's own head, and the same tokens."""

import pytest
import torch

from tests.factories import tiny_backend
from workbench.models.packed_head import LogitsHead
from workbench.models.sampling import SamplingSettings
from workbench.steering.compiled import compile_plan
from workbench.steering.plan import SteeringPlan, Variant

GREEDY = SamplingSettings(temperature=0.0, max_new_tokens=12, stop_at_eos=False)


def test_packed_logits_match_the_models_head_for_several_row_counts():
    head = tiny_backend().model.get_output_embeddings()
    ours = LogitsHead(head)
    for rows in (1, 4, 3, 4):
        hidden = torch.randn(rows, head.in_features, generator=torch.Generator().manual_seed(rows))
        with torch.inference_mode():
            torch.testing.assert_close(ours(hidden), head(hidden), rtol=1e-5, atol=1e-5)
    if torch.backends.mkl.is_available():
        assert ours._usable and ours._packed_rows == 4  # the packed path ran, re-packed for 3 then 4 rows


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h.to(torch.float16),  # only float32 has the packed kernel
        lambda h: torch.nn.Linear(h.in_features, h.out_features, bias=True),  # a bias: not a plain unembedding
    ],
)
def test_heads_it_cannot_pack_use_their_own_forward(change):
    head = change(tiny_backend().model.get_output_embeddings())
    ours = LogitsHead(head)
    hidden = torch.randn(4, head.in_features, dtype=head.weight.dtype)
    assert not ours._usable
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
