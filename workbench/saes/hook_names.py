"""Map an SAE's hook name to the decoder layer whose output (the residual stream) it reads.

Registry SAEs use TransformerLens names (`blocks.L.hook_resid_post`); SAEs trained on an HF model through
sae-lens's HookedProxyLM use HF module paths (`model.layers.L`). Both name the same tensor: the output of
decoder block L. `hook_resid_pre` of block L is the output of block L−1.
"""

from __future__ import annotations

import re

from workbench.errors import SaeLoadError

_PATTERNS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"^blocks\.(\d+)\.hook_resid_post$"), 0),
    (re.compile(r"^blocks\.(\d+)\.hook_resid_pre$"), -1),
    (re.compile(r"^(?:model\.)?layers\.(\d+)(?:\.output)?$"), 0),
    (re.compile(r"^model\.model\.layers\.(\d+)$"), 0),
)


def residual_layer(hook_name: str) -> int:
    """The decoder layer whose output `hook_name` reads; a clear error for hooks that are not the residual."""
    for pattern, offset in _PATTERNS:
        match = pattern.match(hook_name.strip())
        if match:
            layer = int(match.group(1)) + offset
            if layer < 0:
                raise SaeLoadError(
                    f"SAE hook {hook_name!r} reads the embeddings (before block 0), which cannot be steered"
                )
            return layer
    raise SaeLoadError(
        f"SAE hook {hook_name!r} is not a residual-stream hook; supported: blocks.L.hook_resid_post, "
        "blocks.L.hook_resid_pre, model.layers.L"
    )


def hf_module_path(layer: int) -> str:
    """The HF module whose output is the residual stream after block `layer`."""
    return f"model.layers.{layer}"
