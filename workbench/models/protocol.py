"""The small protocol every model backend implements, and the plain data it hands out.

A backend declares what it can do (`Capabilities`): transformers can add, clamp and ablate and capture
activations; a llama.cpp backend can only add control vectors. Callers check capabilities, not classes, and
go through the protocol only: every analysis, metric and record works with any backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from workbench.errors import InputError
from workbench.models.edits import EditMode, ResidualEdits

if TYPE_CHECKING:
    import numpy as np

    from workbench.cancel import CancelToken
    from workbench.models.generation import GenerationRun
    from workbench.models.sampling import SamplingSettings


@dataclass(frozen=True)
class Capabilities:
    modes: frozenset[EditMode]
    capture: bool  # residuals, logits with a residual splice, and the logit lens, for any text
    batched: bool  # baseline and variants in one batch

    def require_capture(self, what: str) -> None:
        """Refuse, in one line and before any work, an analysis that needs activations this backend cannot give."""
        if not self.capture:
            raise InputError(f"this model backend cannot capture activations, so it cannot {what}")


@dataclass(frozen=True)
class ModelInfo:
    """Facts about the loaded model, safe to hand to any thread."""

    name: str
    path: str  # the folder of the weights actually loaded (the cache folder for a converted GGUF)
    source: str  # the spec the user gave
    device: str  # where the model runs, and where SAEs and steering tensors go
    dtype: str  # the model's dtype name ("float32", "bfloat16", …)
    n_layers: int
    d_model: int
    vocab_size: int
    has_chat_template: bool
    parameters: int
    memory_bytes: int
    architecture: str = "llama"  # the model type a session records ("llama", "mistral", …)
    eos_token_id: int | None = None  # the tokenizer's end-of-text token (separates packed documents)
    context_length: int | None = None  # the most positions the model accepts (None = unknown)
    backend: str = "torch"  # the registry name of the backend that loaded it (models/registry.py)
    # Where each decoder block runs when the model is spread over devices (a device map); () = all on `device`.
    layer_devices: tuple[str, ...] = ()

    def layer_device(self, layer: int) -> str:
        """The device of block `layer`: where its steering tensors and its SAEs go."""
        return self.layer_devices[layer] if self.layer_devices else self.device

    @property
    def spread(self) -> bool:
        """Whether the blocks run on more than one device."""
        return len(set(self.layer_devices)) > 1


@dataclass(frozen=True)
class ResidualSplice:
    """Replace the residual after block `layer` at positions `start`… by `values` ((n, d_model) float32).

    Plain data rather than a hook, so any backend can apply it: the CE loss with an SAE spliced in replaces a
    layer's output by the SAE's reconstruction (or zeros) and reads the logits.
    """

    layer: int
    values: np.ndarray
    start: int = 0


@dataclass(frozen=True)
class ForwardPass:
    """One forward over a text: next-token logits per position, and the residuals asked for."""

    logits: np.ndarray  # (seq, vocab) float32
    residuals: dict[int, np.ndarray] = field(default_factory=dict)  # layer → (seq, d_model), before any splice


class ModelBackend(Protocol):
    info: ModelInfo
    capabilities: Capabilities

    # -- text -------------------------------------------------------------------------------------------------
    def encode_prompt(self, text: str, chat: bool) -> list[int]:
        """Token ids for a prompt: with the chat template (and generation prompt) or raw (with bos if any)."""
        ...

    def encode_text(self, text: str) -> list[int]:
        """Token ids of a document without special tokens (for packing several into one window)."""
        ...

    def decode(self, token_ids: Sequence[int]) -> str: ...

    def token_strings(self, token_ids: Sequence[int]) -> list[str]:
        """One readable string per token id (heatmap axes, promoted tokens, examples)."""
        ...

    # -- generation -------------------------------------------------------------------------------------------
    def generate(
        self,
        prompt_ids: Sequence[int],
        plan: ResidualEdits,
        settings: SamplingSettings,
        cancel: CancelToken | None = None,
    ) -> GenerationRun:
        """A run to iterate for token events; each row of `plan` is one pane of the same batch."""
        ...

    # -- capture (capabilities.capture) ---------------------------------------------------------------------
    # A forward over a long text takes seconds on a CPU: `cancel` is checked between decoder blocks, so a
    # superseded analysis stops within one block (Cancelled).
    def residuals(
        self, token_ids: Sequence[int], layers: Sequence[int], cancel: CancelToken | None = None
    ) -> dict[int, np.ndarray]:
        """The residual stream (output of each decoder block in `layers`) for `token_ids`, (seq, d_model)."""
        ...

    def residual_batch(
        self, rows: Sequence[Sequence[int]], layers: Sequence[int], cancel: CancelToken | None = None
    ) -> dict[int, np.ndarray]:
        """The same for rows of equal length in one batch: (rows, seq, d_model) float32 per layer."""
        ...

    def forward(
        self,
        token_ids: Sequence[int],
        capture: Sequence[int] = (),
        splice: ResidualSplice | None = None,
        cancel: CancelToken | None = None,
    ) -> ForwardPass:
        """Logits for `token_ids`, with `splice` applied, and the residuals of the `capture` layers."""
        ...

    def forward_batch(
        self, rows: Sequence[Sequence[int]], capture: Sequence[int] = (), cancel: CancelToken | None = None
    ) -> list[ForwardPass]:
        """`forward` (no splice) for several non-empty texts of any lengths at once: one pass per row, its arrays
        as long as its row and equal to that row's own `forward` up to float rounding (a backend without batches
        may run the rows one at a time)."""
        ...

    def unembed(self, directions: np.ndarray, normalize: bool = False) -> np.ndarray:
        """Logits (n, vocab) that residual `directions` (n, d_model) give: the final norm's gain and the output
        embedding (the logit lens), or with `normalize` the whole final norm (each row scaled to unit RMS first)."""
        ...

    def close(self) -> None: ...


def forward_each(
    backend: Any, rows: Sequence[Sequence[int]], capture: Sequence[int] = (), cancel: CancelToken | None = None
) -> list[ForwardPass]:
    """`forward_batch` for a backend that runs one sequence at a time (`forward_batch = forward_each` in its class):
    each row's own `forward`."""
    if not rows or any(not r for r in rows):
        raise InputError("a batched forward needs at least one row, and every row at least one token")
    return [backend.forward(r, capture, cancel=cancel) for r in rows]


def check_layers(info: ModelInfo, layers: Sequence[int]) -> None:
    """One clear error for a layer the model does not have."""
    for layer in layers:
        if not 0 <= layer < info.n_layers:
            raise InputError(f"layer {layer} is out of range: the model has layers 0–{info.n_layers - 1}")


def check_prompt(info: ModelInfo, prompt_ids: Sequence[int], max_new_tokens: int) -> None:
    """One clear error for an empty prompt, or one that leaves no room in the model's context."""
    if not prompt_ids:
        raise InputError("the prompt is empty")
    limit = info.context_length
    if limit and len(prompt_ids) + max_new_tokens > limit:
        raise InputError(f"prompt plus max new tokens exceeds the model's context of {limit} tokens")
