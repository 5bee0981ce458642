"""Showing an opened session's recorded run: its outputs in the panes and its analysis selections."""

from __future__ import annotations

from ui.heatmap_view import HeatmapView
from ui.panes import PanesView
from workbench.models.generation import GenerationResult
from workbench.session.model import AnalysisValue
from workbench.steering.plan import SteeringPlan


def show_outputs(panes: PanesView, plan: SteeringPlan, result: GenerationResult | None) -> None:
    """One pane per variant, holding the recorded text (diff-marked as after a run), or empty."""
    panes.reset(plan.names, [", ".join(e.describe() for e in v.edits) for v in plan.variants])
    if result is None:
        return
    panes.on_finished(result)
    for pane, data in zip(panes.panes, result.panes, strict=False):
        pane.rate.setText(f"{len(data.token_ids)} tok · recorded · {data.finish_reason}")


def select_analysis(heatmap: HeatmapView, wanted: dict[str, AnalysisValue], sae_keys: list[str]) -> None:
    """Select the heatmap pane, SAE and followed feature a session saved, as far as they exist yet; what is
    selected leaves `wanted` (the rest waits for its SAE to load)."""
    for key, combo in (("heatmap_pane", heatmap.pane_combo), ("heatmap_sae", heatmap.sae_combo)):
        index = combo.findData(wanted.get(key))
        if index >= 0:
            combo.blockSignals(True)  # the window asks for the analysis once everything is chosen
            combo.setCurrentIndex(index)
            combo.blockSignals(False)
            del wanted[key]
    sae, feature = wanted.get("selected_sae"), wanted.get("selected_feature")
    if isinstance(sae, str) and isinstance(feature, int) and sae in sae_keys:
        del wanted["selected_sae"], wanted["selected_feature"]
        heatmap.set_anchor(sae, feature)
