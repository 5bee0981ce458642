"""Next-token logits for a batch of a few rows, fast on the CPU.

Side-by-side panes decode as one batch of 2–9 rows. On the CPU in float32, MKL's plain sgemm re-packs the whole
(vocab × d_model) unembedding on every call when there are several rows, so 4 rows cost about twice one row —
the biggest single part of the batch's extra cost (SmolLM2: ~13 ms vs ~7 ms per step). MKL's packed GEMM packs
the matrix once; the batched call then costs about as much as one row. One row keeps the plain path (a
matrix-vector product that is already as fast), so a single pane needs no extra memory.

The packed copy costs about twice the unembedding's size, so it is only made when that is small
(`MAX_PACKED_BYTES`); anything unusual (no MKL, another device or dtype, a bias, an op missing in this torch)
falls back to the model's own head, which gives the same logits up to float rounding.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

MAX_PACKED_BYTES = 1 << 30  # the unembedding's own size; its packed copy is about twice that


class LogitsHead:
    """Applies the model's output embedding to the last hidden state of each row."""

    def __init__(self, head: Any) -> None:
        self.head = head
        self._packed: torch.Tensor | None = None
        self._packed_rows = 0
        self._usable = _packable(head)

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        """`hidden` (rows, d_model) → logits (rows, vocab)."""
        rows = int(hidden.shape[0])
        if rows < 2 or not self._usable:
            return self.head(hidden)
        import torch

        try:
            if self._packed is None or self._packed_rows != rows:
                self._packed = None  # free the old copy before making the new one
                self._packed = torch.ops.mkl._mkl_reorder_linear_weight(self.head.weight, rows)
                self._packed_rows = rows
            return torch.ops.mkl._mkl_linear(hidden.contiguous(), self._packed, self.head.weight, None, rows)
        except (RuntimeError, AttributeError) as exc:
            log.info("packed unembedding unavailable (%s); using the model's head", exc)
            self._usable, self._packed = False, None
            return self.head(hidden)


def _packable(head: Any) -> bool:
    import torch

    weight = getattr(head, "weight", None)
    return (
        type(head) is torch.nn.Linear
        and head.bias is None
        and weight is not None
        and weight.device.type == "cpu"
        and weight.dtype == torch.float32
        and torch.backends.mkl.is_available()
        and weight.numel() * weight.element_size() <= MAX_PACKED_BYTES
    )
