"""A key/value cache that writes each new position in place instead of copying the whole cache every step.

transformers' DynamicCache grows each layer with `torch.cat([old, new])`: every decoding step copies all keys and
values so far, and the new ones arrive transposed (non-contiguous), so the copy takes torch's slow strided path.
With four side-by-side panes that copy is four times as big, and it grows with the text: on a 2-core CPU it was
the second-largest cost of a 4-pane step after the matrix products (profile in bench/panes.py's docstring).

`GrowingLayer` keeps one buffer per layer with room for the whole run (prompt + max new tokens, known up front;
it doubles if a caller goes beyond) and hands attention a view of the filled part. The values, and so the
attention output, are the same as with concatenation; only the view's strides differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def growing_cache(config: Any, capacity: int) -> Any:
    """A DynamicCache for `config` whose plain full-attention layers write in place with room for `capacity`
    positions; sliding-window and other special layers keep transformers' own behaviour."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    cache = DynamicCache(config=config)
    cache.layers = [GrowingLayer(capacity) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


def _layer_base() -> Any:
    from transformers.cache_utils import DynamicLayer

    return DynamicLayer


class GrowingLayer(_layer_base()):  # type: ignore[misc]
    """A DynamicLayer whose keys and values are views of a preallocated buffer."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self._capacity = max(int(capacity), 1)
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None
        self._used = 0
        self._keys_view: torch.Tensor | None = None

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        if self.keys is not self._keys_view:
            # Someone replaced keys/values (crop, beam reorder, reset): start again from what they left.
            old_keys, old_values = self.keys, self.values
            self._key_buffer = self._value_buffer = None
            self._used = 0
            if old_keys is not None and old_values is not None and old_keys.numel() > 0:
                self._append(old_keys, old_values)
        self._append(key_states, value_states)
        return self.keys, self.values

    def _append(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        new = key_states.shape[-2]
        end = self._used + new
        if self._key_buffer is None or end > self._key_buffer.shape[-2]:
            self._grow(key_states, value_states, max(end, self._capacity, 2 * self._used))
        assert self._key_buffer is not None and self._value_buffer is not None
        self._key_buffer[:, :, self._used : end].copy_(key_states)
        self._value_buffer[:, :, self._used : end].copy_(value_states)
        self._used = end
        self.keys = self._keys_view = self._key_buffer[:, :, :end]
        self.values = self._value_buffer[:, :, :end]

    def _grow(self, key_states: torch.Tensor, value_states: torch.Tensor, length: int) -> None:
        import torch

        def bigger(old: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
            batch, heads, _, dim = like.shape
            buffer = torch.empty(batch, heads, length, dim, dtype=like.dtype, device=like.device)
            if old is not None and self._used:
                buffer[:, :, : self._used].copy_(old[:, :, : self._used])
            return buffer

        self._key_buffer = bigger(self._key_buffer, key_states)
        self._value_buffer = bigger(self._value_buffer, value_states)
