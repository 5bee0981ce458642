"""The headless CLI: JSON shapes scripts depend on, and exit code 2 with one line for bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import make_sae
from workbench.cli import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def sae8(tmp_path_factory):
    return str(make_sae(tmp_path_factory.mktemp("cli") / "L8", d_in=576, layer=8, d_sae=512))


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "--prompt", "hi", "--variant", "8:5"], "malformed edit '8:5'"),
        (["generate", "--prompt", "hi", "--sae", "/nonexistent/sae"], "SAE folder not found"),
        (["generate", "--prompt", "hi", "--model", "/nonexistent/m.gguf"], "GGUF file not found"),
        (["generate", "--prompt", "hi", "--max-new-tokens", "0"], "max new tokens must be ≥ 1"),
        # The embedded default model brings its demo SAEs; any other model needs --sae.
        (["features", "--text", "hi", "--layer", "8", "--model", "HuggingFaceTB/SmolLM2-135M"], "no SAE given"),
    ],
)
def test_bad_input_before_loading_exits_2_with_one_line(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and message in err and err.startswith("error: ")
    assert out == ""


@pytest.mark.integration
@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ("31:1:1", "layer 31 is out of range"),
        ("8:512:1", "feature 512 does not exist"),
        ("15:1:1", "no SAE is loaded at layer 15"),
        ("8:1:2:maxact", "not computed yet"),
    ],
)
def test_edits_that_do_not_fit_exit_2(capsys, sae8, edits, message):
    code, _out, err = _run(capsys, "generate", "--prompt", "hi", "--sae", sae8, "--variant", edits)
    assert code == 2 and message in err and err.count("\n") == 1


@pytest.mark.integration
def test_sae_that_does_not_fit_the_model_exits_2(capsys, tmp_path):
    folder = make_sae(tmp_path / "small", d_in=64, layer=3)
    code, _out, err = _run(capsys, "info", "--sae", str(folder))
    assert code == 2 and "d_in 64" in err and "576" in err


@pytest.mark.integration
def test_generate_json(capsys, sae8):
    code, out, _err = _run(
        capsys,
        "generate",
        "--prompt",
        "Name a fruit.",
        "--sae",
        sae8,
        "--seed",
        "5",
        "--max-new-tokens",
        "8",
        "--temperature",
        "0",
        "--variant",
        "big=8:3:30,8:4:0",
        "--json",
    )
    assert code == 0
    record = json.loads(out)
    assert record["seed"] == 5
    assert [p["name"] for p in record["panes"]] == ["baseline", "big"]
    baseline, big = record["panes"]
    assert baseline["edits"] == [] and [e["feature"] for e in big["edits"]] == [3, 4]
    assert len(big["token_ids"]) == 8 and isinstance(big["text"], str)
    fired = big["edits_fired"]
    assert [f["flagged"] for f in fired] == [False, True]
    assert record["model"]["n_layers"] == 30 and record["timing"]["tokens_per_s"] > 0


@pytest.mark.integration
def test_features_and_info_json(capsys, sae8):
    code, out, _ = _run(
        capsys,
        "features",
        "--text",
        "Waves on the sea",
        "--layer",
        "8",
        "--sae",
        sae8,
        "--top",
        "3",
        "--json",
    )
    assert code == 0
    record = json.loads(out)
    assert record["layer"] == 8 and len(record["tokens"]) >= 4
    first = record["tokens"][1]
    assert isinstance(first["token"], str) and len(first["features"]) <= 3
    assert all(set(f) == {"feature", "activation"} for f in first["features"])
    code, out, _ = _run(capsys, "info", "--sae", sae8, "--json")
    info = json.loads(out)
    assert code == 0
    assert {"name", "path", "device", "dtype", "n_layers", "d_model"} <= set(info["model"])
    assert Path(info["model"]["path"]).is_dir()
    assert info["saes"] == [{**info["saes"][0], "layer": 8, "d_sae": 512, "source": str(Path(sae8).resolve())}]


@pytest.mark.integration
def test_stats_command_enables_the_maxact_unit(capsys, sae8, tmp_path):
    texts = tmp_path / "texts.jsonl"
    texts.write_text("\n".join(json.dumps({"text": t}) for t in ["The tide came in.", "Boats on the harbour."]))
    code, out, _ = _run(capsys, "stats", "--layer", "8", "--sae", sae8, "--text-file", str(texts), "--json")
    assert code == 0 and json.loads(out)["n_tokens"] > 5
    code, out, err = _run(
        capsys,
        "generate",
        "--prompt",
        "hi",
        "--sae",
        sae8,
        "--max-new-tokens",
        "2",
        "--variant",
        "8:1:0.5:resid",
        "--json",
    )
    assert code == 0, err


def test_a_real_process_prints_no_traceback(tmp_path):
    env = {**os.environ, "STEERING_WORKBENCH_DEBUG": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "generate", "--prompt", "x", "--variant", "1:2:three"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: malformed edit '1:2:three': strength 'three' is not a number"
    assert "Traceback" not in proc.stderr


def test_json_into_a_reader_that_stops_early_is_not_an_error():
    # `steering-workbench … --json | head`: the reader is gone before the print; no traceback, exit 0.
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "contrast", "--layer", "8", "--list-pairs", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before Python has even started: the print meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err
