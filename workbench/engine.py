"""The synchronous core: one loaded model, its SAEs, and every operation on them.

Not thread-safe by design: exactly one thread uses an Engine (the service's worker, or a script / notebook).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from workbench import startup_gc
from workbench.cancel import CancelToken
from workbench.errors import InputError, SaeLoadError
from workbench.models.device_map import describe_layer_devices
from workbench.models.generation import GenerationRun
from workbench.models.memory_guard import check_model_fits
from workbench.models.protocol import ModelBackend
from workbench.models.registry import DEFAULT_BACKEND, load_backend
from workbench.models.sampling import SamplingSettings
from workbench.models.spec import ModelSpec
from workbench.progress import ProgressCallback, ignore_progress
from workbench.saes.activations import FeatureActivations, capture_activations
from workbench.saes.loader import LoadedSae, SaeSummary, load_sae
from workbench.saes.selection import sae_named
from workbench.saes.spec import SaeSpec
from workbench.saes.stats import FeatureStatistics, compute_statistics
from workbench.steering.compiled import CompiledPlan, compile_plan
from workbench.steering.plan import SteeringPlan

log = logging.getLogger(__name__)


class Engine:
    def __init__(self) -> None:
        self._backend: ModelBackend | None = None
        self.saes: list[LoadedSae] = []

    # -- model ----------------------------------------------------------------------------------------------
    @property
    def backend(self) -> ModelBackend:
        if self._backend is None:
            raise InputError("no model is loaded")
        return self._backend

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    def load_model(
        self,
        spec: str | ModelSpec = "default",
        device: str = "auto",
        dtype: str = "auto",
        trust_remote_code: bool = False,
        progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
        backend: str = DEFAULT_BACKEND,
        max_memory: str = "",
        ignore_memory_check: bool = False,
    ) -> ModelBackend:
        """Load a model with the named backend (models/registry.py); the previous model (and its SAEs, which were
        checked against it) is dropped on success. `max_memory` spreads it over devices (models/device_map.py).

        A model that would not fit in the device's free memory is refused first (models/memory_guard.py), unless
        `ignore_memory_check`: running out of memory kills the process instead of failing with a message."""
        if isinstance(spec, str):
            spec = ModelSpec.parse(spec)
        if not ignore_memory_check:
            check_model_fits(spec, backend, device, dtype, max_memory)
        try:
            loaded = load_backend(spec, backend, device, dtype, trust_remote_code, progress, cancel, max_memory)
        finally:
            startup_gc.resume()  # whatever the backend, and on failure too: start-up is over (startup_gc.py)
        self.use_backend(loaded)
        return loaded

    def use_backend(self, backend: ModelBackend) -> None:
        """Take a loaded backend (a model built in memory, a test's backend); drops the previous model and SAEs."""
        if self._backend is not None and self._backend is not backend:
            self._backend.close()
        self._backend = backend
        self.saes = []

    # -- SAEs -----------------------------------------------------------------------------------------------
    def add_sae(self, spec: str | SaeSpec, key: str | None = None) -> SaeSummary:
        """Load an SAE. `key` (what edits name it by) is kept if it is free: a reopened session's edits name the
        keys it was saved with, which load order alone would not reproduce (L8.2 once L8 was removed)."""
        if isinstance(spec, str):
            spec = SaeSpec.parse(spec)
        backend = self.backend
        loaded = load_sae(spec, backend.info, backend.info.device, key="")
        loaded.key = self._new_key(loaded.layer, key)
        self.saes.append(loaded)
        return loaded.summary()

    def remove_sae(self, key: str) -> None:
        self.saes = [s for s in self.saes if s.key != key]

    def sae(self, key_or_layer: str | int) -> LoadedSae:
        """The SAE with this key, or the first one at this layer."""
        found = sae_named(self.saes, key_or_layer)
        if found is not None:
            return found
        layers = ", ".join(str(s.layer) for s in self.saes) or "none"
        raise SaeLoadError(f"no SAE loaded for {key_or_layer!r} (SAEs are loaded at layers: {layers})")

    def sae_summaries(self) -> list[SaeSummary]:
        return [s.summary() for s in self.saes]

    def _new_key(self, layer: int, wanted: str | None = None) -> str:
        """`wanted` if it is free, else the first free of L{layer}, L{layer}.2, …"""
        taken = {s.key for s in self.saes}
        if wanted and wanted not in taken:
            return wanted
        key, n = f"L{layer}", 2
        while key in taken:
            key, n = f"L{layer}.{n}", n + 1
        return key

    # -- work -----------------------------------------------------------------------------------------------
    def compile(self, plan: SteeringPlan) -> CompiledPlan:
        b = self.backend
        return compile_plan(plan, self.saes, b.info, b.capabilities)

    def generate(
        self,
        prompt: str,
        plan: SteeringPlan,
        settings: SamplingSettings,
        chat: bool = True,
        cancel: CancelToken | None = None,
    ) -> GenerationRun:
        """A run to iterate for token events; every variant of `plan` is one row of the same batch."""
        compiled = self.compile(plan)
        prompt_ids = self.backend.encode_prompt(prompt, chat)
        return self.backend.generate(prompt_ids, compiled, settings, cancel)

    def features(
        self,
        text: str | Sequence[int],
        saes: Sequence[str | int] | None = None,
        top_k: int = 8,
        chat: bool = False,
        features: Mapping[str, Sequence[int]] | None = None,
        cancel: CancelToken | None = None,
    ) -> dict[str, FeatureActivations]:
        """Feature activations per token of `text` (a string, or token ids) for the chosen SAEs (default: all)."""
        chosen = [self.sae(k) for k in saes] if saes is not None else list(self.saes)
        if not chosen:
            raise SaeLoadError("no SAE is loaded: add one first")
        ids = list(text) if not isinstance(text, str) else self.backend.encode_prompt(text, chat)
        return capture_activations(self.backend, chosen, ids, top_k, features, cancel)

    def compute_statistics(
        self,
        key_or_layer: str | int,
        texts: Iterable[str],
        source: str,
        total: int = 0,
        progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
    ) -> FeatureStatistics:
        """Compute statistics for an SAE on `texts`, keep them, and cache them for later sessions."""
        loaded = self.sae(key_or_layer)
        stats = compute_statistics(
            self.backend,
            loaded.sae,
            loaded.layer,
            texts,
            source,
            progress=progress,
            cancel=cancel,
            total=total,
        )
        loaded.stats = stats
        stats.save(loaded.stats_cache_path())
        return stats

    def info(self) -> dict[str, Any]:
        """The `info --json` record."""
        i = self.backend.info
        return {
            "backend": i.backend,
            "model": {
                "name": i.name,
                "path": i.path,
                "source": i.source,
                "device": i.device,
                "dtype": i.dtype,
                "n_layers": i.n_layers,
                "d_model": i.d_model,
                "vocab_size": i.vocab_size,
                "parameters": i.parameters,
                **({"layer_devices": describe_layer_devices(i.layer_devices)} if i.spread else {}),
            },
            "saes": [
                {
                    "key": s.key,
                    "layer": s.layer,
                    "d_sae": s.d_sae,
                    "source": s.source,
                    "architecture": s.architecture,
                    "hook_name": s.hook_name,
                    "has_statistics": s.has_statistics,
                }
                for s in self.sae_summaries()
            ],
        }
