"""The session's sweeps in a report: per sweep, what it ran, its best setting (with the thresholds it was read
with), the core's PNG plots (concept and NLL vs strength, the layer × strength heatmaps) and the cells table."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable

from workbench.session.model import Session
from workbench.session.sweeps import DONE, SavedSweep
from workbench.sweeps.summary import CellSummary, SweepSummary

COLUMNS = (
    "layer",
    "SAE",
    "feature",
    "strength",
    "n",
    "concept",
    "concept 95 % CI",
    "NLL",
    "distinct-2",
    "reliability",
    "KL",
)


def sweep_pngs(sweep: SavedSweep, summary: SweepSummary) -> list[tuple[str, bytes]]:
    """(name, PNG) per plot: concept/NLL vs strength, concept heatmap, NLL heatmap, for each target."""
    from workbench.png import png_bytes
    from workbench.sweeps.plots import grid_heatmap, strength_plot

    out = []
    for target in dict.fromkeys(c.target for c in summary.cells):
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", target)
        out += [
            (f"{slug}-strength", png_bytes(strength_plot(summary, target, sweep.spec.unit.value))),
            (f"{slug}-concept", png_bytes(grid_heatmap(summary, target, "concept_mean", (8, 48, 107)))),
            (f"{slug}-nll", png_bytes(grid_heatmap(summary, target, "nll_mean", (165, 15, 21)))),
        ]
    return out


def describe(sweep: SavedSweep) -> str:
    s, run = sweep.spec, sweep.run
    status = "" if run.status == DONE else f" — {run.status} ({len(run.rows)} rows so far)"
    return (
        f"{sweep.title}: {s.mode.value}, strengths {', '.join(f'{x:g}' for x in s.strengths)} ×{s.unit.value}, "
        f"layers {s.layers}, {len(s.prompts)} prompts ({s.prompt_set or 'custom'}), seeds "
        f"{', '.join(str(x) for x in s.seeds)}, {s.max_new_tokens} tokens{status}"
    )


def best_line(summary: SweepSummary) -> str:
    t = summary.thresholds
    rule = f"highest concept with NLL within +{t.max_nll_increase:g} of the baseline"
    b = summary.best
    if b is None:
        return f"Best setting ({rule}): none"
    return (
        f"Best setting ({rule}): {b['sae']} feature {b['feature']} at {b['strength']:g} ×{b['unit']} "
        f"(concept {_n(b['concept_mean'])}, NLL {_n(b['nll_mean'])}); reliability margin {t.reliability_margin:g}"
    )


def cell_values(c: CellSummary) -> tuple[str, ...]:
    ci = f"{c.concept_ci[0]:.3g}–{c.concept_ci[1]:.3g}" if c.concept_ci else "—"
    return (
        f"L{c.layer}",
        c.sae,
        str(c.feature),
        f"{c.strength:g}",
        str(c.n),
        _n(c.concept_mean),
        ci,
        _n(c.nll_mean),
        _n(c.distinct2_mean),
        "—" if c.reliability is None else f"{c.reliability:.0%}",
        _n(c.kl),
    )


def _n(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def sweeps_html(session: Session) -> list[str]:
    if not session.sweeps:
        return []
    e = html.escape
    parts = ["<h2>Sweeps</h2>"]
    for sweep in session.sweeps:
        summary = sweep.summary()
        parts.append(f"<h3>{e(sweep.title)}</h3><p>{e(describe(sweep))}</p><p>{e(best_line(summary))}</p>")
        for name, png in sweep_pngs(sweep, summary):
            data = base64.b64encode(png).decode("ascii")
            parts.append(f'<img class="sweep" alt="{e(name)}" src="data:image/png;base64,{data}">')
        parts.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in COLUMNS) + "</tr>")
        for cell in summary.cells:
            parts.append("<tr>" + "".join(f'<td class="n">{e(v)}</td>' for v in cell_values(cell)) + "</tr>")
        parts.append("</table>")
    return parts


def sweeps_markdown(session: Session, save_png: Callable[[str, bytes], str]) -> list[str]:
    """Markdown lines; `save_png(name, data)` writes a plot beside the report and returns its relative path."""
    if not session.sweeps:
        return []
    lines = ["", "## Sweeps"]
    for n, sweep in enumerate(session.sweeps, 1):
        summary = sweep.summary()
        lines += ["", f"### {sweep.title}", "", describe(sweep), "", best_line(summary), ""]
        for name, png in sweep_pngs(sweep, summary):
            lines.append(f"![{name}]({save_png(f'sweep-{n}-{name}', png)})")
        lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---:|" * len(COLUMNS)]
        lines += ["| " + " | ".join(cell_values(c)) + " |" for c in summary.cells]
    return lines
