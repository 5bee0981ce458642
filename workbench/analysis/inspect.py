"""Everything the feature inspector shows about one SAE feature, computed on the worker thread."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.cancel import CancelToken, check
from workbench.errors import InputError, WorkbenchError
from workbench.saes.directions import sae_directions
from workbench.saes.features import ATLAS_FILE, FeatureAtlas
from workbench.saes.spec import SaeSource
from workbench.steering.units import UnitScales, unit_scales

if TYPE_CHECKING:
    import torch

    from workbench.models.protocol import ModelBackend
    from workbench.saes.loader import LoadedSae


@dataclass(frozen=True)
class FeatureCard:
    sae_key: str
    layer: int
    feature: int
    label: str
    max_activation: float | None
    density: float | None
    mean_activation: float | None
    promoted: tuple[tuple[str, float], ...]  # tokens the decoder direction pushes up (logit lens)
    suppressed: tuple[tuple[str, float], ...]
    scales: UnitScales
    statistics_source: str | None
    examples: tuple[tuple[str, float], ...] = ()  # top-activating snippets, firing token in [[ ]], activation
    imported_label: str | None = None  # a label imported for this SAE (workbench/saes/labels.py), shown beside


def default_label(feature: int) -> str:
    return f"feature {feature}"


_ATLASES: dict[str, FeatureAtlas | None] = {}


def atlas_for(sae: LoadedSae) -> FeatureAtlas | None:
    """The SAE's feature atlas (labels, examples), read once and only when first asked for."""
    if sae.fingerprint not in _ATLASES:
        atlas = None
        path = Path(sae.spec.location) / ATLAS_FILE
        if sae.spec.source is SaeSource.FOLDER and path.is_file():
            try:
                atlas = FeatureAtlas.load(path)
            except WorkbenchError:
                atlas = None  # an unreadable atlas only costs the labels
            if atlas is not None and atlas.d_sae != sae.d_sae:
                atlas = None
        _ATLASES[sae.fingerprint] = atlas
    return _ATLASES[sae.fingerprint]


def feature_label(sae: LoadedSae, feature: int) -> str:
    atlas = atlas_for(sae)
    return atlas.labels[feature] if atlas is not None and 0 <= feature < atlas.d_sae else default_label(feature)


def feature_card(
    backend: ModelBackend, sae: LoadedSae, feature: int, n_tokens: int = 10, cancel: CancelToken | None = None
) -> FeatureCard:
    """Statistics (if computed) and the logit-lens tokens of the feature's decoder direction."""
    import torch

    from workbench.saes.labels import imported_label

    if not 0 <= feature < sae.d_sae:
        raise InputError(f"feature {feature} does not exist: the SAE at layer {sae.layer} has 0–{sae.d_sae - 1}")
    backend.capabilities.require_capture("show a feature's promoted tokens")
    check(cancel)
    direction = sae_directions(sae.sae, [feature])[0].float()
    promoted, suppressed = _logit_lens(backend, direction, n_tokens)
    check(cancel)  # the atlas is read from disk the first time
    stats = sae.stats
    atlas = atlas_for(sae)
    examples: tuple[tuple[str, float], ...] = ()
    if atlas is not None and n_tokens > 1:
        examples = tuple((e["text"], float(e["activation"])) for e in atlas.card(feature)["examples"])
    return FeatureCard(
        sae_key=sae.key,
        layer=sae.layer,
        feature=feature,
        label=feature_label(sae, feature),
        examples=examples,
        max_activation=float(stats.max_activation[feature]) if stats is not None else None,
        density=float(stats.density[feature]) if stats is not None else None,
        mean_activation=float(stats.mean_activation[feature]) if stats is not None else None,
        promoted=promoted,
        suppressed=suppressed,
        scales=unit_scales(
            float(stats.max_activation[feature]) if stats is not None else None,
            stats.resid_norm if stats is not None else None,
            float(torch.linalg.norm(direction)),
        ),
        statistics_source=stats.source if stats is not None else None,
        imported_label=imported_label(sae.fingerprint, feature),
    )


def _logit_lens(
    backend: ModelBackend, direction: torch.Tensor, n: int
) -> tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]:
    """Direction through the final norm's gain and the unembedding: which next tokens it favours."""
    import torch

    logits = torch.from_numpy(backend.unembed(direction.detach().cpu().numpy()[None, :])[0])
    top = torch.topk(logits, n)
    bottom = torch.topk(-logits, n)
    strings = backend.token_strings
    up = tuple(zip(strings(top.indices.tolist()), top.values.tolist(), strict=True))
    down = tuple(zip(strings(bottom.indices.tolist()), (-bottom.values).tolist(), strict=True))
    return up, down
