"""Tokens × features heatmaps as PNG images, without Qt or matplotlib: numpy for the colours, workbench.png for
the file.

Rows are features, columns are tokens; a dark column marks where the prompt ends and generation begins. The
report prints the row labels and the tokens beside the image, so the picture needs no font.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from workbench.png import png_bytes as png_bytes  # one PNG encoder; re-exported for this module's callers
from workbench.session.errors import SessionError
from workbench.session.model import Session

if TYPE_CHECKING:
    from workbench.analysis.heatmap import HeatmapData
    from workbench.engine import Engine

CELL = 10  # pixels per token column and feature row
_LOW = np.array([255, 255, 255], dtype=np.float64)  # zero activation: white
_HIGH = np.array([8, 48, 107], dtype=np.float64)  # the strongest activation in the image: deep blue
_BOUNDARY = np.array([200, 30, 30], dtype=np.uint8)


def heatmap_rgb(matrix: np.ndarray, prompt_len: int = 0, cell: int = CELL) -> np.ndarray:
    """(features, tokens) activations → an RGB image, white (0) to deep blue (the image's maximum)."""
    values = np.nan_to_num(np.asarray(matrix, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if values.ndim != 2 or values.size == 0:
        return np.full((cell, cell, 3), 255, np.uint8)
    top = float(values.max())
    t = np.clip(values / top, 0.0, 1.0) if top > 0 else np.zeros_like(values)
    colours = (_LOW + t[..., None] * (_HIGH - _LOW)).round().astype(np.uint8)
    image = np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)
    if 0 < prompt_len < values.shape[1]:
        x = prompt_len * cell
        image[:, max(x - 1, 0) : x + 1] = _BOUNDARY
    return image


def heatmap_png(data: HeatmapData) -> bytes:
    return png_bytes(heatmap_rgb(data.matrix, data.prompt_len))


def session_heatmaps(engine: Engine, session: Session, n_features: int = 12) -> list[HeatmapData]:
    """One heatmap per recorded pane (prompt + generated tokens) at the session's chosen heatmap SAE."""
    from workbench.analysis.heatmap import build_heatmap
    from workbench.session.replay import sae_key_map

    if not session.outputs or not engine.saes:
        return []
    key = heatmap_sae_key(session, sae_key_map(session, engine.saes))
    prompt = list(session.prompt_ids)
    return [
        build_heatmap(engine, pane.name, prompt + list(pane.token_ids), len(prompt), key, n_features)
        for pane in session.outputs
    ]


def heatmap_sae_key(session: Session, key_map: dict[str, str]) -> str:
    """The analysis selection's SAE (`heatmap_sae` key or `heatmap_layer`), else the first steered layer's SAE."""
    chosen = session.analysis.get("heatmap_sae")
    if isinstance(chosen, str) and chosen in key_map:
        return key_map[chosen]
    layer = session.analysis.get("heatmap_layer")
    steered = sorted(session.plan.layers())
    wanted = [layer] if isinstance(layer, int) and not isinstance(layer, bool) else []
    for target in [*wanted, *steered]:
        for record in session.saes:
            if record.layer == target:
                return key_map[record.key]
    if not session.saes:
        raise SessionError("the session has no SAE to draw a heatmap with")
    return key_map[session.saes[0].key]
