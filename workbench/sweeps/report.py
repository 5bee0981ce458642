"""A finished (or partial) sweep as the CLI's JSON document and as cells.csv.

The JSON shape is the one scripts depend on (issue "Sweeps", CLI section): spec, cells, rows, prompts, baseline,
best — plus the thresholds the summaries used, the resolved targets, and timing.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from workbench.files import atomic_write_text, make_folder
from workbench.sweeps.records import SweepResult
from workbench.sweeps.summary import SweepSummary, cell_dict

CELLS_FILE = "cells.csv"
CSV_COLUMNS = (
    "target",
    "sae",
    "layer",
    "feature",
    "cosine",
    "strength",
    "unit",
    "n",
    "concept_mean",
    "concept_ci_low",
    "concept_ci_high",
    "fires_mean",
    "nll_mean",
    "nll_ci_low",
    "nll_ci_high",
    "distinct1_mean",
    "distinct2_mean",
    "longest_repeat_mean",
    "reliability",
    "kl",
)


def sweep_json(result: SweepResult, summary: SweepSummary) -> dict[str, Any]:
    baseline = dict(summary.baseline)
    baseline["rows"] = [r.public() for r in result.baseline]
    return {
        "spec": result.spec.to_dict(),
        "targets": [t.to_dict() for t in result.targets],
        "thresholds": {
            "reliability_margin": summary.thresholds.reliability_margin,
            "max_nll_increase": summary.thresholds.max_nll_increase,
        },
        "cells": [cell_dict(c) for c in summary.cells],
        "rows": [r.public() for r in result.rows],
        "prompts": [
            {
                "prompt": p.prompt,
                "system": p.system,
                "chat": p.chat,
                "target": p.target,
                "sae": p.sae,
                "layer": p.layer,
                "steerability": p.steerability,
                "anti_steerable": p.anti_steerable,
            }
            for p in summary.prompts
        ],
        "baseline": baseline,
        "best": summary.best,
        "cancelled": result.cancelled,
        "reused_rows": result.reused,
        "timing": {k: round(v, 3) for k, v in result.timing.items()},
    }


def cells_csv(summary: SweepSummary) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for cell in summary.cells:
        record = cell_dict(cell)
        concept_ci = record.pop("concept_ci") or [None, None]
        nll_ci = record.pop("nll_ci") or [None, None]
        record.update(
            concept_ci_low=concept_ci[0],
            concept_ci_high=concept_ci[1],
            nll_ci_low=nll_ci[0],
            nll_ci_high=nll_ci[1],
        )
        writer.writerow(["" if record[c] is None else record[c] for c in CSV_COLUMNS])
    return out.getvalue()


def write_cells_csv(folder: Path, summary: SweepSummary) -> Path:
    """Atomically: a half-written table never replaces a whole one; a full disk is one WriteError line."""
    make_folder(folder)
    path = folder / CELLS_FILE
    atomic_write_text(path, cells_csv(summary))
    return path
