"""One product for the projections that read the same input (q|k|v, gate|up), and each weight stored in the order
MKL's one-row product reads fastest; done once at load, on the transformers model's own modules.

A one-pane decoding step is ~210 matrix-vector products, each bound by reading its weight. On a 2-core AMD EPYC
(MKL 2024.2, one thread) a small product reads well below the bandwidth a big one gets: q/o (576×576) 13 GB/s,
k/v (192×576) 9-11 GB/s, gate/up (1536×576) 19 GB/s, against 24 GB/s for the 49152×576 unembedding. A fused
q|k|v (960×576) reads at 17 GB/s and gate|up (3072×576) at 22 GB/s, so the fused products take 133 µs instead of
199 µs and 320 µs instead of 378 µs, and the step makes 121 calls instead of 211.

Storage order, for one row through MKL's matrix-vector code: column-major (W.T contiguous) reads faster when the
matrix has at least as many outputs as inputs (gate|up 1.85×, q|k|v 1.4×, the unembedding 2×), row-major when
it has fewer (down, 576×1536: 230 µs against 270-370 µs), where each column is too short to stream well. oneDNN,
which takes 2+ rows (cpu_layout.py), read the row-major down faster too. Over the 30 blocks and the unembedding,
one row: 57.7 ms per step as before (all column-major, separate) → 45.6 ms fused with a row-major down; four rows
through oneDNN: 82.4 → 73.7 ms (bench/bandwidth.py prints the model's own products against the bound).

The modules stay the model's: each Parameter keeps its shape and values and becomes a view of the fused matrix
(one copy of the weights), the first module of a group computes the whole product and the others return their
slice of it when called with the same input tensor, as transformers' Llama attention and MLP do. Called with
another input, or after someone replaced a weight's data, a module computes its own product.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from workbench.models.cpu_layout import column_major, cpu_linear

if TYPE_CHECKING:
    import torch

# Attribute paths of the projections that read the same input, in the order the model calls them.
GROUPS: tuple[tuple[str, ...], ...] = (
    ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    ("mlp.gate_proj", "mlp.up_proj"),
)


def prefers_column_major(out_features: int, in_features: int) -> bool:
    """Whether MKL's one-row product reads an (out, in) matrix faster column-major (see the module docstring)."""
    return out_features >= in_features


def store_for_decoding(*weights: torch.Tensor) -> torch.Tensor:
    """The values of `weights` stacked by rows (one matrix, or a fused group's), in the storage order its
    one-row product reads fastest."""
    import torch

    out_features = sum(int(w.shape[0]) for w in weights)
    if prefers_column_major(out_features, int(weights[0].shape[1])):
        if len(weights) == 1 and weights[0].t().is_contiguous():
            return weights[0]
        return column_major(*weights)
    return weights[0].contiguous() if len(weights) == 1 else torch.cat(weights)


def prepare_blocks(blocks: Any) -> int:
    """Fuse each block's q|k|v and gate|up and store every float32 CPU linear under `blocks` in its decoding
    order, computing through cpu_linear; returns how many products one pass over the blocks makes."""
    import torch

    fused: set[int] = set()
    products = 0
    for block in blocks:
        for paths in GROUPS:
            modules = [_get(block, path) for path in paths]
            if _fusable(modules):
                FusedGroup(modules)
                fused.update(id(m) for m in modules)
                products += 1
    for module in blocks.modules():
        if type(module) is not torch.nn.Linear or id(module) in fused:
            continue
        if _cpu_float32(module.weight):
            module.weight.data = store_for_decoding(module.weight.data)
            module.forward = types.MethodType(_linear_forward, module)  # type: ignore[method-assign]
        products += 1
    return products


def decoding_products(blocks: Any) -> list[torch.Tensor]:
    """The matrices one pass over `blocks` multiplies by, in order: each fused group's matrix once, then every
    other linear's weight."""
    import torch

    products: list[torch.Tensor] = []
    for module in blocks.modules():
        if type(module) is not torch.nn.Linear:
            continue
        group = getattr(module, "fused_group", None)
        if group is None:
            products.append(module.weight)
        elif group.modules[0] is module:
            products.append(group.weight)
    return products


class FusedGroup:
    """Modules that read the same input, sharing one (sum of outputs, in) matrix."""

    def __init__(self, modules: Sequence[Any]) -> None:
        import torch

        self.modules = list(modules)
        self.sizes = [int(m.weight.shape[0]) for m in modules]
        self.weight = store_for_decoding(*[m.weight.detach() for m in modules])
        biased = modules[0].bias is not None
        self.bias = torch.cat([m.bias.detach() for m in modules]) if biased else None
        start = 0
        for module, size in zip(modules, self.sizes, strict=True):
            # .data keeps each Parameter object (and anything holding it) while it becomes a view of the fused matrix.
            module.weight.data = self.weight[start : start + size]
            if self.bias is not None:
                module.bias.data = self.bias[start : start + size]
            start += size
        self._views = [(m.weight, m.weight.data_ptr()) for m in modules]
        self._stash: tuple[torch.Tensor, tuple[torch.Tensor, ...]] | None = None
        for module in modules:
            module.fused_group = self  # a plain attribute: decoding_products finds the group through it
        modules[0].forward = types.MethodType(_lead_forward(self), modules[0])
        for index, module in enumerate(modules[1:], start=1):
            module.forward = types.MethodType(_member_forward(self, index), module)

    def intact(self) -> bool:
        """False once a weight no longer lies in the fused matrix (its data was replaced)."""
        return all(weight.data_ptr() == pointer for weight, pointer in self._views)

    def lead(self, module: Any, x: torch.Tensor) -> torch.Tensor:
        if not self.intact():
            self._stash = None
            return cpu_linear(x, module.weight, module.bias)
        parts = cpu_linear(x, self.weight, self.bias).split(self.sizes, dim=-1)
        self._stash = (x, parts)  # one tuple: a thread reading it sees x and its parts together
        return parts[0]

    def member(self, index: int, module: Any, x: torch.Tensor) -> torch.Tensor:
        stash = self._stash
        if stash is None or stash[0] is not x:
            return cpu_linear(x, module.weight, module.bias)
        if index == len(self.sizes) - 1:
            self._stash = None  # the last reader: do not keep the input and output alive
        return stash[1][index]


def _lead_forward(group: FusedGroup) -> Any:
    def forward(self: Any, x: torch.Tensor) -> torch.Tensor:
        return group.lead(self, x)

    return forward


def _member_forward(group: FusedGroup, index: int) -> Any:
    def forward(self: Any, x: torch.Tensor) -> torch.Tensor:
        return group.member(index, self, x)

    return forward


def _linear_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    return cpu_linear(x, self.weight, self.bias)


def _get(block: Any, path: str) -> Any:
    for name in path.split("."):
        block = getattr(block, name, None)
    return block


def _cpu_float32(weight: Any) -> bool:
    import torch

    return weight is not None and weight.device.type == "cpu" and weight.dtype == torch.float32


def _fusable(modules: Sequence[Any]) -> bool:
    import torch

    if not all(type(m) is torch.nn.Linear and _cpu_float32(m.weight) for m in modules):
        return False
    inputs = {int(m.weight.shape[1]) for m in modules}
    biases = {m.bias is None for m in modules}
    return len(inputs) == 1 and len(biases) == 1 and all(_cpu_float32(m.bias) for m in modules if m.bias is not None)
