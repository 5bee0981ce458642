"""The small protocol every model backend implements, and the plain data it hands out.

A backend declares what it can do (`Capabilities`): transformers can add, clamp and ablate and capture
activations; a llama.cpp backend can only add control vectors. Callers check capabilities, not classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from workbench.steering.plan import EditMode

if TYPE_CHECKING:
    import numpy as np

    from workbench.cancel import CancelToken
    from workbench.models.generation import GenerationRun, SamplingSettings
    from workbench.steering.compiled import CompiledPlan


@dataclass(frozen=True)
class Capabilities:
    modes: frozenset[EditMode]
    capture: bool  # can return per-layer residuals for any text
    batched: bool  # baseline and variants in one batch


@dataclass(frozen=True)
class ModelInfo:
    """Facts about the loaded model, safe to hand to any thread."""

    name: str
    path: str  # the folder of the weights actually loaded (the cache folder for a converted GGUF)
    source: str  # the spec the user gave
    device: str
    dtype: str
    n_layers: int
    d_model: int
    vocab_size: int
    has_chat_template: bool
    parameters: int
    memory_bytes: int


class ModelBackend(Protocol):
    info: ModelInfo
    capabilities: Capabilities

    def encode_prompt(self, text: str, chat: bool) -> list[int]:
        """Token ids for a prompt: with the chat template (and generation prompt) or raw."""
        ...

    def decode(self, token_ids: Sequence[int]) -> str: ...

    def token_strings(self, token_ids: Sequence[int]) -> list[str]:
        """One readable string per token (for heatmap axes)."""
        ...

    def generate(
        self,
        prompt_ids: Sequence[int],
        plan: CompiledPlan,
        settings: SamplingSettings,
        cancel: CancelToken | None = None,
    ) -> GenerationRun: ...

    def residuals(self, token_ids: Sequence[int], layers: Sequence[int]) -> dict[int, np.ndarray]:
        """The residual stream (output of each decoder block in `layers`) for `token_ids`, (seq, d_model)."""
        ...

    def close(self) -> None: ...
