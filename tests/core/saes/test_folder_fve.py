"""The SAE list's FVE badge comes from the folder's metrics.json: the robust figure and the text it was measured
on; nothing for a folder without one, a damaged file, or a file from before FVE left massive tokens out."""

import json

from tests.factories import make_sae
from workbench.saes.loader import folder_fve, load_sae
from workbench.saes.spec import SaeSpec


def test_the_summary_carries_the_robust_fve_of_metrics_json(backend, tmp_path):
    folder = make_sae(tmp_path / "sae", d_in=backend.info.d_model, layer=1)
    loaded = load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", key="L1")
    assert loaded.summary().known_fve is None  # no metrics.json: unknown, not zero
    record = {"fve": 0.81, "fve_all": 0.93, "texts": "demo held-out corpus: the first 80 texts"}
    (folder / "metrics.json").write_text(json.dumps(record))
    assert loaded.summary().known_fve == (0.81, "demo held-out corpus: the first 80 texts")


def test_old_damaged_or_missing_files_give_no_figure(tmp_path):
    assert folder_fve(tmp_path) is None
    (tmp_path / "metrics.json").write_text('{"fve": 0.92, "l0": 32}')  # before massive tokens were left out
    assert folder_fve(tmp_path) is None
    (tmp_path / "metrics.json").write_text("{not json")
    assert folder_fve(tmp_path) is None
    (tmp_path / "metrics.json").write_text("[1, 2]")
    assert folder_fve(tmp_path) is None
