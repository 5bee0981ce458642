"""An SAE's quality report, as the CLI prints it and the window's quality panel will show it.

One function on the worker thread (`measure_sae_quality`): the texts (the shipped held-out sample or the user's
own file), the evaluation (saes/metrics.py: robust FVE with its interval, the all-token FVE, baselines, CE-loss
recovered, KL, L0, dead / dense, the massive tokens), and a warning when the figures say the SAE does not fit
the model. Progress is reported per text and the cancel token is checked between texts and blocks. The result
is plain data (a frozen dataclass with dicts and one numpy array), safe to send to the GUI thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.cancel import CancelToken
from workbench.progress import ProgressCallback, ignore_progress
from workbench.saes.massive import MASSIVE_FACTOR
from workbench.saes.metrics import SaeMetrics, evaluate_sae

if TYPE_CHECKING:
    from workbench.engine import Engine

LOW_FVE = 0.5  # below this on the loaded model, the SAE probably reads the wrong hook or normalisation
DEFAULT_TEXTS = 80  # the held-out prefix the shipped quality table uses


@dataclass(frozen=True)
class SaeQualityReport:
    sae_key: str
    layer: int
    sae: str  # the SAE's source, as the user gave it
    text: str  # the texts' short source label ("demo held-out corpus", a file name)
    texts: str  # what it was measured on: source, how many texts, tokens per text
    metrics: SaeMetrics
    feature_density: np.ndarray = field(repr=False, compare=False)  # (d_sae,) for the density histogram
    warning: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.metrics.as_dict(),
            "layer": self.layer,
            "sae": self.sae,
            "text": self.text,
            "texts": self.texts,
            "warning": self.warning,
        }


def measure_sae_quality(
    engine: Engine,
    key_or_layer: str | int,
    texts: Sequence[str],
    source: str,
    max_texts: int = DEFAULT_TEXTS,
    max_tokens: int = 128,
    massive_factor: float = MASSIVE_FACTOR,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> SaeQualityReport:
    """Evaluate one loaded SAE on the first `max_texts` of `texts` (read with analysis.texts.texts_from, which
    also gives `source`: the shipped held-out sample or a user's file)."""
    texts = list(texts[: max(1, max_texts)])
    loaded = engine.sae(key_or_layer)
    metrics = evaluate_sae(
        engine.backend,
        loaded.sae,
        loaded.layer,
        texts,
        max_tokens_per_text=max_tokens,
        progress=progress,
        cancel=cancel,
        total=len(texts),
        massive_factor=massive_factor,
    )
    report = SaeQualityReport(
        sae_key=loaded.key,
        layer=loaded.layer,
        sae=loaded.spec.describe(),
        text=source,
        texts=f"{source}: the first {len(texts)} texts, at most {max_tokens} tokens each, position 0 left out",
        metrics=metrics,
        feature_density=metrics.feature_density,
        warning=quality_warning(metrics),
    )
    return report


def quality_warning(metrics: SaeMetrics) -> str | None:
    """One line when the robust FVE is too low to trust the SAE on this model (None when it looks fine)."""
    if metrics.fve >= LOW_FVE:
        return None
    return (
        f"FVE {metrics.fve:.2f} without massive tokens is below {LOW_FVE}: the SAE probably reads another hook "
        "or expects another input normalisation than this model gives it"
    )
