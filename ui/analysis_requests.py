"""What the window asks the model process about the text shown: the heatmaps, the followed feature across
layers, the inspector's card, and whether the steer took effect — read from the document, answered by events."""

from __future__ import annotations

from PySide6.QtWidgets import QTabWidget

from ui.heatmap_view import HeatmapView
from ui.model_client import ModelClient
from workbench.document import Document
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.models.generation import GenerationResult
from workbench.saes.loader import SaeSummary
from workbench.steering.plan import SteeringPlan


class AnalysisRequests:
    def __init__(self, document: Document, client: ModelClient, heatmap: HeatmapView, tabs: QTabWidget) -> None:
        self.document, self.client, self.heatmap, self.tabs = document, client, heatmap, tabs
        self.saes: list[SaeSummary] = []
        self.capture = True  # the loaded backend can capture activations (heatmaps, effect)

    def set_capabilities(self, event: ev.ModelLoaded) -> None:
        """A backend that cannot capture activations gets no analysis requests; its tabs say why."""
        self.capture = event.capabilities.capture
        why = "" if self.capture else f"the {event.backend} backend cannot capture activations: use the torch backend"
        for index in range(self.tabs.count()):
            self.tabs.setTabEnabled(index, self.capture)
            self.tabs.setTabToolTip(index, why)

    def set_saes(self, saes: list[SaeSummary]) -> None:
        self.saes = saes
        keys = {s.key for s in saes}
        if self.heatmap.anchor is not None and self.heatmap.anchor[0] not in keys:
            self.heatmap.clear_anchor()
        self.refresh_choices()

    def refresh_choices(self) -> None:
        """The panes and SAEs the heatmap view offers; it selects the document's choices as far as they exist."""
        run = self.document.state.run
        panes = list(run.plan.names) if run is not None else []
        self.heatmap.set_choices(panes, [(f"layer {s.layer} ({s.key})", s.key) for s in self.saes])

    def analysed_text(self) -> tuple[str, list[int], int] | None:
        """(pane name, prompt + output token ids, prompt length) of the pane chosen for the heatmaps."""
        state = self.document.state
        if state.run is None or not self.saes:
            return None
        pane = state.analysis.get("heatmap_pane")
        return state.run.pane_tokens(pane if isinstance(pane, str) else None)

    def chosen_sae(self) -> str:
        """The SAE chosen for the heatmaps, if it is loaded (an opened session may name one still loading)."""
        key = self.document.state.analysis.get("heatmap_sae")
        loaded = [s.key for s in self.saes]
        return key if isinstance(key, str) and key in loaded else loaded[0]

    def followed_feature(self) -> tuple[str, int] | None:
        """The feature followed across layers, if its SAE is loaded."""
        analysis = self.document.state.analysis
        key, feature = analysis.get("selected_sae"), analysis.get("selected_feature")
        if isinstance(key, str) and isinstance(feature, int) and key in {s.key for s in self.saes}:
            return key, feature
        return None

    def request(self) -> None:
        """Both views of the text shown (the newest request on each channel wins)."""
        if self.capture:
            self.request_heatmap()
            self.request_feature_layers()

    def request_heatmap(self) -> None:
        text = self.analysed_text()
        if text is not None and self.capture:
            name, ids, prompt_len = text
            self.client.send(rq.Heatmap(name, tuple(ids), prompt_len, self.chosen_sae()))

    def request_feature_layers(self) -> None:
        text, anchor = self.analysed_text(), self.followed_feature()
        if text is not None and anchor is not None and self.capture:
            name, ids, prompt_len = text
            self.client.send(rq.FeatureLayers(name, tuple(ids), prompt_len, *anchor))

    def request_effect(self, plan: SteeringPlan, result: GenerationResult) -> None:
        """Did each steer take effect: only worth asking with variants, SAEs and a backend that can capture."""
        if len(plan.variants) > 1 and self.saes and self.capture:
            self.client.send(rq.Effect(plan, result))

    def inspect(self, sae_key: str, feature: int) -> None:
        self.client.send(rq.Inspect(sae_key, feature))
