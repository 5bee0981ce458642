"""`steering-workbench sweep`: bad input exits 2 with one line; --out writes rows, cells.csv and plots; a rerun
resumes."""

import json

import pytest

from tests.factories import make_sae, tiny_llama, tiny_tokenizer
from workbench.cli import main


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """The tiny random Llama saved as a model folder, with an SAE at layer 1."""
    folder = tmp_path_factory.mktemp("tiny-model")
    tiny_llama().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    sae = make_sae(tmp_path_factory.mktemp("tiny-sae") / "L1", d_in=64, layer=1)
    return ["--model", str(folder), "--sae", str(sae)]


def _run(capsys, *argv):
    code = main(["sweep", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--feature", "1:3", "--strengths", "1,two"], "malformed strength list '1,two'"),
        (["--feature", "1:3", "--seeds", "0,x"], "malformed seed list"),
        (["--feature", "852"], "expected LAYER:ID"),
        ([], "no feature given"),
        (["--feature", "1:3", "--prompts", "builtin:nope"], "unknown prompt set"),
        (["--feature", "1:3", "--layers", "eight"], "malformed layers"),
    ],
)
def test_bad_input_before_loading_exits_2_with_one_line(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_an_empty_prompt_file_exits_2(capsys, tmp_path):
    empty = tmp_path / "prompts.txt"
    empty.write_text("\n\n")
    code, _out, err = _run(capsys, "--feature", "1:3", "--prompts", str(empty))
    assert code == 2 and "holds no prompt" in err and err.count("\n") == 1


def test_unknown_feature_and_clamp_without_clamp_exit_2(capsys, tiny_model, monkeypatch):
    from workbench.models.edits import EditMode
    from workbench.models.hf import HFBackend

    code, _out, err = _run(capsys, *tiny_model, "--feature", "1:999")
    assert code == 2 and "unknown feature 1:999" in err and err.count("\n") == 1
    code, _out, err = _run(capsys, *tiny_model, "--feature", "5:1")
    assert code == 2 and "no SAE '5' is loaded" in err
    add_only = HFBackend.capabilities.__class__(frozenset({EditMode.ADD}), capture=True, batched=True)
    monkeypatch.setattr(HFBackend, "capabilities", add_only)
    code, _out, err = _run(capsys, *tiny_model, "--feature", "1:3", "--mode", "clamp")
    assert code == 2 and "cannot clamp" in err and err.count("\n") == 1


def test_out_dir_gets_rows_cells_and_plots_and_a_rerun_resumes(capsys, tiny_model, tmp_path):
    out = tmp_path / "sweep"
    argv = [*tiny_model, "--feature", "1:3", "--strengths", "0,4", "--unit", "raw", "--max-new-tokens", "4",
            "--prompts", "builtin:openings", "--out", str(out), "--json"]  # fmt: skip
    code, stdout, _err = _run(capsys, *argv)
    assert code == 0
    first = json.loads(stdout)
    assert len(first["rows"]) == 16 and first["reused_rows"] == 0
    assert (out / "cells.csv").is_file() and (out / "concept_vs_strength.png").is_file()
    assert len((out / "rows.jsonl").read_text().splitlines()) == 16 + 8 + 2  # rows, baselines, drift cells
    code, stdout, _err = _run(capsys, *argv)
    again = json.loads(stdout)
    assert code == 0 and again["reused_rows"] == 24 and again["rows"] == first["rows"]
    assert len((out / "rows.jsonl").read_text().splitlines()) == 26  # nothing appended
