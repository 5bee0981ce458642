"""Pick the device and dtype: CUDA → MPS → CPU; bf16 on CUDA, fp16 on MPS, fp32 on CPU. Both overridable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.errors import ModelLoadError

if TYPE_CHECKING:
    import torch

DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}


def resolve_device(requested: str = "auto") -> str:
    """The torch device string to use; an unavailable explicit choice is an error, not a silent fallback."""
    import torch

    requested = requested.strip().lower()
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    if requested in ("", "auto"):
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if mps_ok else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelLoadError(f"device {requested!r} requested but CUDA is not available on this machine")
        return requested
    if requested == "mps":
        if not mps_ok:
            raise ModelLoadError("device 'mps' requested but Apple MPS is not available on this machine")
        return requested
    if requested == "cpu":
        return requested
    raise ModelLoadError(f"unknown device {requested!r} (use auto, cpu, cuda, cuda:N or mps)")


def resolve_dtype(requested: str, device: str) -> torch.dtype:
    """The torch dtype to use on `device`."""
    import torch

    requested = requested.strip().lower()
    if requested in ("", "auto"):
        if device.startswith("cuda"):
            return torch.bfloat16
        return torch.float16 if device == "mps" else torch.float32
    name = DTYPES.get(requested)
    if name is None:
        raise ModelLoadError(f"unknown dtype {requested!r} (use auto, float32, float16 or bfloat16)")
    dtype: torch.dtype = getattr(torch, name)
    return dtype


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
