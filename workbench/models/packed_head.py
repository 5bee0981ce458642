"""Next-token logits for one row or a few, fast on the CPU.

The unembedding (vocab × d_model: 113 MB of float32 for SmolLM2) is the largest single matrix a decoding step
reads. Its products go through cpu_layout.cpu_linear: MKL's matrix-vector product for one row, oneDNN for
a few rows, both reading a column-major copy of the weight. On an AMD EPYC core that took one row from 9.7 to
5.3 ms and four rows from 13.9 ms (MKL's packed GEMM, which this replaces: it kept a packed copy about twice the
matrix's size per row count, and on AMD still ran MKL's generic code) to 10.2 ms.

Most small models tie the unembedding to the input embedding, which looks tokens up by row and must stay
row-major; those get a column-major copy (about the matrix's size, and only when that is at most
`MAX_COPY_BYTES`). An untied unembedding is re-stored in place. Anything unusual (another device or dtype,
a bias) uses the model's own head, which gives the same logits up to float rounding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.models.cpu_layout import column_major, cpu_linear

if TYPE_CHECKING:
    import torch

MAX_COPY_BYTES = 1 << 30  # a tied unembedding's size up to which it gets its own column-major copy


class LogitsHead:
    """Applies the model's output embedding to the last hidden state of each row."""

    def __init__(self, head: Any, input_embedding: Any = None) -> None:
        self.head = head
        self._weight: torch.Tensor | None = None
        if not _usable(head):
            return
        weight = head.weight
        tied = input_embedding is not None and getattr(input_embedding, "weight", None) is weight
        if not tied:
            weight.data = column_major(weight.data)
            self._weight = weight
        elif weight.numel() * weight.element_size() <= MAX_COPY_BYTES:
            self._weight = column_major(weight.detach())

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        """`hidden` (rows, d_model) → logits (rows, vocab)."""
        if self._weight is None:
            return self.head(hidden)
        return cpu_linear(hidden, self._weight)


def _usable(head: Any) -> bool:
    import torch

    weight = getattr(head, "weight", None)
    return (
        type(head) is torch.nn.Linear
        and head.bias is None
        and weight is not None
        and weight.device.type == "cpu"
        and weight.dtype == torch.float32
    )
