"""Weight storage and matrix kernels that keep decoding cheap on any x86 CPU, one pane or several.

Side-by-side panes decode as one batch of 2–9 rows, so every linear layer multiplies a few rows by its weight.
That product should cost about what one row costs: the weights are read once either way, and reading them is the
bound. How close torch gets depends on the BLAS, and the BLAS depends on the CPU:

- MKL chooses its code paths by CPU *vendor*: its banner (MKL_VERBOSE=1) on an AMD EPYC names no instruction set
  ("Intel(R) Architecture processors"). One row is a matrix-vector product, bound by memory, and runs well; a few
  rows are a small GEMM whose code there is slow enough to set the time itself (SmolLM2's block linears on one
  EPYC core: 39 ms per step for one row, 61 ms for four, 77 ms for eight; bench/panes.py's docstring has the
  profile). How much more four rows cost than one thus depends on which CPU MKL thinks it is on.
- oneDNN, also inside torch, chooses its kernels by the *instruction sets* the CPU reports (AVX-512 on that EPYC):
  its time stays flat from one to eight rows (55-60 ms there). Its fixed cost per call (~10 µs) and its plainer
  matrix-vector code make it slower than MKL for exactly one row. On an AVX2-only EPYC (Zen 3) it is flat only
  with the weight in its own blocked layout, so 2+ rows read a packed copy (`_packed`, PACK_BATCH below).

So `cpu_linear` sends every product of two or more rows to oneDNN (it is also the faster of the two for
prompts on that EPYC: a 40-row product at 109 vs 80 GFLOP/s) and a single row to MKL. Weights are stored
column-major (the same values, W.T contiguous, seen through `.t()`): MKL's matrix-vector product reads them as they
lie at full memory speed (the row-major form took about twice as long for the unembedding on that EPYC) and oneDNN
reads either form. The parameters keep their shape, dtype and values, so hooks, SAEs and anything that reads the
weights see no difference; only their strides change.
"""

from __future__ import annotations

import logging
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


class _Kernels:
    onednn = True  # cleared once if this torch build cannot run it
    packed = True  # cleared once if oneDNN's packed weights fail here


# oneDNN reads a plain (column- or row-major) weight well where it has AVX-512 kernels for it, but on an AVX2-only
# CPU (Zen 3 EPYC) four rows through a plain weight cost 2.3x one row through MKL (65 ms against 29 ms for
# SmolLM2's products, 2 threads): its small-batch kernels there want the weight in their own blocked layout. Packed
# once (torch's _reorder_linear_weight, the layout inductor's freezing uses), four rows cost 1.18x one row (34 ms)
# and eight 1.6x; a 39-token prompt's products took 0.14 s instead of 0.34 s. The packed copy sits beside the
# column-major one, which single rows keep reading through MKL (faster for one row: 29 ms against 36 ms packed),
# so a float32 CPU model holds its weights twice from its first prompt on. Each copy is made only while free memory
# stays above PACK_RESERVE_BYTES after it (the KV cache, activations and logits still need room); short of that,
# products of 2+ rows read the plain weight, as before.
PACK_BATCH = 16  # the batch size oneDNN chooses the blocking for (2-9 panes, and prompts of many rows, use it)
PACK_RESERVE_BYTES = 2 << 30
_PACKED_ATTR = "_workbench_onednn_packed"


_KERNELS = _Kernels()


def cpu_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`x @ weight.T + bias` for `x` of any leading shape: oneDNN for two or more rows on a CPU float32 weight,
    torch's linear otherwise (the same values up to float rounding)."""
    import torch

    rows = x.numel() // x.shape[-1] if x.shape[-1] else 0
    if rows < 2 or x.dtype != torch.float32 or torch.is_grad_enabled():
        return torch.nn.functional.linear(x, weight, bias)
    prepared = onednn_weight(weight)
    if prepared is None:
        return torch.nn.functional.linear(x, weight, bias)
    try:
        out = onednn_linear(x.reshape(rows, x.shape[-1]), prepared, bias)
    except (RuntimeError, AttributeError) as exc:  # a build without oneDNN, or an op this torch lacks
        log.info("oneDNN small-batch linear unavailable (%s); using torch's linear", exc)
        _KERNELS.onednn = False
        return torch.nn.functional.linear(x, weight, bias)
    return out.reshape(*x.shape[:-1], weight.shape[0])


def onednn_weight(weight: torch.Tensor) -> torch.Tensor | None:
    """What `cpu_linear` hands oneDNN for 2+ rows times `weight` (its packed copy, or the weight itself where the
    copy was skipped), or None where cpu_linear would use torch's linear. Callers that multiply by the same
    weights many times (a decoding step: lean_decode.py) prepare them once and call `onednn_linear`."""
    import torch

    if not _KERNELS.onednn or weight.device.type != "cpu" or weight.dtype != torch.float32:
        return None
    return _packed(weight)


def onednn_linear(x: torch.Tensor, prepared: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`cpu_linear`'s product for a 2-D float32 `x` of 2+ rows, without its checks and look-ups: `prepared` comes
    from `onednn_weight`, and grad is off. The op's overload itself, not its packet, which picks the overload per
    call. For 4 rows by a 576×576 weight on a 2-core EPYC: cpu_linear 99 µs, the packet 72 µs, this 64 µs; over
    a 4-pane step's 121 products that is ~4 ms."""
    import torch

    return torch.ops.mkldnn._linear_pointwise.default(x, prepared, bias, "none", [], "")


def _packed(weight: torch.Tensor) -> torch.Tensor:
    """oneDNN's packed copy of `weight`, made at its first use and remade when the weight's data is replaced or
    changed in place; `weight` itself where packing failed or memory is short."""
    import torch

    try:
        version = weight._version
    except RuntimeError:  # an inference tensor keeps no version counter (and cannot be changed in place)
        version = 0
    key = (weight.data_ptr(), version, tuple(weight.shape))
    cached = getattr(weight, _PACKED_ATTR, None)
    if cached is not None and cached[0] == key:
        return weight if cached[1] is None else cached[1]
    packed = None  # None, not the weight itself: a weight holding itself would wait for the cycle collector
    free = _free_cpu_bytes()
    if _KERNELS.packed and (free is None or free >= PACK_RESERVE_BYTES + weight.numel() * weight.element_size()):
        try:
            packed = torch.ops.mkldnn._reorder_linear_weight(weight, PACK_BATCH)
        except (RuntimeError, AttributeError) as exc:
            log.info("oneDNN packed weights unavailable (%s); products of 2+ rows read the plain weight", exc)
            _KERNELS.packed = False
    setattr(weight, _PACKED_ATTR, (key, packed))  # short of memory: the plain weight, not asked again
    return weight if packed is None else packed


def _free_cpu_bytes() -> int | None:
    from workbench.models.memory_guard import free_bytes

    return free_bytes("cpu")


def _cpu_linear_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    return cpu_linear(x, self.weight, self.bias)


def store_linears_column_major(blocks: Any) -> int:
    """Re-store every float32 CPU `nn.Linear` weight under `blocks` column-major and give it the small-batch
    forward; returns how many changed."""
    import torch

    changed = 0
    for module in blocks.modules():
        if type(module) is not torch.nn.Linear:
            continue
        weight = module.weight
        if weight.device.type != "cpu" or weight.dtype != torch.float32 or not weight.is_contiguous():
            continue
        # .data keeps the Parameter object (and anything holding it) while swapping its storage.
        weight.data = column_major(weight.data)
        # An instance attribute: the module keeps its class (and its hooks run as before) but computes through
        # cpu_linear.
        module.forward = types.MethodType(_cpu_linear_forward, module)  # type: ignore[method-assign]
        changed += 1
    return changed


# Rows of W transposed per copy in `column_major`: one strided copy of a whole matrix reads W with a stride of a
# full row for every element it writes (0.7-1 GB/s on a 2-core EPYC: 0.5 s of the warm load for SmolLM2); bands
# of 512 rows keep what they read in cache (2.8-3.5 GB/s for the block matrices).
_TRANSPOSE_BAND = 512


def column_major(*weights: torch.Tensor) -> torch.Tensor:
    """The (out, in) matrix `weights` stacked by rows (one, or a fused group's), stored with W.T contiguous:
    written straight into its place, without the row-major stacked copy in between."""
    import torch

    first = weights[0]
    rows = sum(int(w.shape[0]) for w in weights)
    out = torch.empty((first.shape[1], rows), dtype=first.dtype, device=first.device)
    at = 0
    for weight in weights:
        for start in range(0, weight.shape[0], _TRANSPOSE_BAND):
            band = weight[start : start + _TRANSPOSE_BAND]
            out[:, at : at + band.shape[0]] = band.t()
            at += band.shape[0]
    return out.t()
