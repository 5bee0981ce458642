"""`neighbours`, `contrast`, `selectivity` and `labels import`: JSON shapes and one-line errors (exit 2)."""

import json

import pytest

from workbench.cli import main
from workbench.saes.demo import demo_sae_folder


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def demo_l8():
    folder = demo_sae_folder(8)
    if not (folder / "cfg.json").is_file():
        pytest.skip("the demo SAEs are not in this checkout")
    return str(folder)


def test_labels_import_then_feature_shows_both_labels(capsys, tmp_path, demo_l8):
    export = tmp_path / "neuronpedia.json"
    records = [
        {"modelId": "smollm2-135m-instruct", "layer": "8-res", "index": "809", "description": "oceans and ghosts"},
        {"modelId": "smollm2-135m-instruct", "layer": "8-res", "index": "9999", "description": "out of range"},
    ]
    export.write_text(json.dumps(records), encoding="utf-8")
    code, out, err = _run(capsys, "labels", "import", str(export), "--layer", "8", "--json")
    assert code == 0, err
    outcome = json.loads(out)
    assert outcome["imported"] == 1 and outcome["out_of_range"] == [9999]
    code, out, err = _run(capsys, "feature", "--layer", "8", "--id", "809", "--json")
    card = json.loads(out)
    assert card["label"] == "ocean · creep · ghost" and card["imported_label"] == "oceans and ghosts"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"modelId": "gpt2-small", "layer": "8-res-jb", "index": 1, "description": "x"}]', "gpt2-small"),
        ("", "empty"),
    ],
)
def test_labels_import_refuses_in_one_line(capsys, tmp_path, demo_l8, content, message):
    path = tmp_path / "labels.json"
    path.write_text(content, encoding="utf-8")
    code, _, err = _run(capsys, "labels", "import", str(path), "--layer", "8")
    assert code == 2 and message in err and err.count("\n") == 1


def test_labels_import_for_a_layer_without_an_sae(capsys, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("1,x\n", encoding="utf-8")
    code, _, err = _run(capsys, "labels", "import", str(path), "--layer", "3")
    assert code == 2 and "no SAE" in err and err.count("\n") == 1


def test_contrast_lists_its_built_in_pairs(capsys):
    code, out, _ = _run(capsys, "contrast", "--layer", "8", "--list-pairs", "--json")
    assert code == 0 and any(p["id"] == "coffee-coffin" for p in json.loads(out)["pairs"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--a", "one text"), "give --a TEXT and --b TEXT"),
        (("--a-file", "EMPTY", "--b-file", "EMPTY"), "holds no text"),
        (("--pair", "nope"), "no built-in pair"),
    ],
)
def test_contrast_bad_input_exits_2_before_loading_a_model(capsys, tmp_path, extra, message):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    argv = [str(empty) if a == "EMPTY" else a for a in extra]
    code, _, err = _run(capsys, "contrast", "--layer", "8", *argv)
    assert code == 2 and message in err and err.count("\n") == 1


@pytest.mark.integration
def test_neighbours_contrast_and_selectivity_on_the_embedded_model(capsys, demo_l8):
    code, out, err = _run(
        capsys, "neighbours", "--layer", "15", "--id", "3877", "--top", "3", "--no-coactivation", "--json"
    )
    assert code == 0, err
    record = json.loads(out)
    assert set(record) == {"layer", "feature", "label", "neighbours"} and record["label"] == "sea · ocean · water"
    cosines = [n["decoder_cosine"] for n in record["neighbours"]]
    assert cosines == sorted(cosines, reverse=True) and len(cosines) >= 3

    code, out, err = _run(capsys, "contrast", "--layer", "8", "--pair", "ocean-ghost", "--top", "5", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["a_tokens"][-2] == " Ocean" and record["b_tokens"][-2] == " ghost"
    assert any(f["feature"] == 809 for f in record["features"])  # fires on both: a shared-form feature

    code, out, err = _run(
        capsys, "selectivity", "--feature", "8:809", "--versus", "15:3877", "--strength", "2", "--unit", "maxact",
        "--max-new-tokens", "4", "--json",
    )  # fmt: skip
    assert code == 0, err
    record = json.loads(out)
    assert [r["name"] for r in record["rows"]] == ["baseline", "steer A", "steer B"] and record["scale"] == "maxact"

    code, _, err = _run(capsys, "neighbours", "--layer", "9", "--id", "1", "--no-coactivation")
    assert code == 2 and "no SAE loaded" in err and err.count("\n") == 1
