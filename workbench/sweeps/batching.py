"""How many sweep rows to generate in one batch: as many as fit a share of the free memory, capped where a
bigger batch stops paying off.

Per row, decoding holds a KV cache (2 × layers × positions × d_model values; an upper bound, since grouped-query
attention stores fewer heads), the prompt's activations during prefill (~16 values per position and d_model:
attention, MLP and norms) and two vocabulary-sized logit rows. The weights are loaded already and not counted.
"""

from __future__ import annotations

from workbench.models.protocol import ModelInfo

MEMORY_SHARE = 0.3  # of the free memory: the window, the SAEs and the measurement passes need the rest
MAX_BATCH = 64  # past this a CPU gains nothing and a GPU's step latency grows; the user can still ask for more


def row_bytes(info: ModelInfo, positions: int) -> int:
    """Estimated memory one batch row needs while decoding `positions` tokens (prompt + new)."""
    width = 2 if info.dtype in ("float16", "bfloat16") else 4
    kv_cache = 2 * info.n_layers * positions * info.d_model * width
    prefill = 16 * positions * info.d_model * 4
    logits = 2 * info.vocab_size * 4
    return kv_cache + prefill + logits


def free_memory_bytes(device: str) -> int | None:
    """Free memory where the model runs: the CUDA device's, else the machine's available RAM (None: unknown)."""
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os

        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def choose_batch_size(info: ModelInfo, positions: int, free_bytes: int | None) -> int:
    """Rows per batch for a model and a prompt + new-token length, given the free memory."""
    if free_bytes is None:
        return 8  # unknown memory: a modest batch still gets most of the batching gain
    fit = int(free_bytes * MEMORY_SHARE) // max(row_bytes(info, positions), 1)
    return max(1, min(MAX_BATCH, fit))
