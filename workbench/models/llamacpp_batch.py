"""Panes as sequences of ONE llama.cpp context, each with its own steering vector, for 2+ panes on the CPU.

llama.cpp's control vector is one per context and is added to every row of a batch, so the first version of this
backend ran a context per pane and paid for every pane in full. Here the panes are sequences 0…rows-1 of one
context, decoded in one batch per step (one token per pane; the prompt in chunks of equal length per pane), and
each row gets its pane's vector added to `l_out-L` by the graph callback (`cb_eval`): the scheduler stops after
each `l_out-L` of a layer that has a vector, we read the rows, add, and write them back before block L+1 reads
them (host memory: CPU only, so a model with layers on a GPU keeps a context per pane).

What was checked rather than assumed (llama-cpp-python 0.3.36; tests/core/models/test_llamacpp_batch.py):
- Rows. The KV cache is not unified, so llama.cpp splits a batch "equally": a ubatch holds the same number of
  tokens of each sequence, sequence by sequence, in ascending (and consecutive) sequence ids. Every decode call
  we make is one such ubatch, sequence-major, so row r·n + i of `l_out-L` is the call's r-th pane's i-th token.
  Block n_layer-1 keeps only the rows that produce logits, in the same order. The tests steer each pane
  differently, feed different tokens per pane, and compare with one context per pane.
- Bits. A unified cache changed a baseline pane's greedy tokens against its own context (attention over a shared
  cache); separate streams give the same logits bit for bit, and numpy's float32 add is the add llama.cpp does
  for a control vector. One more thing decides the bits: the CPU flash attention runs a tiled float32 kernel
  for 64+ tokens of a sequence in a ubatch and a float16 one below, so a prompt must reach each sequence in the
  same sizes of piece as on its own context (`decode_calls`); cutting an 800-token prompt at 128 instead of
  512 moved logits by up to 1.07.
- Callback cost. The scheduler asks about each of the ~940 graph nodes of a step (30 blocks); a name lookup per
  node cost ≤ 3 % of a 4-pane step (measured with and without the callback, 1 thread), and only the layers with a
  vector in this chunk are stop points.
- One pane keeps llama.cpp's control vector on its own context (no callback, no split graph): that is the
  steered/bare llama-cpp-python ratio. Cancel acts between steps, as on every backend (generation.py).

What it gains (embedded SmolLM2 Q4_1, 2-core AMD EPYC, 2 threads, 64 tokens, shared box at load 0.8-1.9,
bench/llamacpp.py --repeats 5): 4 panes 1.92-2.20 s against 2.91 s for a context per pane (0.75x the time),
one pane 0.72 s; llama.cpp/torch 4-pane ratio 1.73 (torch 3.32 s). Not the 2x hoped for: llama.cpp has no
batched kernel for Q4_1 on x86 (each row is its own dot product, the Q8_0 output matrix too): a per-op
profile at 1 thread gave 11.2 ms a step for 1 row and 34.9 ms for 4 (3.1x), so a batch saves the per-step
overhead and weight reads, not the arithmetic, unlike torch, whose fp32 products are memory-bound and batch
4 panes for about the time of one. Steering itself costs about 2.5 % (4 steered vs 4 unsteered panes).
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from workbench.errors import SteeringError
from workbench.models.control_vector import control_vector
from workbench.models.edits import ResidualEdits
from workbench.models.llamacpp_native import N_UBATCH, NativeModel, ggml, new_context

MAX_SEQUENCES = 64  # llama.cpp's LLAMA_MAX_SEQ in recent versions; more panes than this use a context each
_BODY, _LAST, _GENERATED = "body", "last", "generated"  # prompt positions before the last one, the last, new ones
_SCOPES_AT = {_BODY: ("all", "prompt"), _LAST: ("all", "prompt", "generated"), _GENERATED: ("all", "generated")}

# Per pane, per kind of position, the flat control-vector buffer (layers 1…n-1) or None (nothing added).
PaneVectors = list[dict[str, "np.ndarray | None"]]


def position_kind(pos: int, prompt_len: int) -> str:
    return _BODY if pos < prompt_len - 1 else _LAST if pos == prompt_len - 1 else _GENERATED


def pane_vectors(plan: ResidualEdits, n_layers: int, d_model: int) -> PaneVectors:
    """Per pane, the control vector for each kind of position (None where nothing is added). `generated`
    starts at the last prompt position, whose output predicts the first new token (edits.scope_slice)."""
    adds = plan.constant_adds()
    if any(a.layer == 0 for a in adds):
        raise SteeringError("layer 0 cannot be steered by a llama.cpp control vector: use layer 1 or later")
    panes: PaneVectors = []
    for row in range(plan.n_rows):
        mine = [a for a in adds if a.row == row]
        built: dict[tuple[str, ...], np.ndarray | None] = {}
        where: dict[str, np.ndarray | None] = {}
        for kind, scopes in _SCOPES_AT.items():
            chosen = tuple(sorted({a.positions for a in mine if a.positions in scopes}))
            if chosen not in built:
                picked = [(a.layer, a.vector) for a in mine if a.positions in chosen]
                built[chosen] = control_vector(picked, n_layers, d_model) if picked else None
            where[kind] = built[chosen]
        panes.append(where)
    return panes


def segments(
    start: int, length: int, prompt_len: int, vectors: dict[str, np.ndarray | None]
) -> list[tuple[int, int, np.ndarray | None]]:
    """For a pane on its own context: split a chunk (positions start…start+length) where its control vector
    changes: (lo, hi, vector)."""
    cuts = sorted({0, length} | {c - start for c in (prompt_len - 1, prompt_len) if start < c < start + length})
    out: list[tuple[int, int, np.ndarray | None]] = []
    for lo, hi in pairwise(cuts):
        vector = vectors[position_kind(start + lo, prompt_len)]
        if out and out[-1][2] is vector:  # same vector: one decode call
            out[-1] = (out[-1][0], hi, vector)
        else:
            out.append((lo, hi, vector))
    return out


def ubatch_layout(
    start: int, length: int, prompt_len: int, vectors: dict[str, np.ndarray | None]
) -> tuple[tuple[int, int], ...]:
    """The ubatches (lo, hi), within a chunk, that a pane on its own context goes through: a decode call per
    `segments` piece, which llama.cpp splits every N_UBATCH tokens."""
    return tuple(
        (a, min(hi, a + N_UBATCH))
        for lo, hi, _ in segments(start, length, prompt_len, vectors)
        for a in range(lo, hi, N_UBATCH)
    )


def decode_calls(layouts: Sequence[tuple[tuple[int, int], ...]], n_ubatch: int) -> list[tuple[int, int, int, int]]:
    """Decode calls (first pane, end pane, lo, hi) that give every pane's tokens the same number of tokens of
    their sequence per ubatch as on its own context, each call one ubatch of ≤ n_ubatch tokens: llama.cpp's CPU
    flash attention takes a tiled float32 path from 64 queries of a sequence and a float16 one below, so a
    different split changes the logits (by up to 0.4 on a 800-token prompt). Ubatches all panes share run for all
    of them; the rest for each run of neighbouring panes with the same layout (llama.cpp puts only consecutive
    sequence ids in one ubatch)."""
    rows = len(layouts)
    shared = 0
    while shared < min(map(len, layouts)) and all(lay[shared] == layouts[0][shared] for lay in layouts):
        shared += 1
    calls = [(0, rows, a, b) for lo, hi in layouts[0][:shared] for a, b in _pieces(lo, hi, n_ubatch // rows)]
    first = 0
    while first < rows:
        end = first + 1
        while end < rows and layouts[end] == layouts[first]:
            end += 1
        for lo, hi in layouts[first][shared:]:
            calls += [(first, end, a, b) for a, b in _pieces(lo, hi, n_ubatch // (end - first))]
        first = end
    return calls


def _pieces(lo: int, hi: int, most: int) -> list[tuple[int, int]]:
    """[lo, hi) in near-equal pieces of ≤ `most` tokens. With most ≥ 2·64 a piece of a range of 64 or more
    tokens keeps 64 or more (the attention kernel's threshold), and a shorter range is never cut."""
    k = -(-(hi - lo) // most)
    cuts = [lo + (hi - lo) * i // k for i in range(k + 1)]
    return list(pairwise(cuts))


class PaneBatch:
    """One context whose sequences are the panes; `decode` steps all of them and returns their logits."""

    def __init__(self, model: NativeModel, rows: int, n_ctx_seq: int, n_threads: int) -> None:
        self.model, self.rows, self.n_ctx_seq = model, rows, n_ctx_seq
        self.n_ubatch = max(N_UBATCH, 128 * rows)  # room for 64+ tokens of every sequence (decode_calls)
        self._ggml = ggml()
        self._callback = model.lib.ggml_backend_sched_eval_callback(self._on_tensor)  # must outlive the context
        self._stops: dict[bytes, int] = {}  # `l_out-L` name → layer, for the layers with a vector this call
        self._deltas: dict[int, np.ndarray] = {}  # layer → (ubatch rows, d) to add
        self._out_rows = np.zeros(0, dtype=np.intp)  # ubatch rows that produce logits (what block n-1 keeps)
        self._error = ""
        self.lib = model.lib
        self.ctx = new_context(model, rows * n_ctx_seq, self.n_ubatch, self.n_ubatch, n_threads, rows, self._callback)
        self.batch = self.lib.llama_batch_init(self.n_ubatch, 0, 1)

    def clear(self) -> None:
        self.lib.llama_memory_clear(self.lib.llama_get_memory(self.ctx), True)

    def decode(
        self,
        tokens: Sequence[Sequence[int]],
        start: int,
        deltas: dict[int, np.ndarray],
        layouts: Sequence[tuple[tuple[int, int], ...]],
    ) -> np.ndarray:
        """Evaluate row r's `tokens[r]` as sequence r at positions start…, adding `deltas[L]` (rows, n, d) to
        `l_out-L`, in the ubatches each row has on its own context (`layouts`, from `ubatch_layout`); the
        logits of each row's last position (rows, vocab)."""
        n = len(tokens[0])
        logits = np.empty((len(tokens), self.model.n_vocab), dtype=np.float32)
        calls = [(0, len(tokens), 0, 1)] if n == 1 else decode_calls(layouts, self.n_ubatch)
        for first, end, lo, hi in calls:
            part = {layer: v[first:end, lo:hi].reshape(-1, v.shape[2]) for layer, v in deltas.items()}
            self._decode_call(tokens, start, first, end, lo, hi, part)
            if hi == n:  # these rows' last positions: their logits, before the next call overwrites them
                width = hi - lo
                for i, row in enumerate(range(first, end)):
                    ptr = self.lib.llama_get_logits_ith(self.ctx, i * width + width - 1)
                    logits[row] = np.ctypeslib.as_array(ptr, shape=(self.model.n_vocab,))
        return logits

    def _decode_call(
        self,
        tokens: Sequence[Sequence[int]],
        start: int,
        first: int,
        end: int,
        lo: int,
        hi: int,
        deltas: dict[int, np.ndarray],
    ) -> None:
        b, width, last = self.batch, hi - lo, hi == len(tokens[0])
        i = 0
        for r in range(first, end):  # sequence-major: the order llama.cpp keeps in the ubatch
            for j in range(lo, hi):
                b.token[i] = tokens[r][j]
                b.pos[i] = start + j
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = r
                b.logits[i] = last and j == hi - 1
                i += 1
        b.n_tokens = i
        self._deltas = deltas
        self._stops = {f"l_out-{layer}".encode(): layer for layer in deltas}
        self._out_rows = np.arange(width - 1, i, width) if last else np.zeros(0, dtype=np.intp)
        self._error = ""
        try:
            rc = self.lib.llama_decode(self.ctx, b)
        finally:
            self._stops, self._deltas = {}, {}
        if self._error:
            raise RuntimeError(self._error)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

    def _on_tensor(self, tensor: Any, ask: bool, _user: Any) -> bool:
        layer = self._stops.get(self._ggml.ggml_get_name(tensor))
        if ask or layer is None:
            return layer is not None
        delta = self._deltas[layer]
        d = delta.shape[1]
        rows = int(self._ggml.ggml_nelements(tensor)) // d
        if rows != delta.shape[0]:  # the last block computes only the rows that produce logits
            delta = delta[self._out_rows]
            if rows != delta.shape[0]:
                self._error = f"llama.cpp's l_out-{layer} has {rows} rows where this batch has {delta.shape[0]}"
                return False  # stops the graph; decode raises
        values = np.empty((rows, d), dtype=np.float32)
        self._ggml.ggml_backend_tensor_get(tensor, values.ctypes.data, 0, values.nbytes)
        values += delta
        self._ggml.ggml_backend_tensor_set(tensor, values.ctypes.data_as(ctypes.c_void_p), 0, values.nbytes)
        return True

    def close(self) -> None:
        if self.ctx:
            self.lib.llama_batch_free(self.batch)
            self.lib.llama_free(self.ctx)
            self.ctx = None


class BatchDeltas:
    """The per-layer (rows, n, d) arrays `PaneBatch.decode` adds, from each pane's control-vector buffers; the
    same buffers llama.cpp adds on a pane's own context, so the sums are the same floats."""

    def __init__(self, vectors: PaneVectors, n_embd: int) -> None:
        self.vectors, self.d = vectors, n_embd
        used: set[int] = set()
        for pane in vectors:
            for v in pane.values():
                if v is not None:  # buffer row k is layer k + 1
                    used.update(int(k) + 1 for k in np.flatnonzero(v.reshape(-1, n_embd).any(axis=1)))
        self.layers = sorted(used)
        self._steps: dict[str, dict[int, np.ndarray]] = {}

    def chunk(self, start: int, length: int, prompt_len: int) -> dict[int, np.ndarray]:
        kinds = [position_kind(p, prompt_len) for p in range(start, start + length)]
        if length == 1 and kinds[0] in self._steps:  # every decoding step adds the same
            return self._steps[kinds[0]]
        out: dict[int, np.ndarray] = {}
        at = {kind: [j for j, k in enumerate(kinds) if k == kind] for kind in set(kinds)}
        for layer in self.layers:
            block = np.zeros((len(self.vectors), length, self.d), dtype=np.float32)
            for r, pane in enumerate(self.vectors):
                for kind, where in at.items():
                    vector = pane[kind]
                    if vector is not None:
                        block[r, where] = vector[(layer - 1) * self.d : layer * self.d]
            if block.any():
                out[layer] = block
        if length == 1:
            self._steps[kinds[0]] = out
        return out
