"""Spreading a torch model over devices: the max-memory setting, the device plan on the meta device for a fake
2-GPU machine, a real load through a device map on the CPU, and steering tensors and SAEs on each block's device."""

from types import SimpleNamespace

import pytest
import torch

from tests.factories import make_sae, tiny_backend, tiny_llama, tiny_tokenizer
from workbench.errors import InputError, ModelLoadError
from workbench.models.device_map import (
    block_device,
    describe_layer_devices,
    layer_devices_from_map,
    parse_max_memory,
    plan_device_map,
    should_spread,
)
from workbench.models.hf import HFBackend
from workbench.models.sampling import SamplingSettings
from workbench.models.spec import ModelSpec
from workbench.steering.compiled import compile_plan
from workbench.steering.plan import FeatureEdit, SteeringPlan, Variant

GREEDY = SamplingSettings(temperature=0.0, max_new_tokens=8, stop_at_eos=False)


def _bytes(model):
    return sum(p.numel() * p.element_size() for p in model.parameters())


# -- the setting -------------------------------------------------------------------------------------------------
def test_max_memory_parses_gpus_cpu_and_units():
    assert parse_max_memory("0=20GiB, cuda:1=1.5GB,cpu=64GiB") == {0: 20 * 2**30, 1: 1_500_000_000, "cpu": 64 * 2**30}
    assert parse_max_memory("mps=512MiB") == {"mps": 512 * 2**20}
    assert parse_max_memory("") == {} and parse_max_memory("  ") == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0=20", "needs a unit"),
        ("0", "not DEVICE=SIZE"),
        ("gpu0=1GiB", "a GPU number"),
        ("0=1GiB,0=2GiB", "twice"),
        (",", "names no device"),
        ("0=-1GiB", "needs a unit"),
    ],
)
def test_bad_max_memory_is_one_clear_line(text, says):
    with pytest.raises(InputError, match=says) as info:
        parse_max_memory(text)
    assert "\n" not in str(info.value)


def test_when_a_model_is_spread():
    assert should_spread("auto", {0: 1, 1: 1}, cuda_devices=2)
    assert should_spread("auto", {}, cuda_devices=2)  # 2+ GPUs and device auto: all of them
    assert not should_spread("auto", {}, cuda_devices=1)
    assert not should_spread("cuda:0", {}, cuda_devices=2)  # an explicit device keeps the model on it
    with pytest.raises(ModelLoadError, match="leave the device on auto"):
        should_spread("cuda:1", {0: 1}, cuda_devices=2)


# -- the plan, on the meta device --------------------------------------------------------------------------------
def test_a_fake_two_gpu_plan_splits_the_blocks_in_order_without_touching_a_gpu():
    model = tiny_llama(n_layers=8)
    size = _bytes(model)
    plan = plan_device_map(model.config, torch.float32, {0: size, 1: size})
    devices = layer_devices_from_map(plan, 8)
    assert devices == ("cuda:0",) * 4 + ("cuda:1",) * 4  # balanced, each block whole, in order
    assert plan["model.embed_tokens"] == 0 and plan["lm_head"] == 1
    assert describe_layer_devices(devices) == "cuda:0 (layers 0–3), cuda:1 (layers 4–7)"
    assert not torch.cuda.is_initialized()


def test_blocks_offloaded_to_the_cpu_run_on_the_first_gpu():
    model = tiny_llama(n_layers=8)
    plan = plan_device_map(model.config, torch.float32, {0: _bytes(model) // 3, "cpu": 2**30})
    assert "cpu" in plan.values()
    assert set(layer_devices_from_map(plan, 8)) == {"cuda:0"}  # accelerate runs offloaded blocks there


def test_a_model_that_does_not_fit_is_refused_in_one_line():
    model = tiny_llama(n_layers=8)
    third = _bytes(model) // 3
    with pytest.raises(ModelLoadError, match="does not fit in 0=.*add cpu=SIZE"):
        plan_device_map(model.config, torch.float32, {0: third, 1: third})


def test_a_block_takes_the_device_of_its_closest_enclosing_module():
    assert layer_devices_from_map({"model.layers.1": 1, "model": 0, "lm_head": 0}, 3) == ("cuda:0", "cuda:1", "cuda:0")
    assert layer_devices_from_map({"": "cpu"}, 2) == ("cpu", "cpu")


def test_a_dispatched_block_reports_accelerates_execution_device():
    block = tiny_llama(n_layers=1).model.layers[0]
    assert block_device(block) == "cpu"
    block._hf_hook = SimpleNamespace(execution_device=1)  # what accelerate's dispatch attaches
    assert block_device(block) == "cuda:1"


# -- steering tensors and SAEs on each block's device ------------------------------------------------------------
@pytest.fixture
def half_on_meta():
    """A tiny model whose blocks 2–3 sit on the meta device: a stand-in for a second GPU (nothing runs)."""
    model = tiny_llama(n_layers=4)
    for block in model.model.layers[2:]:
        block.to("meta")
    return HFBackend(model, tiny_tokenizer(), "tiny-spread", "<memory>", "tiny")


def test_the_backend_records_each_blocks_device(half_on_meta):
    info = half_on_meta.info
    assert info.device == "cpu" and info.spread
    assert info.layer_devices == ("cpu", "cpu", "meta", "meta")
    assert info.layer_device(1) == "cpu" and info.layer_device(3) == "meta"
    assert half_on_meta._head is None  # the model's own forward moves tensors between devices


def test_add_deltas_go_to_their_blocks_device(half_on_meta):
    plan = SteeringPlan.with_baseline(
        Variant("v", (FeatureEdit(layer=1, vector=(0.5,) * 64, strength=1.0), FeatureEdit(layer=3, vector=(1.0,) * 64)))
    )
    compiled = compile_plan(plan, [], half_on_meta.info, half_on_meta.capabilities)
    deltas = {layer: next(iter(compiled._layers[layer].add_deltas.values())) for layer in (1, 3)}
    assert deltas[1].device.type == "cpu" and deltas[3].device.type == "meta"


def test_an_sae_and_its_clamp_encoder_go_to_the_device_of_the_block_it_reads(half_on_meta, tmp_path):
    from workbench.saes.loader import load_sae
    from workbench.saes.spec import SaeSpec

    info = half_on_meta.info
    deep = load_sae(SaeSpec.parse(str(make_sae(tmp_path / "l3", d_in=64, layer=3))), info, info.device, key="L3")
    shallow = load_sae(SaeSpec.parse(str(make_sae(tmp_path / "l1", d_in=64, layer=1))), info, info.device, key="L1")
    assert deep.sae.W_enc.device.type == "meta" and deep.sae.W_dec.device.type == "meta"
    assert shallow.sae.W_enc.device.type == "cpu"
    # A clamp encodes with the SAE itself (steering/compiled.py), so its encoder runs where the block's output is.


# -- a real load through a device map, on the CPU ----------------------------------------------------------------
@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_model")
    tiny_llama().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def test_a_device_map_load_decodes_the_same_steered_tokens(model_folder):
    spec = ModelSpec.parse(str(model_folder))
    spread = HFBackend.load(spec, device="auto", max_memory="cpu=1GiB")  # accelerate plans, transformers places
    single = HFBackend.load(spec, device="cpu")
    assert spread.info.layer_devices == () and spread.info.device == "cpu"
    plan = SteeringPlan.with_baseline(Variant("v", (FeatureEdit(layer=1, vector=(0.3,) * 64, strength=1.0),)))
    prompt = spread.encode_prompt("the sea and the waves", chat=False)
    tokens = []
    for backend in (spread, single):
        compiled = compile_plan(plan, [], backend.info, backend.capabilities)
        run = backend.generate(prompt, compiled, GREEDY).run()
        tokens.append([p.token_ids for p in run.panes])
        assert run.panes[1].edits_fired[0].positions > 0
    assert tokens[0] == tokens[1] and tokens[0][0] != tokens[0][1]


def test_accelerate_hooks_and_steering_hooks_run_together():
    from accelerate import dispatch_model

    plain = tiny_backend()
    model = tiny_llama()
    layout = {"model.embed_tokens": "cpu", "model.rotary_emb": "cpu", "model.norm": "cpu", "lm_head": "cpu"}
    layout |= {f"model.layers.{i}": "cpu" for i in range(4)}
    dispatched = HFBackend(dispatch_model(model, layout, force_hooks=True), tiny_tokenizer(), "tiny", "<m>", "tiny")
    assert all(hasattr(b, "_hf_hook") for b in dispatched.blocks)
    plan = SteeringPlan.with_baseline(Variant("v", (FeatureEdit(layer=2, vector=(0.4,) * 64, strength=1.0),)))
    prompt = plain.encode_prompt("waves", chat=False)
    runs = [
        b.generate(prompt, compile_plan(plan, [], b.info, b.capabilities), GREEDY).run() for b in (plain, dispatched)
    ]
    assert [p.token_ids for p in runs[0].panes] == [p.token_ids for p in runs[1].panes]


def test_the_llama_cpp_backend_refuses_max_memory_in_one_line(tmp_path):
    from workbench.models.registry import load_backend

    with pytest.raises(InputError, match="does not spread .* use the torch backend"):
        load_backend(ModelSpec.parse("default"), "llama.cpp", max_memory="0=1GiB")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["info", "--max-memory", "0=20"], "needs a unit"),
        (["info", "--max-memory", "0=1GiB", "--backend", "llama.cpp"], "use the torch backend"),
        (["info", "--max-memory", "0=1GiB", "--device", "cpu"], "leave the device on auto"),
    ],
)
def test_the_cli_refuses_a_bad_max_memory_with_exit_2_and_one_line(argv, says, capsys):
    from workbench.cli.main import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1
