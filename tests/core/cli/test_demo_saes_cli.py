"""The `feature` and `sae-metrics` subcommands: JSON shapes and clear errors."""

import json
from pathlib import Path

import pytest

from tests.factories import make_sae, tiny_backend
from workbench.cli import main
from workbench.recipe.atlas import build_assets
from workbench.saes.demo import demo_sae_folders
from workbench.saes.features import ATLAS_FILE
from workbench.saes.stats import STATS_FILE


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def sae_with_atlas(tmp_path_factory):
    from sae_lens import SAE

    folder = make_sae(tmp_path_factory.mktemp("sae") / "L1", d_in=64, layer=1, d_sae=32)
    texts = [f"sample {i}: boats in the harbour" for i in range(10)]
    stats, atlas = build_assets(tiny_backend(), {1: SAE.load_from_disk(str(folder))}, texts, "tiny")[1]
    stats.save(folder / STATS_FILE)
    atlas.save(folder / ATLAS_FILE)
    return str(folder)


def test_feature_prints_label_statistics_tokens_and_examples(capsys, sae_with_atlas):
    code, out, err = _run(capsys, "feature", "--layer", "1", "--id", "4", "--sae", sae_with_atlas, "--json")
    assert code == 0, err
    card = json.loads(out)
    assert {"label", "max_act", "density", "mean_act", "promoted", "suppressed", "examples"} <= set(card)
    assert card["id"] == 4 and card["layer"] == 1
    assert all({"text", "activation", "position", "tokens"} <= set(e) for e in card["examples"])
    code, out, _ = _run(capsys, "feature", "--layer", "1", "--id", "4", "--sae", sae_with_atlas)
    assert code == 0 and out.startswith("L1 #4: ")


@pytest.mark.parametrize(("feature", "message"), [("99", "out of range"), ("-1", "out of range")])
def test_feature_out_of_range_exits_2(capsys, sae_with_atlas, feature, message):
    code, _, err = _run(capsys, "feature", "--layer", "1", "--id", feature, "--sae", sae_with_atlas)
    assert code == 2 and message in err and err.count("\n") == 1


def test_feature_without_an_atlas_says_so(capsys, tmp_path):
    folder = make_sae(tmp_path / "bare", d_in=64, layer=1, d_sae=32)
    code, _, err = _run(capsys, "feature", "--layer", "1", "--id", "0", "--sae", str(folder))
    assert code == 2 and "feature_atlas.npz" in err


@pytest.mark.integration
def test_sae_metrics_json_has_every_metric(capsys, tmp_path):
    sae8 = make_sae(tmp_path / "L8", d_in=576, layer=8, d_sae=256)
    texts = tmp_path / "texts.txt"
    texts.write_text("The tide came in over the sand.\nBoats rocked gently in the harbour at night.\n")
    code, out, err = _run(
        capsys, "sae-metrics", "--layer", "8", "--sae", str(sae8), "--text-file", str(texts), "--json"
    )
    assert code == 0, err
    record = json.loads(out)
    keys = {"l0", "fve", "mse", "ce_loss_recovered", "delta_loss", "dead_fraction", "dense_fraction", "n_tokens"}
    assert keys <= set(record) and record["n_tokens"] > 10 and record["text"] == "texts.txt"
    honest = {"fve_all", "massive_tokens", "fve_ci", "normalized_mse", "kl", "pca_fve", "random_fve", "texts"}
    assert honest <= set(record) and record["fve_ci"][0] <= record["fve"] <= record["fve_ci"][1]
    assert "first 2 texts" in record["texts"] and record["massive_tokens"]["factor"] == 10.0


DEMO = demo_sae_folders()
needs_demo = pytest.mark.skipif(not DEMO, reason="resources/saes is not populated yet")


@needs_demo
def test_feature_reads_the_demo_sae_by_default(capsys):
    code, out, err = _run(capsys, "feature", "--layer", "8", "--id", "0", "--json")
    assert code == 0, err
    card = json.loads(out)
    assert Path(card["sae"]).name == "smollm2-135m-L8" and card["label"]


@pytest.mark.integration
@needs_demo
def test_info_lists_the_demo_saes_when_no_sae_is_given(capsys):
    code, out, err = _run(capsys, "info", "--json")
    assert code == 0, err
    saes = json.loads(out)["saes"]
    assert [s["layer"] for s in saes] == [int(p.name.rsplit("L", 1)[1]) for p in DEMO]
    assert all(s["d_sae"] >= 8 * 576 and s["has_statistics"] for s in saes)
    assert [Path(s["source"]) for s in saes] == [p.resolve() for p in DEMO]
