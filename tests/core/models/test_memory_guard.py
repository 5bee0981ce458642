"""The memory guard: a model's size read from its files' headers, the estimate against a device's free memory (fake
numbers: nothing is allocated), the one-line refusal, and the override."""

from __future__ import annotations

import pytest

from tests.factories import tiny_llama, tiny_tokenizer
from workbench.engine import Engine
from workbench.errors import ModelLoadError
from workbench.models import memory_guard as guard
from workbench.models.spec import ModelSpec

SHAPE = guard.ModelShape(  # an 8B Llama
    parameters=8_000_000_000,
    n_layers=32,
    d_model=4096,
    d_ff=14336,
    n_heads=32,
    n_kv_heads=8,
    head_dim=128,
    vocab=128_256,
)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-model")
    model = tiny_llama()
    model.save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder, sum(p.numel() for p in model.parameters())


def _refusal(call) -> str:
    with pytest.raises(ModelLoadError) as caught:
        call()
    return str(caught.value)


def test_the_weights_are_parameters_times_the_bytes_of_the_dtype_and_the_work_grows_with_the_kv_heads():
    fp32, bf16 = guard.estimate(SHAPE, SHAPE.parameters * 4, 4), guard.estimate(SHAPE, SHAPE.parameters * 2, 2)
    assert fp32.weights == 2 * bf16.weights == 32_000_000_000
    assert fp32.working > bf16.working > 0  # activations halve; the logits stay float32
    more_kv = guard.estimate(guard.ModelShape(**{**SHAPE.__dict__, "n_kv_heads": 32}), 0, 2)
    assert more_kv.working > bf16.working
    assert fp32.total == fp32.weights + fp32.working


def test_a_model_that_fits_passes_and_one_that_does_not_is_refused_naming_both_numbers():
    need = guard.estimate(SHAPE, SHAPE.parameters * 2, 2)
    guard.check_fits(need, need.total, "cuda:0", "8,000 M parameters in bfloat16", ["another device"])
    guard.check_fits(need, None, "cuda:0", "x", [])  # free memory unknown: nothing is refused
    message = _refusal(lambda: guard.check_fits(need, need.total - 1, "cuda:0", "8,000 M in bfloat16", ["a"]))
    assert "\n" not in message and guard.is_memory_refusal(message)
    assert guard.gib(need.total) in message and guard.gib(need.total - 1) in message
    assert "cuda:0" in message and "--ignore-memory-check" in message and "Load anyway" in message


def test_the_parameters_of_a_config_are_those_of_the_model_it_builds(tiny_folder):
    folder, parameters = tiny_folder
    config = (folder / "config.json").read_text()
    import json

    counted = guard.shape_from_config(json.loads(config))
    assert counted.parameters == parameters
    assert guard.safetensors_parameters(folder) == parameters  # the headers of the saved weights agree
    tied = guard.shape_from_config({**json.loads(config), "tie_word_embeddings": True})
    assert parameters - tied.parameters == counted.vocab * counted.d_model


def test_a_gguf_header_gives_its_metadata_and_the_number_of_weights(tmp_path):
    import gguf
    import numpy as np

    path = tmp_path / "m.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(2)
    writer.add_embedding_length(8)
    writer.add_feed_forward_length(16)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_token_list([f"t{i}" for i in range(10)])
    writer.add_tensor("token_embd.weight", np.zeros((10, 8), dtype=np.float32))
    writer.add_tensor("blk.0.ffn_up.weight", np.zeros((16, 8), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    shape = guard.shape_from_gguf(path)
    assert shape.parameters == 10 * 8 + 16 * 8
    assert (shape.n_layers, shape.d_model, shape.d_ff, shape.n_heads, shape.n_kv_heads) == (2, 8, 16, 2, 1)
    assert (shape.head_dim, shape.vocab) == (4, 10)


def test_the_embedded_model_reads_as_smollm2_135m():
    shape, stored = guard.model_shape(ModelSpec.parse("default"))
    assert (shape.n_layers, shape.d_model, shape.vocab) == (30, 576, 49152)
    assert 130e6 < shape.parameters < 140e6 and stored > 0


def test_a_tiny_free_memory_refuses_the_load_with_the_ways_out(tiny_folder):
    folder, _ = tiny_folder
    spec = ModelSpec.parse(str(folder))
    message = _refusal(lambda: guard.check_model_fits(spec, "torch", "cpu", "float32", free=lambda _d: 1024))
    assert message.startswith("not enough memory on cpu") and "has 1 KiB free" in message
    assert "dtype bfloat16" in message and "another device" in message
    guard.check_model_fits(spec, "torch", "cpu", "float32", free=lambda _d: 2**40)  # plenty: no refusal
    guard.check_model_fits(spec, "torch", "cpu", "float32", free=lambda _d: None)  # unknown: no refusal
    assert "dtype bfloat16" not in _refusal(
        lambda: guard.check_model_fits(spec, "torch", "cpu", "bfloat16", free=lambda _d: 1024)
    )


def test_a_max_memory_spread_counts_what_each_device_may_hold_not_all_it_has_free(tiny_folder):
    folder, _ = tiny_folder
    spec = ModelSpec.parse(str(folder))
    message = _refusal(
        lambda: guard.check_model_fits(spec, "torch", "auto", "float32", "cpu=1MiB", free=lambda _d: 2**40)
    )
    assert guard.is_memory_refusal(message) and "1 MiB free" in message and "larger max memory" in message


def test_llama_cpp_counts_the_gguf_as_stored():
    spec = ModelSpec.parse("default")
    message = _refusal(lambda: guard.check_model_fits(spec, "llama.cpp", "cpu", "auto", free=lambda _d: 2**20))
    assert "as stored in the GGUF" in message and guard.is_memory_refusal(message)
    f32 = _refusal(lambda: guard.check_model_fits(spec, "llama.cpp-f32", "cpu", "auto", free=lambda _d: 2**20))
    assert "in float32" in f32 and "the llama.cpp backend" in f32  # dequantised: 4 bytes a weight
    torch_message = _refusal(lambda: guard.check_model_fits(spec, "torch", "cpu", "auto", free=lambda _d: 2**20))
    assert "the llama.cpp backend" in torch_message  # a GGUF: the other backend is a way out


def test_a_hub_model_not_downloaded_is_not_refused():
    guard.check_model_fits(ModelSpec.parse("nobody/no-such-model"), "torch", "cpu", "auto", free=lambda _d: 1)


def test_free_memory_of_the_cpu_is_asked_of_the_machine():
    free = guard.free_bytes("cpu")
    assert free is not None and free > 0


def test_the_engine_refuses_before_loading_and_the_override_loads_anyway(tiny_folder, monkeypatch):
    folder, _ = tiny_folder
    monkeypatch.setattr(guard, "free_bytes", lambda _d: 4096)
    engine = Engine()
    assert guard.is_memory_refusal(_refusal(lambda: engine.load_model(str(folder), "cpu", "float32")))
    assert not engine.loaded
    engine.load_model(str(folder), "cpu", "float32", ignore_memory_check=True)
    assert engine.loaded and engine.backend.info.n_layers == 4
