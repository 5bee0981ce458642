"""Model backends by name. A new backend is one module (a class that implements `ModelBackend`, with a loader)
plus one entry in `BUILTIN`.

Entries name their loader as "module:attribute" and are imported on first use, so listing the backends (the
CLI's --help, the window's model panel) imports neither torch nor llama.cpp.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Protocol

from workbench.cancel import CancelToken
from workbench.errors import InputError
from workbench.models.protocol import ModelBackend
from workbench.models.spec import ModelSpec
from workbench.progress import ProgressCallback, ignore_progress

DEFAULT_BACKEND = "torch"

# name → "module:attribute" of its loader
BUILTIN: dict[str, str] = {
    "torch": "workbench.models.hf:HFBackend.load",
    "llama.cpp": "workbench.models.llamacpp:LlamaCppBackend.load",
    # llama.cpp on float32 weights and cache: token for token what torch computes (models/gguf_f32.py)
    "llama.cpp-f32": "workbench.models.llamacpp:load_f32",
}


class BackendLoader(Protocol):
    """Load a model for `spec`; raises ModelLoadError with one readable line, or Cancelled."""

    def __call__(
        self,
        spec: ModelSpec,
        *,
        device: str,
        dtype: str,
        trust_remote_code: bool,
        progress: ProgressCallback,
        cancel: CancelToken | None,
    ) -> ModelBackend: ...


_registered: dict[str, BackendLoader] = {}


def register_backend(name: str, loader: BackendLoader) -> None:
    """Add (or replace) a backend at run time: a plugin, or a test's in-process backend."""
    _registered[name] = loader


def backend_names() -> list[str]:
    return sorted({*BUILTIN, *_registered})


def backend_loader(name: str) -> BackendLoader:
    if name in _registered:
        return _registered[name]
    target = BUILTIN.get(name)
    if target is None:
        raise InputError(f"unknown model backend {name!r} (available: {', '.join(backend_names())})")
    module_name, _, attribute = target.partition(":")
    loader: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        loader = getattr(loader, part)
    return loader  # type: ignore[return-value]  # the entry names a BackendLoader by construction


def load_backend(
    spec: ModelSpec,
    backend: str = DEFAULT_BACKEND,
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    max_memory: str = "",
) -> ModelBackend:
    """Load `spec` with the backend named `backend`; `max_memory` (spread the model over devices, see
    models/device_map.py) goes only to a backend whose loader takes it, and is refused in one line by others."""
    loader = backend_loader(backend)
    extra = {}
    if max_memory.strip():
        if "max_memory" not in inspect.signature(loader).parameters:
            raise InputError(
                f"the {backend} backend does not spread a model over devices with max memory: use the torch backend"
            )
        extra["max_memory"] = max_memory
    return loader(
        spec,
        device=device,
        dtype=dtype,
        trust_remote_code=trust_remote_code,
        progress=progress,
        cancel=cancel,
        **extra,
    )
