"""Sampling settings and the per-row sampler.

Every pane draws from its own random generator seeded with the same seed, so (1) adding or removing a variant
never changes another pane's tokens, and (2) baseline and variants share their random numbers: where their
next-token distributions agree, they pick the same token, so the differences you see come from the steer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from workbench.errors import InputError

if TYPE_CHECKING:
    import torch


# Seeds fit a signed 32-bit int, so every seed a script or session uses can be typed into the window's seed box
# (Qt spin boxes hold int32): a seed the window had to round would give other tokens.
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class SamplingSettings:
    seed: int = 0
    temperature: float = 0.7  # 0 = greedy
    top_p: float = 0.9  # 1 = off
    top_k: int = 0  # 0 = off
    repetition_penalty: float = 1.0  # 1 = off
    max_new_tokens: int = 64
    stop_at_eos: bool = True

    def __post_init__(self) -> None:
        checks = [
            (self.temperature >= 0 and math.isfinite(self.temperature), "temperature must be ≥ 0"),
            (0 < self.top_p <= 1, "top-p must be in (0, 1]"),
            (self.top_k >= 0, "top-k must be ≥ 0"),
            (
                self.repetition_penalty > 0 and math.isfinite(self.repetition_penalty),
                "repetition penalty must be > 0",
            ),
            (self.max_new_tokens >= 1, "max new tokens must be ≥ 1"),
            (0 <= self.seed <= MAX_SEED, f"seed must be between 0 and {MAX_SEED}"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RowSampler:
    """Turns a batch of next-token logits into one token per row, each row with its own seeded generator."""

    def __init__(self, settings: SamplingSettings, n_rows: int, row_seeds: Sequence[int] | None = None) -> None:
        import torch
        from transformers import (
            LogitsProcessorList,
            RepetitionPenaltyLogitsProcessor,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        self.settings = settings
        processors = LogitsProcessorList()
        if settings.repetition_penalty != 1.0:
            processors.append(RepetitionPenaltyLogitsProcessor(settings.repetition_penalty))
        if not settings.greedy:
            processors.append(TemperatureLogitsWarper(settings.temperature))
            if settings.top_k > 0:
                processors.append(TopKLogitsWarper(settings.top_k))
            if settings.top_p < 1.0:
                processors.append(TopPLogitsWarper(settings.top_p))
        self._processors = processors
        # Sampling happens on the CPU with CPU generators: the seed → token mapping is then the same on every
        # device, given the same probabilities. A sweep puts rows of several seeds in one batch (`row_seeds`);
        # each row then draws exactly what a run with `settings.seed` = its seed would draw.
        seeds = [settings.seed] * n_rows if row_seeds is None else [int(s) for s in row_seeds]
        if len(seeds) != n_rows:
            raise InputError(f"{len(seeds)} row seeds for {n_rows} rows")
        for seed in seeds:
            if not 0 <= seed <= MAX_SEED:
                raise InputError(f"seed must be between 0 and {MAX_SEED}")
        self._generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]

    def __call__(self, sequences: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """`sequences` (rows, len) so far and `logits` (rows, vocab) → next tokens (rows,) on the CPU."""
        import torch

        scores = self._processors(sequences.long(), logits.float())  # type: ignore[arg-type]
        if self.settings.greedy:
            return scores.argmax(dim=-1).cpu()
        probs = torch.softmax(scores, dim=-1).cpu()
        picks = [torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(self._generators)]
        return torch.cat(picks)
