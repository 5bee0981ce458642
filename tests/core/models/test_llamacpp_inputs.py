"""The llama.cpp backend's control-vector layout and its one-line errors for bad input (no model is loaded)."""

import sys

import numpy as np
import pytest

from workbench.errors import ModelLoadError, SteeringError
from workbench.models.control_vector import control_vector
from workbench.models.llamacpp import LlamaCppBackend
from workbench.models.spec import ModelSpec, embedded_gguf_path


def _load(path):
    return LlamaCppBackend.load(ModelSpec.parse(str(path)), device="cpu", threads=1)


def test_control_vector_sums_edits_per_layer_at_layer_minus_one_offset():
    a, b = np.ones(4, np.float32), np.arange(4, dtype=np.float32)
    buf = control_vector([(1, a), (3, b), (3, a)], n_layers=4, d_model=4)
    assert buf.dtype == np.float32 and buf.shape == (12,)
    np.testing.assert_array_equal(buf.reshape(3, 4), [a, np.zeros(4), a + b])


def test_control_vector_refuses_layer_zero_a_wrong_width_and_a_missing_layer():
    with pytest.raises(SteeringError, match="layer 0 cannot be steered"):
        control_vector([(0, np.ones(4))], n_layers=4, d_model=4)
    with pytest.raises(SteeringError, match="needs 4 values .* got 3"):
        control_vector([(2, np.ones(3))], n_layers=4, d_model=4)
    with pytest.raises(SteeringError, match="layer 4 is out of range"):
        control_vector([(4, np.ones(4))], n_layers=4, d_model=4)


def test_an_empty_file_is_one_line(tmp_path):
    path = tmp_path / "empty.gguf"
    path.write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"is empty \(0 bytes\)"):
        _load(path)


def test_a_file_that_is_not_gguf_is_one_line(tmp_path):
    path = tmp_path / "text.gguf"
    path.write_text("hello, not a model")
    with pytest.raises(ModelLoadError, match="is not a GGUF file"):
        _load(path)


def test_a_truncated_gguf_is_one_line(tmp_path):
    path = tmp_path / "cut.gguf"
    with embedded_gguf_path().open("rb") as f:
        path.write_bytes(f.read(4_000_000))
    with pytest.raises(ModelLoadError, match="could not load GGUF file .*truncated or corrupt") as err:
        _load(path)
    assert "\n" not in str(err.value)


def test_an_unsupported_architecture_is_one_line(tmp_path):
    import gguf

    path = tmp_path / "bert.gguf"
    writer = gguf.GGUFWriter(str(path), "bert")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelLoadError, match="architecture 'bert' is not supported by the llama.cpp backend"):
        _load(path)


def test_a_hub_id_or_folder_is_refused_with_the_torch_backend_named(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="GGUF files only.*--backend torch"):
        _load(tmp_path)


def test_llama_cpp_missing_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(ModelLoadError, match="llama-cpp-python is not installed"):
        _load(embedded_gguf_path())
