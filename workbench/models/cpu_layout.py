"""Weight storage that keeps batched decoding cheap on the CPU.

`nn.Linear` computes `x @ W.T`. With W stored row-major (out × in), MKL's sgemm reads B transposed and, once x has
more than one row, packs a copy of the whole of W on every call: with side-by-side panes decoding 4 rows, that
copy is most of the extra cost of the batch over one row (SmolLM2, 30 layers: ~27 vs ~17 ms of linears per
token). Storing each weight column-major (the same values, W.T contiguous, seen through `.t()`) lets sgemm read
B as it lies: 4 panes then cost ~8 % less wall time, one pane the same. The parameter keeps its shape, dtype and
values, so hooks, SAEs and anything that reads the weights see no difference; only its strides change.

Only decoder-block linears on CPU float32 are changed: the unembedding has its own packed path (packed_head.py),
and GPUs' BLAS has no such cost.
"""

from __future__ import annotations

from typing import Any


def store_linears_column_major(blocks: Any) -> int:
    """Re-store every float32 CPU `nn.Linear` weight under `blocks` column-major; returns how many changed."""
    import torch

    changed = 0
    for module in blocks.modules():
        if type(module) is not torch.nn.Linear:
            continue
        weight = module.weight
        if weight.device.type != "cpu" or weight.dtype != torch.float32 or not weight.is_contiguous():
            continue
        # .data keeps the Parameter object (and anything holding it) while swapping its storage.
        weight.data = weight.data.t().contiguous().t()
        changed += 1
    return changed
