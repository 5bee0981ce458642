"""Spread a torch model over several devices (accelerate's device map), and say where each decoder block runs.

A model bigger than one GPU loads block by block over the GPUs (and, if allowed, the CPU): the user gives a
max-memory setting (`0=20GiB,1=20GiB,cpu=64GiB`), or simply has 2+ CUDA GPUs and leaves the device on auto. The
plan is computed here on a meta-device copy of the model (no weights, no GPU touched), so it can be checked on
any machine; transformers then loads the weights straight to the planned devices.

Steering tensors and SAEs must sit where their block runs: `block_device` reads it from the live module
(accelerate's execution device for an offloaded block, else its parameters' device), and `ModelInfo.layer_devices`
carries it across threads as plain strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from workbench.errors import InputError, ModelLoadError

if TYPE_CHECKING:
    import torch

MaxMemory = dict[int | str, int]  # device (GPU number, "cpu" or "mps") → bytes

EXAMPLE = "0=20GiB,1=20GiB,cpu=64GiB"
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:([kmgt]i?)b|(b))$", re.IGNORECASE)


def parse_max_memory(text: str) -> MaxMemory:
    """`0=20GiB,1=20GiB,cpu=64GiB` → {0: bytes, 1: bytes, "cpu": bytes}; "" → {} (not set).

    The one parser for the CLI's --max-memory and the window's field; an InputError with one line otherwise.
    """
    result: MaxMemory = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key_text, sep, size_text = item.partition("=")
        if not sep:
            raise InputError(f"max memory {item!r} is not DEVICE=SIZE (e.g. {EXAMPLE})")
        key = _device_key(key_text.strip(), item)
        if key in result:
            raise InputError(f"max memory names device {key!r} twice")
        result[key] = _size(size_text.strip(), item)
    if text.strip() and not result:
        raise InputError(f"max memory {text!r} names no device (e.g. {EXAMPLE})")
    return result


def _device_key(text: str, item: str) -> int | str:
    lowered = text.lower()
    if lowered.startswith("cuda:"):
        lowered = lowered[5:]
    if lowered.isdigit():
        return int(lowered)
    if lowered in ("cpu", "mps"):
        return lowered
    raise InputError(f"max memory {item!r}: the device is a GPU number (0, 1, …), cpu or mps, not {text!r}")


def _size(text: str, item: str) -> int:
    match = _SIZE.match(text)
    if match is None:
        raise InputError(f"max memory {item!r}: the size needs a unit, like 20GiB, 512MiB or 64GB")
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    return int(number * _UNITS[unit])


def format_bytes(n: int) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.4g}{unit}"
    return f"{n}B"


def should_spread(device: str, max_memory: Mapping[int | str, int], cuda_devices: int) -> bool:
    """Whether to load with a device map: a max-memory setting was given, or the device is auto and the machine
    has 2+ CUDA GPUs. A max-memory setting with an explicit device is a contradiction, refused in one line."""
    auto = device.strip().lower() in ("", "auto")
    if max_memory:
        if not auto:
            raise ModelLoadError(
                f"max memory spreads the model over the devices it names: leave the device on auto, not {device!r}"
            )
        return True
    return auto and cuda_devices > 1


def check_devices_exist(max_memory: Mapping[int | str, int], cuda_devices: int, mps: bool) -> None:
    for key in max_memory:
        if isinstance(key, int) and key >= cuda_devices:
            raise ModelLoadError(f"max memory names GPU {key}, but this machine has {cuda_devices} CUDA GPU(s)")
        if key == "mps" and not mps:
            raise ModelLoadError("max memory names mps, but Apple MPS is not available on this machine")


def primary_device(max_memory: Mapping[int | str, int], cuda_devices: int) -> str:
    """The device whose dtype a spread model takes (bf16 on CUDA, fp16 on MPS, fp32 on the CPU)."""
    if any(isinstance(k, int) for k in max_memory) or (not max_memory and cuda_devices):
        return "cuda"
    return "mps" if "mps" in max_memory else "cpu"


def plan_device_map(
    config: Any, dtype: torch.dtype, max_memory: Mapping[int | str, int] | None, trust_remote_code: bool = False
) -> dict[str, Any]:
    """Where each module of the model for `config` goes (module name → GPU number or "cpu"), balanced over the
    GPUs as transformers' device_map="auto" does, computed on the meta device: no weights, no GPU needed.

    `max_memory` None or empty: what each device has free (accelerate asks the devices)."""
    from accelerate import init_empty_weights
    from accelerate.utils import get_balanced_memory, infer_auto_device_map
    from transformers import AutoModelForCausalLM

    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, trust_remote_code=trust_remote_code)
    no_split = sorted(getattr(model, "_no_split_modules", None) or [])
    memory = dict(max_memory) if max_memory else None
    balanced = get_balanced_memory(model, max_memory=memory, no_split_module_classes=no_split, dtype=dtype)
    plan = infer_auto_device_map(model, max_memory=balanced, no_split_module_classes=no_split, dtype=dtype)
    if "disk" in plan.values():
        needed = sum(p.numel() * p.element_size() for p in model.parameters())
        given = ", ".join(f"{k}={format_bytes(v)}" for k, v in (memory or {}).items()) or "the free memory"
        raise ModelLoadError(
            f"the model ({format_bytes(needed)} in {str(dtype).removeprefix('torch.')}) does not fit in {given}: "
            "give the devices more, or add cpu=SIZE"
        )
    return dict(plan)


def layer_devices_from_map(plan: Mapping[str, Any], n_layers: int, prefix: str = "model.layers") -> tuple[str, ...]:
    """The device each decoder block runs on under `plan` (module name → device), as torch device strings.

    A block without its own entry takes the entry of its closest enclosing module ("model" or ""). A block
    placed on the CPU beside GPUs is offloaded: accelerate keeps its weights in CPU memory and runs it on the
    first GPU of the plan, as accelerate's dispatch does."""
    accelerators = [d for d in plan.values() if d not in ("cpu", "disk")]
    main = accelerators[0] if accelerators else "cpu"
    devices = []
    for layer in range(n_layers):
        name = f"{prefix}.{layer}"
        owner = max(
            (key for key in plan if key == "" or name == key or name.startswith(key + ".")),
            key=len,
            default=None,
        )
        if owner is None:
            raise ModelLoadError(f"the device map places no module that holds {name}")
        placed = plan[owner]
        devices.append(device_name(main if placed in ("cpu", "disk") else placed))
    return tuple(devices)


def device_name(device: Any) -> str:
    """A GPU number → "cuda:N"; "cpu", "mps", torch.device → their string."""
    if isinstance(device, int):
        return f"cuda:{device}"
    return str(device)


def block_device(block: Any) -> str:
    """Where `block` computes: accelerate's execution device for a dispatched (or offloaded) block, else the
    device of its first parameter."""
    hook = getattr(block, "_hf_hook", None)
    execution = getattr(hook, "execution_device", None)
    if execution is not None:
        return device_name(execution)
    return str(next(block.parameters()).device)


def block_devices(blocks: Sequence[Any]) -> tuple[str, ...]:
    return tuple(block_device(b) for b in blocks)


def describe_layer_devices(devices: Sequence[str]) -> str:
    """("cuda:0", "cuda:0", "cuda:1") → "cuda:0 (layers 0–1), cuda:1 (layer 2)"."""
    runs: list[tuple[str, int, int]] = []
    for layer, device in enumerate(devices):
        if runs and runs[-1][0] == device:
            runs[-1] = (device, runs[-1][1], layer)
        else:
            runs.append((device, layer, layer))
    return ", ".join(
        f"{device} (layer {lo})" if lo == hi else f"{device} (layers {lo}–{hi})" for device, lo, hi in runs
    )
