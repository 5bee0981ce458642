"""The one residual-capture function for torch decoder blocks: record block outputs, splice one, stop early.

Every read of the residual stream of a transformers model goes through `residual_hooks`: analyses
(residuals for a text), the CE loss with an SAE spliced in (capture, splice, logits), and the batches the
demo SAEs are trained on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from workbench.cancel import CancelToken
    from workbench.models.protocol import ResidualSplice


class _StopForward(Exception):
    """Raised by the deepest capture hook when nothing after it is needed; `residual_hooks` swallows it."""


@contextmanager
def residual_hooks(
    blocks: Sequence[Any],
    layers: Sequence[int],
    splice: ResidualSplice | None = None,
    stop_after_deepest: bool = False,
    cancel: CancelToken | None = None,
) -> Iterator[dict[int, torch.Tensor]]:
    """Hooks for one forward pass: the yielded dict fills with the (detached) output of each block in `layers`,
    taken before `splice` changes it; `splice` replaces one block's output; with `stop_after_deepest`, the pass
    ends after the deepest captured block (the forward call inside the `with` then returns nothing); with
    `cancel`, every block first checks it, so a cancelled forward raises Cancelled within one block.

    The hooks are removed in `finally`, so an error never leaves one behind.
    """
    captured: dict[int, torch.Tensor] = {}
    wanted = set(layers)
    deepest = max(wanted) if stop_after_deepest and wanted else None
    hooked = wanted | ({splice.layer} if splice is not None else set())
    handles = []
    try:
        if cancel is not None:
            handles += [block.register_forward_pre_hook(_checker(cancel)) for block in blocks]
        for layer in sorted(hooked):
            hook = _hook(layer, captured, layer in wanted, splice if splice and splice.layer == layer else None)
            handles.append(blocks[layer].register_forward_hook(hook))
        if deepest is not None:
            handles.append(blocks[deepest].register_forward_hook(_stop))  # after the capture hook of that block
        with suppress(_StopForward):
            yield captured
    finally:
        for handle in handles:
            handle.remove()


def _hook(layer: int, store: dict[int, Any], capture: bool, splice: ResidualSplice | None) -> Any:
    def hook(_module: Any, _args: Any, output: Any) -> Any:
        resid = output[0] if isinstance(output, tuple) else output
        if capture:
            store[layer] = resid.detach()
        if splice is None:
            return None
        new = _spliced(resid, splice)
        return (new, *output[1:]) if isinstance(output, tuple) else new

    return hook


def _stop(_module: Any, _args: Any, _output: Any) -> None:
    raise _StopForward


def _checker(cancel: CancelToken) -> Any:
    def pre_hook(_module: Any, _args: Any) -> None:
        cancel.raise_if_cancelled()

    return pre_hook


def _spliced(resid: torch.Tensor, splice: ResidualSplice) -> torch.Tensor:
    """`resid` (batch, seq, d) with positions start…start+n replaced by the splice's values (every row)."""
    import numpy as np
    import torch

    values = torch.from_numpy(np.ascontiguousarray(splice.values)).to(resid.device, resid.dtype)
    values = values.unsqueeze(0).expand(resid.shape[0], -1, -1)
    end = splice.start + values.shape[1]
    return torch.cat([resid[:, : splice.start], values, resid[:, end:]], dim=1)


def padded_batch(rows: Sequence[Sequence[int]], pad_id: int, device: str) -> tuple[Any, Any, list[int]]:
    """Rows of any lengths as one (batch, longest) id tensor padded on the right with `pad_id`, its attention mask
    (1 on real tokens) and the rows' lengths. Right padding keeps each real token's position, and a causal model's
    real positions never attend to the padding after them."""
    import torch

    from workbench.errors import InputError

    lengths = [len(r) for r in rows]
    if not lengths or min(lengths) == 0:
        raise InputError("a batched forward needs at least one row, and every row at least one token")
    width = max(lengths)
    ids = torch.tensor([[*map(int, r), *[pad_id] * (width - len(r))] for r in rows], dtype=torch.long, device=device)
    mask = torch.tensor([[1] * n + [0] * (width - n) for n in lengths], dtype=torch.long, device=device)
    return ids, mask, lengths
