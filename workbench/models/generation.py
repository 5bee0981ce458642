"""Batched, streaming, cancellable generation: the baseline and every variant as rows of ONE batch.

We run our own decode loop over the transformers model (with its KV cache and logits processors) instead of
`model.generate`, because we need: a token-event iterator with a cancel check at every token, per-row random
generators (see sampling.py), and each forward pass to tell the steering hooks which absolute positions it
covers, so prompt-only / generated-only edits also apply at every newly generated position with the cache on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workbench.errors import SteeringError
from workbench.models.sampling import RowSampler, SamplingSettings

if TYPE_CHECKING:
    import torch

    from workbench.cancel import CancelToken
    from workbench.models.edits import EditFiring, ResidualEdits


@dataclass(frozen=True)
class TokenEvent:
    """One decoding step: per pane, the new token id and the text it added (None once the pane has stopped)."""

    step: int
    token_ids: tuple[int | None, ...]
    texts: tuple[str | None, ...]


@dataclass(frozen=True)
class PaneResult:
    name: str
    token_ids: tuple[int, ...]
    text: str
    finish_reason: str  # "eos", "length" or "cancelled"
    edits_fired: tuple[EditFiring, ...]
    tokens_per_s: float


@dataclass(frozen=True)
class GenerationResult:
    prompt_ids: tuple[int, ...]
    panes: tuple[PaneResult, ...]
    settings: SamplingSettings
    wall_s: float
    steps: int
    cancelled: bool

    @property
    def tokens_per_s(self) -> float:
        """Decoding steps per second; every pane advances one token per step."""
        return self.steps / self.wall_s if self.wall_s > 0 else 0.0


class StreamDecoder:
    """Turns a growing list of token ids into text increments, holding back a split multi-byte character."""

    def __init__(self, decode: Callable[[Sequence[int]], str]) -> None:
        self._decode = decode
        self._ids: list[int] = []
        self._emitted = 0

    def push(self, token_id: int) -> str:
        self._ids.append(token_id)
        text = self._decode(self._ids)
        if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence: wait for the next token
            return ""
        piece, self._emitted = text[self._emitted :], len(text)
        return piece

    def text(self) -> str:
        return self._decode(self._ids)


# A forward pass: (token ids for the new positions (rows, n), absolute start position, cache) → logits (rows, vocab)
ForwardFn = Callable[["torch.Tensor", int, object], "torch.Tensor"]


@dataclass
class GenerationRun:
    """Iterate to stream `TokenEvent`s; `result` is set when the iteration ends (finished or cancelled)."""

    prompt_ids: Sequence[int]
    plan: ResidualEdits
    settings: SamplingSettings
    forward: ForwardFn
    new_cache: Callable[[], object]
    decode: Callable[[Sequence[int]], str]
    eos_ids: frozenset[int]
    device: str
    cancel: CancelToken | None = None
    # One seed per row instead of `settings.seed` for all (a sweep batches rows of several seeds); None = all alike.
    row_seeds: Sequence[int] | None = None
    result: GenerationResult | None = field(default=None, init=False)

    def __iter__(self) -> Iterator[TokenEvent]:
        import torch

        # STEP 1: the same prompt in every row, so no padding is needed and rows stay bit-comparable.
        rows = self.plan.n_rows
        prompt = torch.tensor([list(self.prompt_ids)] * rows, dtype=torch.long, device=self.device)
        sequences = prompt.cpu()
        sampler = RowSampler(self.settings, rows, self.row_seeds)
        decoders = [StreamDecoder(self.decode) for _ in range(rows)]
        generated: list[list[int]] = [[] for _ in range(rows)]
        finish: list[str | None] = [None] * rows
        self.plan.reset_counts()
        cache = self.new_cache()
        start_time = time.perf_counter()
        step = 0
        cancelled = False
        new_input, start = prompt, 0
        while True:
            if self.cancel is not None and self.cancel.cancelled:
                cancelled = True
                break
            # STEP 2: one forward over the new positions; hooks learn where those positions are.
            with torch.inference_mode():
                logits = self.forward(new_input, start, cache)
            self._check_finite(logits, step)
            start += new_input.shape[1]
            # STEP 3: pick a token per row; rows that stopped keep feeding EOS, their output is ignored.
            next_tokens = sampler(sequences, logits)
            ids: list[int | None] = []
            texts: list[str | None] = []
            for r in range(rows):
                if finish[r] is not None:
                    ids.append(None)
                    texts.append(None)
                    continue
                token = int(next_tokens[r])
                if self.settings.stop_at_eos and token in self.eos_ids:
                    finish[r] = "eos"
                    ids.append(None)
                    texts.append(None)
                    continue
                generated[r].append(token)
                ids.append(token)
                texts.append(decoders[r].push(token))
            step += 1
            sequences = torch.cat([sequences, next_tokens[:, None]], dim=1)
            if any(t is not None for t in ids):
                yield TokenEvent(step=step, token_ids=tuple(ids), texts=tuple(texts))
            if all(f is not None for f in finish):
                break
            if step >= self.settings.max_new_tokens:
                for r in range(rows):
                    finish[r] = finish[r] or "length"
                break
            new_input = next_tokens[:, None].to(self.device)
        # STEP 4: results, with how often each edit actually changed the residual stream.
        wall = time.perf_counter() - start_time
        fired = self.plan.firing_report()
        panes = tuple(
            PaneResult(
                name=self.plan.names[r],
                token_ids=tuple(generated[r]),
                text=decoders[r].text(),
                finish_reason=finish[r] or "cancelled",
                edits_fired=fired[r],
                tokens_per_s=len(generated[r]) / wall if wall > 0 else 0.0,
            )
            for r in range(rows)
        )
        self.result = GenerationResult(
            prompt_ids=tuple(self.prompt_ids),
            panes=panes,
            settings=self.settings,
            wall_s=wall,
            steps=step,
            cancelled=cancelled,
        )

    def _check_finite(self, logits: torch.Tensor, step: int) -> None:
        """Stop with one line naming the pane and its edits when a steer pushed the numbers past float range
        (sampling from inf / NaN logits would fail deep inside torch, or return garbage)."""
        import torch

        # One reduction instead of isfinite's five passes over (rows, vocab): NaN and inf carry through a sum, and
        # a sum that overflows from finite values only sends us to the exact check.
        if bool(torch.isfinite(logits.sum())):
            return
        finite = torch.isfinite(logits).all(dim=-1)
        if bool(finite.all()):
            return
        row = int((~finite).nonzero()[0, 0])
        edits = ", ".join(f.edit.describe() for f in self.plan.firing_report()[row]) or "no edits"
        raise SteeringError(
            f"pane '{self.plan.names[row]}' produced non-finite numbers (inf or NaN) at step {step + 1}: "
            f"its edits ({edits}) are too strong for this model; lower the strength"
        )

    def run(self, on_token: Callable[[TokenEvent], None] | None = None) -> GenerationResult:
        """Consume the stream (calling `on_token` per step) and return the result."""
        for event in self:
            if on_token is not None:
                on_token(event)
        assert self.result is not None
        return self.result
