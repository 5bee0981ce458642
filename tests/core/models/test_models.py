"""Model specs, devices, and the loading paths (embedded GGUF → cache, folder, GGUF file, hub id)."""

import pytest

from workbench.cancel import CancelToken
from workbench.devices import resolve_device, resolve_dtype
from workbench.errors import Cancelled, InputError, ModelLoadError
from workbench.models.spec import ModelSource, ModelSpec


def test_specs(tmp_path):
    assert ModelSpec.parse("default").source is ModelSource.EMBEDDED
    assert ModelSpec.parse("HuggingFaceTB/SmolLM2-135M@main") == ModelSpec(
        ModelSource.HUB, "HuggingFaceTB/SmolLM2-135M", "main"
    )
    (tmp_path / "config.json").write_text("{}")
    assert ModelSpec.parse(str(tmp_path)).source is ModelSource.FOLDER
    with pytest.raises(ModelLoadError, match="GGUF file not found"):
        ModelSpec.parse(str(tmp_path / "nope.gguf"))
    with pytest.raises(ModelLoadError, match="no config.json"):
        ModelSpec.parse(str(tmp_path.parent))
    with pytest.raises(ModelLoadError, match="neither a folder"):
        ModelSpec.parse("./relative/missing")


def test_device_and_dtype_resolution():
    import torch

    assert resolve_device("auto") in ("cpu", "cuda", "mps")
    assert resolve_device("cpu") == "cpu"
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("auto", "cuda") == torch.bfloat16
    assert resolve_dtype("auto", "mps") == torch.float16
    assert resolve_dtype("bf16", "cpu") == torch.bfloat16
    with pytest.raises(ModelLoadError, match="unknown dtype"):
        resolve_dtype("int3", "cpu")
    with pytest.raises(ModelLoadError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="CUDA is not available"):
            resolve_device("cuda")


def test_hub_id_offline_is_one_clear_error(monkeypatch):
    from workbench.engine import Engine

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="could not fetch 'HuggingFaceTB/SmolLM2-135M'"):
        Engine().load_model("HuggingFaceTB/SmolLM2-135M")


def test_a_cancelled_load_raises_and_leaves_no_model(tmp_path, monkeypatch):
    from workbench.engine import Engine

    monkeypatch.setenv("STEERING_WORKBENCH_CACHE", str(tmp_path))
    token = CancelToken()
    token.cancel()
    engine = Engine()
    with pytest.raises(Cancelled):
        engine.load_model("default", cancel=token)
    assert not engine.loaded
    assert not (tmp_path / "models").exists()


@pytest.mark.integration
def test_gguf_converts_once_into_the_cache_and_reloads_identically(tmp_path, monkeypatch, smollm_engine):
    import torch

    from workbench.models.hf import HFBackend
    from workbench.models.spec import embedded_gguf_path

    monkeypatch.setenv("STEERING_WORKBENCH_CACHE", str(tmp_path))
    phases = []
    spec = ModelSpec.parse(str(embedded_gguf_path()))  # the GGUF-file path, into an empty cache
    first = HFBackend.load(spec, device="cpu", progress=lambda p: phases.append(p.phase))
    assert any("converting" in p for p in phases)
    folder = tmp_path / "models"
    [cached] = list(folder.iterdir())
    assert (cached / "config.json").is_file() and list(cached.glob("*.safetensors"))
    phases.clear()
    again = HFBackend.load(ModelSpec.parse(str(cached)), device="cpu", progress=lambda p: phases.append(p.phase))
    assert not any("converting" in p for p in phases)
    ids = torch.tensor([smollm_engine.backend.encode_prompt("The sea is", chat=False)])
    with torch.no_grad():
        expected = smollm_engine.backend.model(ids).logits
        torch.testing.assert_close(first.model(ids).logits, expected)
        torch.testing.assert_close(again.model(ids).logits, expected)


def test_a_model_without_a_chat_template_refuses_chat_mode():
    from tests.factories import tiny_backend

    backend = tiny_backend()
    backend.tokenizer.chat_template = None
    backend.info = backend.info.__class__(**{**backend.info.__dict__, "has_chat_template": False})
    with pytest.raises(InputError, match="no chat template"):
        backend.encode_prompt("hi", chat=True)
