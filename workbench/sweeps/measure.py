"""Measure generated rows with the UNSTEERED model: a forward over prompt + generated tokens gives the logits
(fluency) and the residuals the target features are read from (concept); repetition needs only the token ids.
The rows of one batch are read in one batched forward (`forward_batch`: rows of any lengths, each equal to its
own forward up to float rounding): on a GPU the rows run side by side; on a CPU the arithmetic is the same, but
the per-operation cost (thread hand-offs, which dominate a small model's forward on a busy 2-core machine) is
paid once per batch rather than once per row.

Reading with the unsteered model is the point: a steered model would "see" its own push. The concept of every
row is read at the target's own SAE, whichever layer the row steered, so layers are compared on one scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from workbench.sweeps.metrics import concept, distinct_n, generated_nll, longest_repeat

if TYPE_CHECKING:
    from workbench.cancel import CancelToken
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
    return measure_rows(backend, prompt_ids, [(token_ids, probes)])[0]


def measure_rows(
    backend: ModelBackend,
    prompt_ids: Sequence[int],
    rows: Sequence[tuple[Sequence[int], Sequence[ConceptProbe]]],
    cancel: CancelToken | None = None,
) -> list[Measurement]:
    """`measure_row` for several rows generated after one prompt, each (token ids, its probes): one batched
    forward (rows of any lengths; `forward_batch`) and one SAE encode per SAE over every row's generated
    positions. Rows with the same tokens (a strength-0 row and its baseline) are read once."""
    from workbench.saes.activations import encode_activations

    texts = list(dict.fromkeys(tuple(int(t) for t in tokens) for tokens, _ in rows if tokens))
    probes = list({(p.name, p.sae.key, p.feature): p for _, row_probes in rows for p in row_probes}.values())
    layers = sorted({p.sae.layer for p in probes})
    passes = backend.forward_batch([[*prompt_ids, *t] for t in texts], layers, cancel) if texts else []
    start = len(prompt_ids)  # the generated tokens' own positions
    wanted: dict[str, list[int]] = {}
    saes: dict[str, LoadedSae] = {}
    for p in probes:
        wanted.setdefault(p.sae.key, [])
        if p.feature not in wanted[p.sae.key]:
            wanted[p.sae.key].append(p.feature)
        saes[p.sae.key] = p.sae
    generated = {layer: np.concatenate([f.residuals[layer][start:] for f in passes]) for layer in layers if passes}
    acts = encode_activations(list(saes.values()), generated, [], (), top_k=1, features=wanted, cancel=cancel)
    bounds = np.cumsum([0, *(len(t) for t in texts)])
    index = {t: i for i, t in enumerate(texts)}
    out = []
    for tokens, row_probes in rows:
        generated_ids = [int(t) for t in tokens]
        repetition = (distinct_n(generated_ids, 1), distinct_n(generated_ids, 2), longest_repeat(generated_ids))
        if not generated_ids:
            zero = {p.name: 0.0 for p in row_probes}
            out.append(Measurement(None, *repetition, concept=zero, fires=dict(zero)))
            continue
        i = index[tuple(generated_ids)]
        concepts: dict[str, float] = {}
        fires: dict[str, float] = {}
        for p in row_probes:
            column = acts[p.sae.key].dense[bounds[i] : bounds[i + 1], wanted[p.sae.key].index(p.feature)]
            concepts[p.name], fires[p.name] = concept(column, p.scale)
        nll = generated_nll(passes[i].logits, [*prompt_ids, *generated_ids], start)
        out.append(Measurement(nll, *repetition, concept=concepts, fires=fires))
    return out
