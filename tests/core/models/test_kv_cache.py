"""The in-place key/value cache: the same logits as transformers' DynamicCache, step after step."""

import torch
from transformers import DynamicCache

from tests.factories import tiny_llama
from workbench.models.kv_cache import GrowingLayer, growing_cache


def _decode(model, cache, ids, steps):
    logits = []
    with torch.inference_mode():
        out = model(input_ids=ids, past_key_values=cache, use_cache=True).logits[:, -1]
        for _ in range(steps):
            logits.append(out)
            out = model(input_ids=out.argmax(-1)[:, None], past_key_values=cache, use_cache=True).logits[:, -1]
    return torch.stack(logits)


def test_same_logits_as_a_dynamic_cache_even_past_its_capacity():
    model = tiny_llama()
    ids = torch.randint(0, 256, (4, 9), generator=torch.Generator().manual_seed(1))
    ours = growing_cache(model.config, capacity=12)  # 9 prompt + 8 steps: grows once on the way
    assert all(isinstance(layer, GrowingLayer) for layer in ours.layers)
    theirs = _decode(model, DynamicCache(config=model.config), ids, 8)
    assert torch.equal(_decode(model, ours, ids, 8), theirs)
    assert ours.get_seq_length() == 9 + 8


def test_a_cropped_cache_goes_on_from_what_is_left():
    model = tiny_llama()
    ids = torch.randint(0, 256, (2, 6), generator=torch.Generator().manual_seed(2))
    ours, theirs = growing_cache(model.config, capacity=32), DynamicCache(config=model.config)
    for cache in (ours, theirs):
        with torch.inference_mode():
            model(input_ids=ids, past_key_values=cache, use_cache=True)
        cache.crop(-2)
    assert ours.get_seq_length() == 4
    assert torch.equal(_decode(model, ours, ids[:, 4:], 3), _decode(model, theirs, ids[:, 4:], 3))
