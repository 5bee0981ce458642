"""A sweep's output folder on a full disk or a read-only folder: one line (exit 2 in the CLI), the previous
cells.csv, plots, spec.json and rows intact, and no temp file left beside them."""

import errno
import os
import tempfile

import pytest

from tests.core.sweeps.test_sweep_cli import tiny_model  # noqa: F401  (a fixture)
from workbench.cli import main
from workbench.files import WriteError
from workbench.steering.plan import StrengthUnit
from workbench.sweeps.plots import write_plots
from workbench.sweeps.records import DriftCell
from workbench.sweeps.report import write_cells_csv
from workbench.sweeps.runner import run_sweep
from workbench.sweeps.spec import SweepPrompt, SweepSpec, SweepTarget
from workbench.sweeps.store import RowStore
from workbench.sweeps.summary import summarise


def _disk_full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _refused(*_args, **_kwargs):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))


# A full disk shows when the data is flushed (fsync), a read-only folder when the temp file is created.
FAULTS = {
    "ENOSPC": (os, "fsync", _disk_full, "No space left on device"),
    "EACCES": (tempfile, "mkstemp", _refused, "Permission denied"),
}


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture(scope="module")
def summary(sweep_engine):
    spec = SweepSpec(
        targets=(SweepTarget("1", 5),),
        strengths=(0.0, 2.0),
        prompts=(SweepPrompt("The sea", chat=False),),
        unit=StrengthUnit.RAW,
        layers="all",
        max_new_tokens=3,
    )
    return summarise(run_sweep(sweep_engine, spec))


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("writer", ["cells.csv", "plots", "spec.json"])
def test_a_failed_report_or_spec_write_keeps_the_previous_files(tmp_path, monkeypatch, summary, fault, writer):
    writes = {
        "cells.csv": lambda: write_cells_csv(tmp_path, summary),
        "plots": lambda: write_plots(tmp_path, summary, "raw"),
        "spec.json": lambda: RowStore(tmp_path).write_spec({"version": "new"}),
    }
    for write in writes.values():  # the previous sweep's files
        write()
    (tmp_path / "cells.csv").write_text("the previous table")
    (tmp_path / "spec.json").write_text('{"version": "previous"}')
    before = _snapshot(tmp_path)
    module, name, raise_, message = FAULTS[fault]
    with monkeypatch.context() as patch, pytest.raises(WriteError) as caught:
        patch.setattr(module, name, raise_)
        writes[writer]()
    assert str(caught.value).startswith("cannot write ") and message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert _snapshot(tmp_path) == before  # every file as it was, and no temp file beside them


@pytest.mark.parametrize("fault", ["ENOSPC", "EACCES"])
def test_a_row_that_cannot_be_appended_is_one_line_and_the_rows_before_stay_readable(tmp_path, monkeypatch, fault):
    store = RowStore(tmp_path)
    first = DriftCell("d1", "1:5", "L1", 1, 5, 2.0, 0.25, 12)
    store.add_drift(first)
    raise_ = _disk_full if fault == "ENOSPC" else _refused
    with monkeypatch.context() as patch, pytest.raises(WriteError, match=f"cannot write {store.path}"):
        patch.setattr(os, "fsync", raise_)
        store.add_drift(DriftCell("d2", "1:5", "L1", 1, 5, 4.0, 0.5, 12))
    again = RowStore(tmp_path)
    assert again.drift["d1"] == first  # what was measured before the fault is still there for a rerun


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_the_sweep_command_says_it_in_one_line_and_exits_2(capsys, monkeypatch, tmp_path, tiny_model, fault):  # noqa: F811
    out = tmp_path / "sweep"
    argv = ["sweep", *tiny_model, "--feature", "1:3", "--strengths", "0,4", "--unit", "raw", "--max-new-tokens", "3",
            "--prompts", "builtin:openings", "--out", str(out), "--json"]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    before = _snapshot(out)
    module, name, raise_, message = FAULTS[fault]
    with monkeypatch.context() as patch:
        patch.setattr(module, name, raise_)
        code = main(argv)  # a rerun: every row is reused, so only spec.json, cells.csv and the plots are written
    stdout, err = capsys.readouterr()
    assert code == 2 and stdout == ""
    assert err.startswith("error: cannot write ") and err.count("\n") == 1 and message in err, err
    assert "Traceback" not in err
    assert _snapshot(out) == before
