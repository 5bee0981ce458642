"""The sweep's plots as PNG files: per target, concept vs strength over fluency (NLL) vs strength, one line per
layer with the baseline dashed; and layer × strength heatmaps of concept and of NLL.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from workbench.files import atomic_write_bytes, make_folder
from workbench.png import png_bytes
from workbench.sweeps.canvas import Canvas, Colour, number, text_width
from workbench.sweeps.summary import CellSummary, SweepSummary

# Colour-blind-safe line colours (Okabe–Ito), one per layer.
LINE_COLOURS: tuple[Colour, ...] = (
    (0, 114, 178),
    (213, 94, 0),
    (0, 158, 115),
    (204, 121, 167),
    (230, 159, 0),
    (86, 180, 233),
    (0, 0, 0),
)
BASELINE_COLOUR: Colour = (120, 120, 120)
PANEL_W, PANEL_H, MARGIN_L, MARGIN_T, GAP = 560, 200, 70, 34, 56


def _panel(
    canvas: Canvas,
    top: int,
    title: str,
    series: Sequence[tuple[str, list[tuple[float, float]]]],
    baseline: float | None,
) -> None:
    """One line panel with its own y range; x is strength, shared by every series."""
    xs = [x for _, points in series for x, _ in points]
    ys = [y for _, points in series for _, y in points] + ([baseline] if baseline is not None else [])
    left, right, bottom = MARGIN_L, MARGIN_L + PANEL_W, top + PANEL_H
    canvas.text(left, top - 22, title)
    canvas.line(left, top, left, bottom, (90, 90, 90), width=1)
    canvas.line(left, bottom, right, bottom, (90, 90, 90), width=1)
    if not xs or not ys:
        return
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min(ys), max(ys)
    if y_hi - y_lo < 1e-9:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    if x_hi - x_lo < 1e-9:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    pad = (y_hi - y_lo) * 0.08
    y_lo, y_hi = y_lo - pad, y_hi + pad

    def px(x: float) -> float:
        return left + 10 + (x - x_lo) / (x_hi - x_lo) * (PANEL_W - 20)

    def py(y: float) -> float:
        return bottom - (y - y_lo) / (y_hi - y_lo) * PANEL_H

    for value in (y_lo + pad, y_hi - pad):
        label = number(round(value, 3))
        canvas.text(left - 8 - text_width(label), int(py(value)) - 5, label)
        canvas.line(left - 4, py(value), left, py(value), (90, 90, 90), width=1)
    for x in sorted(set(xs)):
        label = number(x)
        canvas.line(px(x), bottom, px(x), bottom + 4, (90, 90, 90), width=1)
        canvas.text(int(px(x)) - text_width(label) // 2, bottom + 8, label)
    if baseline is not None:
        canvas.line(left, py(baseline), right, py(baseline), BASELINE_COLOUR, width=2, dash=6)
    for i, (_name, points) in enumerate(series):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        ordered = sorted(points)
        for (xa, ya), (xb, yb) in itertools.pairwise(ordered):
            canvas.line(px(xa), py(ya), px(xb), py(yb), colour, width=2)
        for x, y in ordered:
            canvas.rect(int(px(x)) - 3, int(py(y)) - 3, int(px(x)) + 4, int(py(y)) + 4, colour)


def strength_plot(summary: SweepSummary, target: str, unit: str) -> np.ndarray:
    """Concept (top) and NLL (bottom) vs strength for one target, a line per steered SAE."""
    cells = [c for c in summary.cells if c.target == target]
    layers = sorted({(c.layer, c.sae) for c in cells})
    legend_h = 22 * len(layers) + 10
    canvas = Canvas(MARGIN_L + PANEL_W + 30, MARGIN_T + 2 * PANEL_H + GAP + 40 + legend_h)
    base = summary.baseline
    concept = [(f"L{ly}", _points(cells, sae, "concept_mean")) for ly, sae in layers]
    fluency = [(f"L{ly}", _points(cells, sae, "nll_mean")) for ly, sae in layers]
    base_concept = base.get("concept", {}).get(target, {}).get("concept_mean")
    _panel(canvas, MARGIN_T, f"CONCEPT {target}", concept, base_concept)
    _panel(canvas, MARGIN_T + PANEL_H + GAP, "NLL PER TOKEN", fluency, base.get("nll_mean"))
    y = MARGIN_T + 2 * PANEL_H + GAP + 30
    canvas.text(MARGIN_L, y, f"STRENGTH ({unit})")
    for i, (ly, sae) in enumerate(layers):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        canvas.rect(MARGIN_L, y + 22 + 22 * i, MARGIN_L + 20, y + 30 + 22 * i, colour)
        cosine = next((c.cosine for c in cells if c.sae == sae), 1.0)
        canvas.text(MARGIN_L + 28, y + 20 + 22 * i, f"{sae} L{ly} COS {cosine:.2f}")
    canvas.line(MARGIN_L + 300, y + 26, MARGIN_L + 330, y + 26, BASELINE_COLOUR, width=2, dash=6)
    canvas.text(MARGIN_L + 338, y + 20, "BASELINE")
    return canvas.pixels


def _points(cells: Sequence[CellSummary], sae: str, field: str) -> list[tuple[float, float]]:
    out = []
    for c in cells:
        value = getattr(c, field)
        if c.sae == sae and value is not None:
            out.append((c.strength, float(value)))
    return out


def grid_heatmap(summary: SweepSummary, target: str, field: str, colour: Colour) -> np.ndarray:
    """A layer (rows) × strength (columns) heatmap of `field`, white at its minimum to `colour` at its maximum."""
    cells = [c for c in summary.cells if c.target == target]
    rows = sorted({(c.layer, c.sae) for c in cells})
    strengths = sorted({c.strength for c in cells})
    size, left, top = 44, 90, 40
    canvas = Canvas(left + size * len(strengths) + 20, top + size * len(rows) + 40)
    canvas.text(left, 12, f"{field.removesuffix('_mean').upper()} {target}")
    values = {(c.sae, c.strength): getattr(c, field) for c in cells}
    known = [float(v) for v in values.values() if v is not None]
    lo, hi = (min(known), max(known)) if known else (0.0, 1.0)
    span = hi - lo if hi > lo else 1.0
    for r, (layer, sae) in enumerate(rows):
        canvas.text(8, top + r * size + size // 2 - 5, f"L{layer}")
        for col, s in enumerate(strengths):
            v = values.get((sae, s))
            x, y = left + col * size, top + r * size
            if v is None:
                canvas.rect(x + 1, y + 1, x + size - 1, y + size - 1, (225, 225, 225))
                continue
            t = (float(v) - lo) / span
            shade = tuple(round(255 + t * (c - 255)) for c in colour)
            canvas.rect(x + 1, y + 1, x + size - 1, y + size - 1, (shade[0], shade[1], shade[2]))
    for col, s in enumerate(strengths):
        label = number(s)
        canvas.text(left + col * size + size // 2 - text_width(label) // 2, top + len(rows) * size + 8, label)
    return canvas.pixels


def write_plots(folder: Path, summary: SweepSummary, unit: str) -> list[Path]:
    """concept_vs_strength[-TARGET].png, concept_heatmap[-TARGET].png, nll_heatmap[-TARGET].png."""
    make_folder(folder)
    targets = list(dict.fromkeys(c.target for c in summary.cells))
    written = []
    for target in targets:
        suffix = "" if len(targets) == 1 else "-" + target.replace(":", "_").replace("/", "_")
        images = {
            f"concept_vs_strength{suffix}.png": strength_plot(summary, target, unit),
            f"concept_heatmap{suffix}.png": grid_heatmap(summary, target, "concept_mean", (8, 48, 107)),
            f"nll_heatmap{suffix}.png": grid_heatmap(summary, target, "nll_mean", (165, 15, 21)),
        }
        for name, pixels in images.items():
            path = folder / name
            atomic_write_bytes(path, png_bytes(pixels))
            written.append(path)
    return written
