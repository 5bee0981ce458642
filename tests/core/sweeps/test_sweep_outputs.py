"""The JSON document scripts depend on, cells.csv and the PNG plots."""

import csv
import io

from workbench.steering.plan import StrengthUnit
from workbench.sweeps.plots import write_plots
from workbench.sweeps.report import CSV_COLUMNS, cells_csv, sweep_json
from workbench.sweeps.runner import run_sweep
from workbench.sweeps.spec import SweepPrompt, SweepSpec, SweepTarget
from workbench.sweeps.summary import summarise

CELL_KEYS = {"layer", "feature", "strength", "unit", "n", "concept_mean", "concept_ci", "nll_mean", "nll_ci",
             "distinct2_mean", "reliability", "kl"}  # fmt: skip
ROW_KEYS = {"layer", "feature", "strength", "prompt", "seed", "text", "prompt_ids", "token_ids", "concept", "fires",
            "nll", "distinct1", "distinct2", "longest_repeat"}  # fmt: skip


def test_json_csv_and_plots(sweep_engine, tmp_path):
    spec = SweepSpec(
        targets=(SweepTarget("1", 5),),
        strengths=(-2.0, 0.0, 2.0),
        prompts=(SweepPrompt("The sea", chat=False), SweepPrompt("Hi")),
        unit=StrengthUnit.RAW,
        layers="all",
        max_new_tokens=5,
    )
    result = run_sweep(sweep_engine, spec)
    summary = summarise(result)
    doc = sweep_json(result, summary)
    assert set(doc) >= {"spec", "cells", "rows", "prompts", "baseline", "best"}
    assert all(set(c) >= CELL_KEYS for c in doc["cells"]) and len(doc["cells"]) == 6
    assert all(set(r) >= ROW_KEYS for r in doc["rows"]) and len(doc["rows"]) == 12
    assert all(isinstance(r["concept"], float) for r in doc["rows"])
    assert {"prompt", "steerability", "anti_steerable"} <= set(doc["prompts"][0])
    assert doc["best"] is None or {"layer", "feature", "strength"} <= set(doc["best"])
    assert doc["thresholds"] == {"reliability_margin": 0.05, "max_nll_increase": 0.5}
    table = list(csv.DictReader(io.StringIO(cells_csv(summary))))
    assert len(table) == 6 and tuple(table[0]) == CSV_COLUMNS
    paths = write_plots(tmp_path, summary, "raw")
    assert {p.name for p in paths} == {"concept_vs_strength.png", "concept_heatmap.png", "nll_heatmap.png"}
    for p in paths:
        assert p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
