"""A recorded session to build documents from (plain data: no model, no Qt)."""

from __future__ import annotations

from workbench.models.sampling import SamplingSettings
from workbench.session import EditOutcome, Environment, ModelRecord, PaneOutput, SaeRecord, Session
from workbench.steering.plan import EditMode, FeatureEdit, SteeringPlan, Variant

EDIT = FeatureEdit(layer=8, feature=5, strength=6.0, mode=EditMode.CLAMP)


def recorded_session(sae_folder: str = "/saes/L8") -> Session:
    """A generated session: the embedded model, one SAE at layer 8, a baseline and one steered variant."""
    plan = SteeringPlan.with_baseline(Variant("ocean", (EDIT, FeatureEdit(layer=8, feature=9, enabled=False))))
    return Session(
        model=ModelRecord("default", "embedded", "SmolLM2-135M-Instruct", "llama", 30, 576, 49152),
        saes=(SaeRecord("L8", sae_folder, "folder", 8, 4608, "blocks.8.hook_resid_post"),),
        prompt="Tell me about the sea.",
        chat=True,
        settings=SamplingSettings(seed=3, temperature=0.0, top_k=7, max_new_tokens=3),
        plan=plan,
        environment=Environment("cpu", "float32", {"python": "3.11"}),
        prompt_ids=(1, 2, 3),
        outputs=(
            PaneOutput("baseline", (10, 11, 12), "I like it", "length"),
            PaneOutput("ocean", (20, 21, 22), "Waves and tides", "length", (EditOutcome(EDIT.describe(), 6.0, 4),)),
        ),
        analysis={"heatmap_pane": "ocean", "heatmap_sae": "L8", "selected_sae": "L8", "selected_feature": 5},
    )
