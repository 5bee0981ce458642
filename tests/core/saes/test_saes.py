"""Loading SAEs through sae-lens and checking that they fit the model."""

import json

import pytest

from tests.factories import make_sae
from workbench.errors import SaeLoadError
from workbench.saes.hook_names import residual_layer
from workbench.saes.loader import load_sae
from workbench.saes.spec import SaeSource, SaeSpec


@pytest.mark.parametrize(
    ("hook", "layer"),
    [
        ("blocks.8.hook_resid_post", 8),
        ("blocks.8.hook_resid_pre", 7),
        ("model.layers.15", 15),
        ("layers.3", 3),
        ("model.model.layers.22", 22),
    ],
)
def test_hook_names_map_to_the_decoder_block_whose_output_they_read(hook, layer):
    assert residual_layer(hook) == layer


@pytest.mark.parametrize("hook", ["blocks.8.hook_mlp_out", "blocks.3.attn.hook_z", "blocks.0.hook_resid_pre", "x"])
def test_non_residual_hooks_are_rejected_clearly(hook):
    with pytest.raises(SaeLoadError, match="cannot be steered|not a residual-stream hook"):
        residual_layer(hook)


def test_spec_parsing(tmp_path):
    assert SaeSpec.parse(str(tmp_path)).source is SaeSource.FOLDER
    spec = SaeSpec.parse("llama_scope_lxr_8x:l15r_8x")
    assert (spec.source, spec.location, spec.sae_id) == (SaeSource.REGISTRY, "llama_scope_lxr_8x", "l15r_8x")
    assert spec.describe() == "llama_scope_lxr_8x:l15r_8x"
    with pytest.raises(SaeLoadError, match="not found"):
        SaeSpec.parse(str(tmp_path / "missing"))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(SaeLoadError, match="is a file"):
        SaeSpec.parse(str(tmp_path / "file.txt"))


def test_a_local_sae_loads_with_its_layer_and_sizes(backend, tmp_path):
    folder = make_sae(tmp_path / "s", d_in=64, layer=2, d_sae=96, hook_name="model.layers.2")
    loaded = load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", key="L2")
    summary = loaded.summary()
    assert (summary.layer, summary.d_in, summary.d_sae, summary.has_statistics) == (2, 64, 96, False)
    assert summary.source == str(folder.resolve())


def test_sae_for_another_models_width_is_rejected(backend, tmp_path):
    folder = make_sae(tmp_path / "wide", d_in=576, layer=1)
    with pytest.raises(SaeLoadError, match="d_in 576.*hidden size 64"):
        load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", key="x")


def test_sae_for_a_layer_the_model_lacks_is_rejected(backend, tmp_path):
    folder = make_sae(tmp_path / "deep", d_in=64, layer=12)
    with pytest.raises(SaeLoadError, match="reads layer 12.*layers 0–3"):
        load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", key="x")


def test_broken_sae_folders_give_readable_errors(backend, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SaeLoadError, match="no cfg.json"):
        load_sae(SaeSpec.parse(str(empty)), backend.info, "cpu", key="x")
    broken = make_sae(tmp_path / "broken", d_in=64, layer=1)
    (broken / "sae_weights.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(SaeLoadError, match="sae_weights.safetensors is not a safetensors file"):
        load_sae(SaeSpec.parse(str(broken)), backend.info, "cpu", key="x")
    bad_cfg = make_sae(tmp_path / "badcfg", d_in=64, layer=1)
    (bad_cfg / "cfg.json").write_text(json.dumps({"architecture": "nonsense"}))
    with pytest.raises(SaeLoadError):
        load_sae(SaeSpec.parse(str(bad_cfg)), backend.info, "cpu", key="x")


def test_registry_sae_offline_names_the_release(backend, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SaeLoadError, match="'gemma-scope-2b-pt-res'"):
        load_sae(SaeSpec.parse("gemma-scope-2b-pt-res:layer_3/width_16k/average_l0_10"), backend.info, "cpu", "x")


def test_statistics_round_trip_and_are_found_next_to_the_sae(backend, tmp_path):
    from workbench.saes.stats import STATS_FILE, FeatureStatistics, compute_statistics

    folder = make_sae(tmp_path / "s", d_in=64, layer=1)
    loaded = load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", key="L1")
    stats = compute_statistics(backend, loaded.sae, 1, ["some text here", "more text", "x"], "unit test")
    stats.save(folder / STATS_FILE)
    again = FeatureStatistics.load(folder / STATS_FILE)
    assert (again.max_activation == stats.max_activation).all()
    assert again.resid_norm == pytest.approx(stats.resid_norm) and again.n_tokens == stats.n_tokens
    assert load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", key="L1").stats is not None
    # 3 texts of 14, 9 and 1 bytes: position 0 of each is left out, and the 1-token text is skipped.
    assert stats.n_tokens == (14 - 1) + (9 - 1)
    assert ((stats.density >= 0) & (stats.density <= 1)).all()
    assert (stats.mean_activation <= stats.max_activation + 1e-6).all()


def test_the_engine_keeps_a_requested_sae_key_when_it_is_free(backend, tmp_path):
    from workbench.engine import Engine

    engine = Engine()
    engine._backend = backend  # the tiny model, without a load from disk
    folder = str(make_sae(tmp_path / "s", d_in=64, layer=1))
    assert engine.add_sae(folder).key == "L1"
    assert engine.add_sae(folder).key == "L1.2"
    engine.remove_sae("L1")
    assert engine.add_sae(folder, key="L1.2").key == "L1"  # taken: a fresh key, never two SAEs under one key
    engine.remove_sae("L1")
    engine.remove_sae("L1.2")
    assert engine.add_sae(folder, key="L1.2").key == "L1.2"  # a reopened session's edits name "L1.2"
    assert [s.key for s in engine.saes] == ["L1.2"]
