"""A readable report of a session, as one self-contained HTML file or as Markdown with PNGs beside it.

Both show the prompt, the panes side by side, every edit in all three strength units, the heatmaps (when
given), and the reproducibility record. Heatmaps need the model; everything else comes from the session alone.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.analysis.diff import word_diff
from workbench.session.export_sweeps import sweeps_html, sweeps_markdown
from workbench.session.heatmap_png import heatmap_png
from workbench.session.io import atomic_write_bytes
from workbench.session.model import Session
from workbench.session.schema import SCHEMA_VERSION
from workbench.steering.plan import EditMode, StrengthUnit
from workbench.steering.units import all_units

if TYPE_CHECKING:
    from workbench.analysis.heatmap import HeatmapData


@dataclass(frozen=True)
class EditRow:
    variant: str
    edit: str
    mode: str
    positions: str
    enabled: bool
    raw: float | None
    maxact: float | None  # the same strength as a multiple of the feature's max activation
    resid: float | None  # … of the layer's mean residual norm
    changed: int | None  # positions the edit changed in the recorded run


def edit_rows(session: Session) -> list[EditRow]:
    """Every edit of every variant, its strength in raw, ×maxact and ×resid units (None where unknown)."""
    rows: list[EditRow] = []
    for i, variant in enumerate(session.plan.variants):
        outcomes = iter(session.outputs[i].edits) if session.outputs else iter(())
        for edit in variant.edits:
            outcome = next(outcomes, None) if edit.enabled else None
            units: dict[str, float | None] = {u.value: None for u in StrengthUnit}
            if outcome is not None:
                units = all_units(outcome.raw_strength, outcome.scales)
                if edit.mode is EditMode.ABLATE:
                    units = dict.fromkeys(units, 0.0)
            else:
                units[edit.unit.value] = edit.strength  # not run: only the unit it was given in is known
            rows.append(
                EditRow(
                    variant=variant.name,
                    edit=edit.describe(),
                    mode=edit.mode.value,
                    positions=edit.positions.value,
                    enabled=edit.enabled,
                    raw=units["raw"],
                    maxact=units["maxact"],
                    resid=units["resid"],
                    changed=outcome.positions if outcome is not None else None,
                )
            )
    return rows


def record_rows(session: Session) -> list[tuple[str, str]]:
    """The reproducibility record as (field, value) pairs."""
    m, s, env = session.model, session.settings, session.environment
    rows = [
        ("model", f"{m.name} ({m.spec})"),
        ("model source", m.source),
        ("model weights sha256", m.sha256 or "—"),
    ]
    if m.revision:
        rows.append(("model revision", m.revision))
    for sae in session.saes:
        rows.append((f"SAE {sae.key} (layer {sae.layer}, {sae.d_sae} features)", sae.spec))
        rows.append((f"SAE {sae.key} sha256", sae.sha256 or "—"))
    rows += [
        ("prompt mode", "chat template" if session.chat else "raw text"),
        ("prompt tokens", str(len(session.prompt_ids))),
        ("seed", str(s.seed)),
        ("temperature", f"{s.temperature:g}" + (" (greedy)" if s.greedy else "")),
        ("top-p", f"{s.top_p:g}"),
        ("top-k", str(s.top_k)),
        ("repetition penalty", f"{s.repetition_penalty:g}"),
        ("max new tokens", str(s.max_new_tokens)),
        ("stop at EOS", "yes" if s.stop_at_eos else "no"),
        ("device", env.device),
        ("dtype", env.dtype),
    ]
    rows += [(name, version) for name, version in env.versions.items()]
    rows += [("recorded", session.created or "—"), ("session schema", str(SCHEMA_VERSION))]
    return rows


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _pane_text(session: Session, i: int) -> str:
    return session.outputs[i].text if session.outputs else ""


def _token(text: str) -> str:
    """A token on one line: line breaks and tabs drawn as symbols."""
    return text.replace("\r", "").replace("\n", "⏎").replace("\t", "⇥")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "pane"


# -- HTML -----------------------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
.panes{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:1em}
.pane{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;background:#fafafa}
.pane h3{margin:.2em 0}.pane .edits{color:#555;font-size:.9em}
.pane p{white-space:pre-wrap}
mark{background:#ffe08a}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.heatmap img{image-rendering:pixelated;border:1px solid #999}
.tokens{font-family:monospace;font-size:.85em;color:#555}
img.sweep{border:1px solid #ccc;margin:.3em .6em .3em 0;vertical-align:top}
"""


def render_html(session: Session, heatmaps: Sequence[HeatmapData] = ()) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Steering Workbench report — {e(session.model.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Steering Workbench report</h1>",
        "<h2>Prompt</h2>",
        f"<p>{e(session.prompt)}</p>",
        "<h2>Panes</h2>",
    ]
    if not session.outputs:
        parts.append("<p><em>Not generated yet.</em></p>")
    parts.append('<div class="panes">')
    baseline = _pane_text(session, 0)
    for i, variant in enumerate(session.plan.variants):
        edits = ", ".join(x.describe() for x in variant.active_edits) or "no edits"
        text = _pane_text(session, i)
        body = e(text) if i == 0 else _marked(baseline, text)
        finish = f" · {session.outputs[i].finish_reason}" if session.outputs else ""
        parts.append(
            f'<div class="pane"><h3>{e(variant.name)}</h3><div class="edits">{e(edits)}{e(finish)}</div>'
            f"<p>{body}</p></div>"
        )
    parts.append("</div>")
    parts.append("<h2>Edits</h2>")
    rows = edit_rows(session)
    if rows:
        parts.append(
            "<table><tr><th>variant</th><th>edit</th><th>mode</th><th>positions</th>"
            "<th>raw</th><th>× max act</th><th>× resid norm</th><th>positions changed</th></tr>"
        )
        for r in rows:
            changed = "disabled" if not r.enabled else ("—" if r.changed is None else str(r.changed))
            if r.changed == 0:
                changed += " ⚠ changed nothing"
            parts.append(
                f"<tr><td>{e(r.variant)}</td><td>{e(r.edit)}</td><td>{r.mode}</td><td>{r.positions}</td>"
                f'<td class="n">{_num(r.raw)}</td><td class="n">{_num(r.maxact)}</td>'
                f'<td class="n">{_num(r.resid)}</td><td>{e(changed)}</td></tr>'
            )
        parts.append("</table>")
    else:
        parts.append("<p>No edits: every pane is the baseline.</p>")
    if heatmaps:
        parts.append("<h2>Heatmaps</h2>")
        for data in heatmaps:
            png = base64.b64encode(heatmap_png(data)).decode("ascii")
            labels = "".join(f"<li>#{f} — {e(label)}</li>" for f, label in zip(data.features, data.labels, strict=True))
            parts.append(
                f'<div class="heatmap"><h3>{e(data.pane)} — layer {data.layer} ({e(data.sae_key)})</h3>'
                f'<img alt="tokens × features heatmap of {e(data.pane)}" src="data:image/png;base64,{png}">'
                f'<p class="tokens">columns: {e(" | ".join(_token(t) for t in data.tokens))}</p>'
                f"<p>rows, top to bottom:</p><ol>{labels}</ol></div>"
            )
    parts += sweeps_html(session)
    parts.append("<h2>Reproducibility</h2><table>")
    parts += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in record_rows(session)]
    parts.append("</table></body></html>")
    return "\n".join(parts) + "\n"


def _marked(baseline: str, text: str) -> str:
    """The variant's text with the words that differ from the baseline in <mark>."""
    out = []
    for span in word_diff(baseline, text):
        piece = html.escape(span.text)
        out.append(f"<mark>{piece}</mark>" if span.changed else piece)
    return "".join(out)


# -- Markdown -------------------------------------------------------------------------------------------------
def render_markdown(
    session: Session,
    heatmap_files: Sequence[tuple[HeatmapData, str]] = (),
    save_png: Callable[[str, bytes], str] | None = None,
) -> str:
    """Markdown; `heatmap_files` pairs each heatmap with the PNG's path relative to the .md file; `save_png`
    writes a sweep plot beside it and returns its path (without it, sweeps are left out)."""
    lines = ["# Steering Workbench report", "", "## Prompt", "", _quote(session.prompt), "", "## Panes", ""]
    if not session.outputs:
        lines += ["*Not generated yet.*", ""]
    names = [v.name for v in session.plan.variants]
    lines.append("| " + " | ".join(_cell(n) for n in names) + " |")
    lines.append("|" + "---|" * len(names))
    lines.append(
        "| "
        + " | ".join(
            _cell(", ".join(x.describe() for x in v.active_edits) or "no edits") for v in session.plan.variants
        )
        + " |"
    )
    lines.append("| " + " | ".join(_cell(_pane_text(session, i)) for i in range(len(names))) + " |")
    lines += ["", "## Edits", ""]
    rows = edit_rows(session)
    if rows:
        lines.append("| variant | edit | mode | positions | raw | × max act | × resid norm | positions changed |")
        lines.append("|---|---|---|---|---:|---:|---:|---|")
        for r in rows:
            changed = "disabled" if not r.enabled else ("—" if r.changed is None else str(r.changed))
            if r.changed == 0:
                changed += " ⚠ changed nothing"
            lines.append(
                f"| {_cell(r.variant)} | {_cell(r.edit)} | {r.mode} | {r.positions} | {_num(r.raw)} | "
                f"{_num(r.maxact)} | {_num(r.resid)} | {changed} |"
            )
    else:
        lines.append("No edits: every pane is the baseline.")
    if heatmap_files:
        lines += ["", "## Heatmaps"]
        for data, path in heatmap_files:
            lines += ["", f"### {data.pane} — layer {data.layer} ({data.sae_key})", "", f"![{data.pane}]({path})", ""]
            lines.append("Columns: `" + " | ".join(_token(t).replace("`", "'") for t in data.tokens) + "`")
            lines += ["", "Rows, top to bottom:", ""]
            lines += [
                f"{n}. #{f} — {_cell(label)}"
                for n, (f, label) in enumerate(zip(data.features, data.labels, strict=True), 1)
            ]
    lines += sweeps_markdown(session, save_png) if save_png is not None else []
    lines += ["", "## Reproducibility", "", "| field | value |", "|---|---|"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in record_rows(session)]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, line breaks as <br>, HTML neutralised."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>")


def _quote(text: str) -> str:
    return "\n".join("> " + html.escape(line, quote=False) for line in text.splitlines() or [""])


# -- files ------------------------------------------------------------------------------------------------------
def write_html_report(session: Session, out: str | Path, heatmaps: Sequence[HeatmapData] = ()) -> list[Path]:
    """One self-contained HTML file (heatmaps embedded as base64 PNG)."""
    out = Path(out)
    atomic_write_bytes(out, render_html(session, heatmaps).encode("utf-8"))
    return [out]


def write_markdown_report(session: Session, out: str | Path, heatmaps: Sequence[HeatmapData] = ()) -> list[Path]:
    """The .md file, and one PNG per heatmap beside it (`<stem>-heatmap-<pane>.png`)."""
    out = Path(out)
    written: list[Path] = []
    pairs: list[tuple[HeatmapData, str]] = []
    for n, data in enumerate(heatmaps, 1):
        png = out.with_name(f"{out.stem}-heatmap-{n}-{_slug(data.pane)}.png")
        atomic_write_bytes(png, heatmap_png(data))
        written.append(png)
        pairs.append((data, png.name))

    def save_png(name: str, data: bytes) -> str:
        png = out.with_name(f"{out.stem}-{name}.png")
        atomic_write_bytes(png, data)
        written.append(png)
        return png.name

    atomic_write_bytes(out, render_markdown(session, pairs, save_png).encode("utf-8"))
    return [out, *written]
