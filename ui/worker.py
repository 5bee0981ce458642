"""The GUI's handle on the model: a QObject whose methods queue jobs on the core's single worker thread.

Jobs run in `WorkbenchService` (one thread owns the model). Their callbacks fire on that worker thread and are
turned into Qt signals of this object, which lives on the GUI thread, so every slot runs on the GUI thread
(queued connections). Only plain data crosses: frozen dataclasses, numpy arrays, strings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from workbench.engine import Engine
from workbench.errors import Cancelled, WorkbenchError
from workbench.jobs import CancelToken, Progress
from workbench.models.sampling import SamplingSettings
from workbench.service import Job, WorkbenchService
from workbench.steering.plan import SteeringPlan


@dataclass(frozen=True)
class HeatmapData:
    """Tokens × top features of one SAE for one text, plus the residual norm per SAE layer (layers × tokens)."""

    pane: str
    sae_key: str
    layer: int
    tokens: tuple[str, ...]
    prompt_len: int
    features: tuple[int, ...]
    labels: tuple[str, ...]
    matrix: np.ndarray  # (features, tokens)
    norm_layers: tuple[int, ...]
    norms: np.ndarray  # (layers, tokens)


class ModelWorker(QObject):
    progress = Signal(object)  # Progress
    modelLoaded = Signal(object)  # ModelInfo
    saesChanged = Signal(object)  # list[SaeSummary]
    tokens = Signal(object)  # TokenEvent
    generationFinished = Signal(object, object)  # GenerationResult, SteeringPlan
    heatmapReady = Signal(object)  # HeatmapData
    cardReady = Signal(object)  # FeatureCard
    effectReady = Signal(object)  # list[EffectRow]
    scalesReady = Signal(str, int, object)  # sae key, feature, UnitScales
    failed = Signal(str, str)  # what failed, one readable line
    cancelled = Signal(str)
    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = WorkbenchService()
        self._generation: Job[Any] | None = None
        self._load: Job[Any] | None = None
        self._busy = 0
        self.closed = False

    # -- plumbing ---------------------------------------------------------------------------------------------
    def _submit(
        self, label: str, work: Callable[[Engine, CancelToken], Any], channel: str | None = None
    ) -> Job[Any] | None:
        def run(engine: Engine, token: CancelToken) -> Any:
            try:
                return work(engine, token)
            except Cancelled:
                self.cancelled.emit(label)
                raise
            except WorkbenchError as exc:
                self.failed.emit(label, str(exc))
                raise
            except Exception as exc:  # torch / OOM: show it, keep the app running
                self.failed.emit(label, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}")
                raise

        if self.closed:
            return None  # the window is closing: late requests (a heatmap after the last token) are dropped
        self._set_busy(+1)
        job = self.service.submit(run, label=label, channel=channel)
        job.future.add_done_callback(lambda _f: self._set_busy(-1))
        return job

    def _set_busy(self, delta: int) -> None:
        before = self._busy > 0
        self._busy += delta
        if (self._busy > 0) != before:
            self.busyChanged.emit(self._busy > 0)

    def shutdown(self) -> None:
        """Cancel everything and wait for the worker thread to end (called when the window closes)."""
        self.closed = True
        self.service.shutdown(wait=True)

    # -- model and SAEs -----------------------------------------------------------------------------------------
    def load_model(self, spec: str, device: str, dtype: str, saes: list[str]) -> Job[Any] | None:
        def work(engine: Engine, token: CancelToken) -> Any:
            backend = engine.load_model(spec, device, dtype, progress=self.progress.emit, cancel=token)
            self.modelLoaded.emit(backend.info)
            self.saesChanged.emit(engine.sae_summaries())
            for n, sae in enumerate(saes, start=1):
                token.raise_if_cancelled()
                self.progress.emit(Progress(f"loading SAE {n} of {len(saes)}", n, len(saes)))
                try:
                    engine.add_sae(sae)
                except WorkbenchError as exc:
                    self.failed.emit("load SAE", str(exc))
                self.saesChanged.emit(engine.sae_summaries())
            self.progress.emit(Progress("ready", 1, 1))
            return backend.info

        if self._load is not None:
            self._load.cancel()
        self._load = self._submit("load model", work)
        return self._load

    def cancel_load(self) -> None:
        if self._load is not None:
            self._load.cancel()

    def add_sae(self, spec: str) -> Job[Any] | None:
        def work(engine: Engine, _token: CancelToken) -> Any:
            self.progress.emit(Progress(f"loading SAE {spec}"))
            summary = engine.add_sae(spec)
            self.saesChanged.emit(engine.sae_summaries())
            self.progress.emit(Progress("ready", 1, 1))
            return summary

        return self._submit("add SAE", work)

    def remove_sae(self, key: str) -> Job[Any] | None:
        def work(engine: Engine, _token: CancelToken) -> Any:
            engine.remove_sae(key)
            self.saesChanged.emit(engine.sae_summaries())

        return self._submit("remove SAE", work)

    # -- generation ---------------------------------------------------------------------------------------------
    def generate(self, prompt: str, plan: SteeringPlan, settings: SamplingSettings, chat: bool) -> Job[Any] | None:
        def work(engine: Engine, token: CancelToken) -> Any:
            run = engine.generate(prompt, plan, settings, chat=chat, cancel=token)
            result = run.run(on_token=self.tokens.emit)
            self.generationFinished.emit(result, plan)
            return result

        self.stop_generation()
        self._generation = self._submit("generate", work)
        return self._generation

    def stop_generation(self) -> None:
        if self._generation is not None:
            self._generation.cancel()

    # -- analysis (newest request wins) -------------------------------------------------------------------------
    def heatmap(
        self, pane: str, token_ids: list[int], prompt_len: int, sae_key: str, n_features: int = 16
    ) -> Job[Any] | None:
        def work(engine: Engine, token: CancelToken) -> Any:
            data = build_heatmap(engine, pane, token_ids, prompt_len, sae_key, n_features)
            token.raise_if_cancelled()
            self.heatmapReady.emit(data)
            return data

        return self._submit("heatmap", work, channel="heatmap")

    def inspect(self, sae_key: str, feature: int) -> Job[Any] | None:
        from workbench.analysis.inspect import feature_card

        def work(engine: Engine, _token: CancelToken) -> Any:
            card = feature_card(engine.backend, engine.sae(sae_key), feature)
            self.cardReady.emit(card)
            return card

        return self._submit("inspect feature", work, channel="inspector")

    def unit_scales(self, sae_key: str, feature: int) -> Job[Any] | None:
        from workbench.analysis.inspect import feature_card

        def work(engine: Engine, _token: CancelToken) -> Any:
            card = feature_card(engine.backend, engine.sae(sae_key), feature, n_tokens=1)
            self.scalesReady.emit(sae_key, feature, card.scales)
            return card.scales

        return self._submit("feature units", work)

    def effect(self, plan: SteeringPlan, result: Any) -> Job[Any] | None:
        from workbench.analysis.effect import steer_effect

        def work(engine: Engine, _token: CancelToken) -> Any:
            rows = steer_effect(engine, plan, result)
            self.effectReady.emit(rows)
            return rows

        return self._submit("steer effect", work, channel="effect")


def build_heatmap(
    engine: Engine, pane: str, token_ids: list[int], prompt_len: int, sae_key: str, n_features: int
) -> HeatmapData:
    """Pick the features that fire most on this text and return their tokens × features activations."""
    from workbench.analysis.inspect import default_label

    acts = engine.features(token_ids, [sae_key], top_k=8)[sae_key]
    # Skip position 0 when ranking: its residual is an outlier that lights up features everywhere.
    ids, values = acts.top_ids[1:].ravel(), acts.top_values[1:].ravel()
    best: dict[int, float] = {}
    for f, v in zip(ids.tolist(), values.tolist(), strict=True):
        if v > best.get(f, 0.0):
            best[f] = v
    features = sorted(best, key=lambda f: -best[f])[:n_features]
    dense = engine.features(token_ids, [sae_key], top_k=1, features={sae_key: features})[sae_key]
    layers = sorted({s.layer for s in engine.saes})
    residuals = engine.backend.residuals(token_ids, layers)
    norms = np.stack([np.linalg.norm(residuals[layer], axis=-1) for layer in layers]) if layers else np.zeros((0, 0))
    return HeatmapData(
        pane=pane,
        sae_key=sae_key,
        layer=acts.layer,
        tokens=acts.tokens,
        prompt_len=prompt_len,
        features=tuple(features),
        labels=tuple(default_label(f) for f in features),
        matrix=dense.dense.T.copy(),
        norm_layers=tuple(layers),
        norms=norms,
    )
