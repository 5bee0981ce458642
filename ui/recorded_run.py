"""Showing a recorded run (an opened session's outputs) in the panes."""

from __future__ import annotations

from ui.panes import PanesView
from workbench.models.generation import GenerationResult
from workbench.steering.plan import SteeringPlan


def show_outputs(panes: PanesView, plan: SteeringPlan, result: GenerationResult | None) -> None:
    """One pane per variant, holding the recorded text (diff-marked as after a run), or empty."""
    panes.reset(plan.names, [", ".join(e.describe() for e in v.edits) for v in plan.variants])
    if result is None:
        return
    panes.on_finished(result)
    for pane, data in zip(panes.panes, result.panes, strict=False):
        pane.rate.setText(f"{len(data.token_ids)} tok · recorded · {data.finish_reason}")
