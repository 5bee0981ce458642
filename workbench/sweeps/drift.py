"""Drift: how much a cell's edit changes the model's predictions on neutral held-out text (a capability-damage
proxy): KL(steered ‖ unsteered) of next-token distributions, averaged over the positions of a few sentences.

The steered residual is made by the same compiled plan that steers generation (its hooks run on stand-in
identity blocks, one row per strength), then spliced into a forward pass through the backend's protocol
(`ResidualSplice`). So drift applies exactly the edit the rows were generated with — add or clamp, at every
position — without a second copy of the steering math.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workbench.cancel import CancelToken, check
from workbench.sweeps.metrics import kl_divergence

if TYPE_CHECKING:
    from workbench.engine import Engine

DRIFT_SENTENCES = 4
DRIFT_TOKENS = 32


@dataclass(frozen=True)
class DriftEdit:
    """The edit of one cell group: a feature at one SAE, at several strengths."""

    sae: str
    layer: int
    feature: int
    strengths: tuple[float, ...]


def heldout_sentences(engine: Engine, n: int = DRIFT_SENTENCES, tokens: int = DRIFT_TOKENS) -> list[list[int]]:
    """Token ids (raw, with bos) of the first `n` held-out corpus texts, cut to `tokens`; the built-in raw text
    openings when this install has no corpus."""
    from workbench.analysis.texts import default_heldout_path, load_documents
    from workbench.sweeps.prompts import load_prompt_set

    path = default_heldout_path()
    if path.is_file():
        texts = [d.text for d in load_documents(path)[:n]]
    else:
        texts = [p.text for p in load_prompt_set("builtin:openings")[:n]]
    encoded = [engine.backend.encode_prompt(t, chat=False)[:tokens] for t in texts]
    return [ids for ids in encoded if len(ids) >= 2]


class DriftMeter:
    """Clean logits and residuals of the held-out sentences, computed once per sweep and layer, then one spliced
    forward per (cell, sentence)."""

    def __init__(self, engine: Engine, sentences: Sequence[Sequence[int]]) -> None:
        self.engine = engine
        self.sentences = [list(s) for s in sentences]
        self._clean: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}  # layer → per sentence (logits, resid)

    def _clean_pass(self, layer: int, cancel: CancelToken | None) -> list[tuple[np.ndarray, np.ndarray]]:
        if layer not in self._clean:
            passes = [self.engine.backend.forward(ids, capture=[layer], cancel=cancel) for ids in self.sentences]
            self._clean[layer] = [(p.logits, p.residuals[layer]) for p in passes]
        return self._clean[layer]

    def measure(
        self, edit: DriftEdit, mode: str, unit: str, cancel: CancelToken | None = None
    ) -> list[tuple[float, int]]:
        """(KL in nats, positions) per strength of `edit`."""
        from workbench.models.protocol import ResidualSplice

        if not self.sentences:
            return [(0.0, 0) for _ in edit.strengths]
        clean = self._clean_pass(edit.layer, cancel)
        kl = np.zeros(len(edit.strengths))
        positions = 0
        for (logits, resid), ids in zip(clean, self.sentences, strict=True):
            check(cancel)
            edited = self._edited(edit, mode, unit, resid)
            for row in range(len(edit.strengths)):
                splice = ResidualSplice(edit.layer, edited[row], start=0)
                steered = self.engine.backend.forward(ids, splice=splice, cancel=cancel).logits
                kl[row] += kl_divergence(steered, logits) * len(ids)
            positions += len(ids)
        return [(float(k / positions), positions) for k in kl]

    def _edited(self, edit: DriftEdit, mode: str, unit: str, resid: np.ndarray) -> np.ndarray:
        """(strengths, seq, d_model) residuals after the edit at each strength, through the compiled plan."""
        import torch

        from workbench.devices import resolve_dtype
        from workbench.steering.plan import EditMode, FeatureEdit, SteeringPlan, StrengthUnit, Variant

        variants = tuple(
            Variant(
                f"s{s}",
                (
                    FeatureEdit(
                        layer=edit.layer,
                        feature=edit.feature,
                        strength=s,
                        mode=EditMode(mode),
                        unit=StrengthUnit(unit),
                        sae=edit.sae,
                    ),
                ),
            )
            for s in edit.strengths
        )
        compiled = self.engine.compile(SteeringPlan(variants))
        info = self.engine.backend.info
        blocks = [torch.nn.Identity() for _ in range(info.n_layers)]
        x = torch.from_numpy(np.ascontiguousarray(resid)).to(info.device, resolve_dtype(info.dtype, info.device))
        x = x.unsqueeze(0).expand(len(variants), -1, -1).contiguous()
        with torch.no_grad(), compiled.attached(blocks, 0, x.shape[1]):
            out = blocks[edit.layer](x)
        return np.asarray(out.float().cpu().numpy(), np.float32)
