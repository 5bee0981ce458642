"""The GUI's handle on the model: a QObject whose methods run named operations in the model process.

The model lives in a child process (workbench.host), so loading torch or running a forward pass can never
freeze the window. Events arrive on the host's reader thread and are re-emitted as Qt signals of this object,
which lives on the GUI thread, so every slot runs on the GUI thread (queued connections). Only plain data
crosses: frozen dataclasses, numpy arrays, strings.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from typing import Any

from PySide6.QtCore import QObject, Signal

from workbench.errors import Cancelled
from workbench.host import HostJob, ModelHost
from workbench.models.generation import GenerationResult
from workbench.models.sampling import SamplingSettings
from workbench.session.model import AnalysisValue
from workbench.steering.plan import SteeringPlan

RECORD_LABEL = "record session"


class ModelWorker(QObject):
    progress = Signal(object)  # Progress
    modelLoaded = Signal(object)  # ModelInfo
    saesChanged = Signal(object)  # list[SaeSummary]
    tokens = Signal(object)  # TokenEvent
    generationFinished = Signal(object, object)  # GenerationResult, SteeringPlan
    heatmapReady = Signal(object)  # HeatmapData
    cardReady = Signal(object)  # FeatureCard
    effectReady = Signal(object)  # list[EffectRow]
    scalesReady = Signal(str, int, object)  # sae key, feature, (UnitScales, label)
    searchReady = Signal(str, object)  # query, list[FeatureHit]
    featureIndexReady = Signal(object)  # list[FeatureIndex]: labels and densities, for searching in the GUI
    featureLayersReady = Signal(object)  # FeatureLayers
    sessionRecorded = Signal(object)  # workbench.session.Session
    failed = Signal(str, str)  # what failed, one readable line
    cancelled = Signal(str)
    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.host: ModelHost | None = None
        self._generation: HostJob | None = None
        self._load: HostJob | None = None
        self._busy = 0
        self.closed = False
        self._signals = {
            "progress": self.progress.emit,
            "model": self.modelLoaded.emit,
            "saes": self.saesChanged.emit,
            "token": self.tokens.emit,
            "generation": lambda p: self.generationFinished.emit(*p),
            "heatmap": self.heatmapReady.emit,
            "card": self.cardReady.emit,
            "effect": self.effectReady.emit,
            "scales": lambda p: self.scalesReady.emit(*p),
            "search": lambda p: self.searchReady.emit(*p),
            "feature_index": self.featureIndexReady.emit,
            "feature_layers": self.featureLayersReady.emit,
            "session": self.sessionRecorded.emit,
            "failed": lambda p: self.failed.emit(*p),
            "crashed": lambda p: self.failed.emit("model process", p),
        }

    # -- plumbing (runs on the host's reader thread; signals queue the work to the GUI thread) -----------------
    def _on_event(self, _job_id: int, name: str, payload: Any) -> None:
        handler = self._signals.get(name)
        if handler is not None:
            handler(payload)

    def _submit(self, operation: str, label: str, channel: str | None = None, **kwargs: Any) -> HostJob | None:
        if self.closed:
            return None  # the window is closing: late requests (a heatmap after the last token) are dropped
        if self.host is None or not self.host.alive or self.host.closed:
            self.host = ModelHost(self._on_event)  # first use, or the previous process died
            _lower_model_priority()
        self._set_busy(+1)
        job = self.host.submit(operation, label=label, channel=channel, **kwargs)
        job.future.add_done_callback(lambda f: self._finished(label, f.exception()))
        return job

    def _finished(self, label: str, exc: BaseException | None) -> None:
        self._set_busy(-1)
        if isinstance(exc, Cancelled):
            self.cancelled.emit(label)
        elif exc is not None and not self.closed:
            self.failed.emit(label, str(exc))

    def _set_busy(self, delta: int) -> None:
        before = self._busy > 0
        self._busy += delta
        if (self._busy > 0) != before:
            self.busyChanged.emit(self._busy > 0)

    def shutdown(self) -> None:
        """Cancel everything and wait for the model process to end (called when the window closes)."""
        self.closed = True
        if self.host is not None:
            self.host.shutdown()

    # -- model and SAEs -----------------------------------------------------------------------------------------
    def load_model(
        self, spec: str, device: str, dtype: str, saes: list[str], keys: list[str] | None = None
    ) -> HostJob | None:
        if self._load is not None:
            self._load.cancel()
        self._load = self._submit(
            "load_model", "load model", spec=spec, device=device, dtype=dtype, saes=saes, keys=keys
        )
        return self._load

    def cancel_load(self) -> None:
        if self._load is not None:
            self._load.cancel()

    def add_sae(self, spec: str, key: str | None = None) -> HostJob | None:
        return self._submit("add_sae", "add SAE", spec=spec, key=key)

    def remove_sae(self, key: str) -> HostJob | None:
        return self._submit("remove_sae", "remove SAE", key=key)

    # -- generation ---------------------------------------------------------------------------------------------
    def generate(self, prompt: str, plan: SteeringPlan, settings: SamplingSettings, chat: bool) -> HostJob | None:
        self.stop_generation()
        self._generation = self._submit("generate", "generate", prompt=prompt, plan=plan, settings=settings, chat=chat)
        return self._generation

    def stop_generation(self) -> None:
        if self._generation is not None:
            self._generation.cancel()

    # -- analysis (newest request wins) -------------------------------------------------------------------------
    def heatmap(self, pane: str, token_ids: list[int], prompt_len: int, sae_key: str) -> HostJob | None:
        return self._submit(
            "heatmap",
            "heatmap",
            channel="heatmap",
            pane=pane,
            token_ids=token_ids,
            prompt_len=prompt_len,
            sae_key=sae_key,
        )

    def inspect(self, sae_key: str, feature: int) -> HostJob | None:
        return self._submit("inspect", "inspect feature", channel="inspector", sae_key=sae_key, feature=feature)

    def unit_scales(self, sae_key: str, feature: int) -> HostJob | None:
        return self._submit("unit_scales", "feature units", sae_key=sae_key, feature=feature)

    def effect(self, plan: SteeringPlan, result: GenerationResult) -> HostJob | None:
        return self._submit("effect", "steer effect", channel="effect", plan=plan, result=result)

    def search(self, query: str) -> HostJob | None:
        return self._submit("search_features", "search features", channel="search", query=query)

    def feature_indexes(self, keys: list[str]) -> HostJob | None:
        return self._submit("feature_indexes", "feature labels", keys=keys)

    def feature_layers(
        self, pane: str, token_ids: list[int], prompt_len: int, sae_key: str, feature: int
    ) -> HostJob | None:
        return self._submit(
            "feature_layers",
            "feature across layers",
            channel="feature_layers",
            pane=pane,
            token_ids=token_ids,
            prompt_len=prompt_len,
            sae_key=sae_key,
            feature=feature,
        )

    # -- sessions -----------------------------------------------------------------------------------------------
    def record(
        self,
        prompt: str,
        plan: SteeringPlan,
        settings: SamplingSettings,
        chat: bool,
        result: GenerationResult | None = None,
        analysis: dict[str, AnalysisValue] | None = None,
    ) -> HostJob | None:
        """Ask for the Session of the loaded model and SAEs (arrives as `sessionRecorded`)."""
        return self._submit(
            "record",
            RECORD_LABEL,
            prompt=prompt,
            plan=plan,
            settings=settings,
            chat=chat,
            result=result,
            analysis=analysis,
        )


MODEL_NICENESS = 10
_lowered: set[int] = set()


def _lower_model_priority() -> None:
    """Run the model process at a lower CPU priority than the window.

    The model saturates every core while it works (torch's thread pool spins between operations). At equal
    priority the GUI thread then waits for a time slice before it can handle an event, which users feel as
    stutter; at a lower priority the model yields the moment the window has work, and loses almost nothing,
    because the window needs little CPU. Set right after the process starts, before it creates its threads,
    which inherit the value (on Linux the priority is per thread).
    """
    if not hasattr(os, "setpriority"):
        return  # Windows: no nice values
    for child in multiprocessing.active_children():
        pid = child.pid
        if child.name != "workbench-model-host" or pid is None or pid in _lowered:
            continue
        _lowered.add(pid)
        with contextlib.suppress(OSError):  # not permitted: the model keeps the window's priority
            os.setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, 0) + MODEL_NICENESS)
