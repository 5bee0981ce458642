"""Measure one generated row with the UNSTEERED model: one forward over prompt + generated tokens gives the logits
(fluency) and the residuals the target features are read from (concept); repetition needs only the token ids.

Reading with the unsteered model is the point: a steered model would "see" its own push. The concept of every
row is read at the target's own SAE, whichever layer the row steered, so layers are compared on one scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workbench.sweeps.metrics import concept, distinct_n, generated_nll, longest_repeat

if TYPE_CHECKING:
    from workbench.models.protocol import ModelBackend
    from workbench.saes.loader import LoadedSae


@dataclass(frozen=True)
class ConceptProbe:
    """A target feature to read: its name, SAE and id, and the activation that counts as concept 1."""

    name: str
    sae: LoadedSae
    feature: int
    scale: float  # its max activation on reference text, or 1 without statistics


@dataclass(frozen=True)
class Measurement:
    nll: float | None
    distinct1: float | None
    distinct2: float | None
    longest_repeat: int
    concept: dict[str, float] = field(default_factory=dict)
    fires: dict[str, float] = field(default_factory=dict)


def measure_row(
    backend: ModelBackend, prompt_ids: Sequence[int], token_ids: Sequence[int], probes: Sequence[ConceptProbe]
) -> Measurement:
    """Fluency, repetition and the probes' concept for `token_ids` generated after `prompt_ids`."""
    from workbench.saes.activations import encode_activations

    generated = list(token_ids)
    repetition = (distinct_n(generated, 1), distinct_n(generated, 2), longest_repeat(generated))
    if not generated:
        zero = {p.name: 0.0 for p in probes}
        return Measurement(None, *repetition, concept=zero, fires=dict(zero))
    ids = [*prompt_ids, *generated]
    layers = sorted({p.sae.layer for p in probes})
    passed = backend.forward(ids, capture=layers)
    wanted: dict[str, list[int]] = {}
    saes: dict[str, LoadedSae] = {}
    for p in probes:
        wanted.setdefault(p.sae.key, [])
        if p.feature not in wanted[p.sae.key]:
            wanted[p.sae.key].append(p.feature)
        saes[p.sae.key] = p.sae
    acts = encode_activations(list(saes.values()), passed.residuals, ids, (), top_k=1, features=wanted)
    start = len(prompt_ids)  # the generated tokens' own positions
    concepts: dict[str, float] = {}
    fires: dict[str, float] = {}
    for p in probes:
        column = wanted[p.sae.key].index(p.feature)
        concepts[p.name], fires[p.name] = concept(acts[p.sae.key].dense[start:, column], p.scale)
    return Measurement(generated_nll(passed.logits, ids, len(prompt_ids)), *repetition, concept=concepts, fires=fires)
