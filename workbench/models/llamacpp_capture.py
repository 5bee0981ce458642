"""Activation capture on llama.cpp: residuals (tensors `l_out-L`), all-position logits, a residual splice.

A separate, unsteered context whose graph callback (`cb_eval`) asks the scheduler to stop after each wanted
`l_out-L` node, copies it out and, for a splice, writes the new values back before the next block reads them.
Only the layers asked for are read; with nothing after the deepest layer needed the callback ends the pass
there; with a cancel token every block output is a stop point, so a cancel takes effect within one block.
Generation contexts have no callback, so steering pays nothing for this.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import numpy as np

from workbench.cancel import CancelToken
from workbench.errors import Cancelled
from workbench.models.llamacpp_native import NativeContext, NativeModel, ggml
from workbench.models.protocol import ResidualSplice


class CaptureContext:
    """Owns the capture context (grown when a longer text arrives) and its callback's per-pass state."""

    def __init__(self, model: NativeModel, n_threads: int) -> None:
        self.model = model
        self.n_threads = n_threads
        self._ggml = ggml()
        self._ctx: NativeContext | None = None
        self._callback = model.lib.ggml_backend_sched_eval_callback(self._on_tensor)
        self._reset_pass((), None, False, None)

    def run(
        self,
        token_ids: Sequence[int],
        layers: Sequence[int],
        splice: ResidualSplice | None = None,
        logits: bool = False,
        cancel: CancelToken | None = None,
    ) -> tuple[np.ndarray | None, dict[int, np.ndarray]]:
        """One unsteered forward over `token_ids`: (all-position logits or None, residual per layer)."""
        ids = [int(i) for i in token_ids]
        if cancel is not None:
            cancel.raise_if_cancelled()
        ctx = self._context(len(ids))
        ctx.clear()
        self._reset_pass(layers, splice, not logits and splice is None, cancel)
        try:
            ctx.decode(ids, 0, all_logits=True)  # every position is an output: the last block keeps all rows
        finally:
            state = self._state
            self._reset_pass((), None, False, None)
        if state["cancelled"]:
            raise Cancelled()
        residuals = {
            layer: np.concatenate(state["chunks"][layer]) if state["chunks"][layer] else np.zeros((0, 0))
            for layer in layers
        }
        return (ctx.all_logits(len(ids)) if logits else None), residuals

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.close()
            self._ctx = None

    # -- the callback ---------------------------------------------------------------------------------------
    def _context(self, n_tokens: int) -> NativeContext:
        if self._ctx is None or self._ctx.n_ctx < n_tokens:
            self.close()
            self._ctx = NativeContext(self.model, max(512, n_tokens), self.n_threads, cb_eval=self._callback)
        return self._ctx

    def _reset_pass(
        self, layers: Sequence[int], splice: ResidualSplice | None, stop_early: bool, cancel: CancelToken | None
    ) -> None:
        wanted = {f"l_out-{layer}".encode(): layer for layer in layers}
        if splice is not None:
            wanted[f"l_out-{splice.layer}".encode()] = splice.layer
        deepest = max(wanted.values()) if wanted and stop_early else None
        self._state: dict[str, Any] = {
            "capture": set(layers),
            "wanted": wanted,
            "splice": splice,
            "deepest": deepest,
            "cancel": cancel,
            "cancelled": False,
            "seen": dict.fromkeys(wanted.values(), 0),  # rows of each layer seen (a long text comes in ubatches)
            "chunks": {layer: [] for layer in layers},
        }

    def _on_tensor(self, tensor: Any, ask: bool, _user: Any) -> bool:
        state = self._state
        name = self._ggml.ggml_get_name(tensor)
        if ask:
            # Stop points: the wanted block outputs, and every block output when a cancel must be honoured.
            return name in state["wanted"] or (state["cancel"] is not None and name.startswith(b"l_out-"))
        cancel = state["cancel"]
        if cancel is not None and cancel.cancelled:
            state["cancelled"] = True
            return False  # the scheduler stops computing the rest of the graph
        layer = state["wanted"].get(name)
        if layer is None:
            return True
        d = self.model.n_embd
        rows = int(self._ggml.ggml_nelements(tensor)) // d
        values = np.empty((rows, d), dtype=np.float32)
        self._ggml.ggml_backend_tensor_get(tensor, values.ctypes.data, 0, values.nbytes)
        first = state["seen"][layer]
        state["seen"][layer] = first + rows
        if layer in state["capture"]:
            state["chunks"][layer].append(values.copy())
        splice: ResidualSplice | None = state["splice"]
        if splice is not None and splice.layer == layer:
            _write_splice(self._ggml, tensor, values, first, splice)
        return state["deepest"] is None or layer < state["deepest"]


def _write_splice(lib: Any, tensor: Any, values: np.ndarray, first: int, splice: ResidualSplice) -> None:
    """Overwrite the rows of this chunk (positions first…) that the splice covers, in place in the graph."""
    rows = values.shape[0]
    new = np.asarray(splice.values, dtype=np.float32)
    lo = max(splice.start, first)
    hi = min(splice.start + new.shape[0], first + rows)
    if hi <= lo:
        return
    values[lo - first : hi - first] = new[lo - splice.start : hi - splice.start]
    block = np.ascontiguousarray(values[lo - first : hi - first])
    offset = (lo - first) * values.shape[1] * 4
    lib.ggml_backend_tensor_set(tensor, block.ctypes.data_as(ctypes.c_void_p), offset, block.nbytes)
