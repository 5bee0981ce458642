"""The GGUF conversion reads the file's header once: one gguf-py reader and one tensor-name map, shared by the
tokenizer, config and weight loads inside `shared_gguf_parse`, and the cached conversion is the same to the byte."""

from __future__ import annotations

import contextlib

import gguf
import numpy as np
import pytest

from workbench.models import hf_loader
from workbench.models.gguf_once import shared_gguf_parse


def _tiny_gguf(path):
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("token_embd.weight", np.arange(32, dtype=np.float32).reshape(4, 8))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_inside_the_block_a_file_is_parsed_once_and_the_name_map_made_once(tmp_path):
    path = _tiny_gguf(tmp_path / "t.gguf")
    with shared_gguf_parse() as readers:
        first, again = gguf.GGUFReader(path), gguf.GGUFReader(str(path))
        assert first is again and list(readers.values()) == [first]
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2) is gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2)
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 3) is not gguf.get_tensor_name_map(
            gguf.MODEL_ARCH.LLAMA, 2
        )
    np.testing.assert_array_equal(first.get_tensor(0).data, np.arange(32, dtype=np.float32).reshape(4, 8))
    assert gguf.GGUFReader(path) is not first  # undone on the way out


def test_the_patch_is_undone_when_the_block_fails(tmp_path):
    reader_class, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    with pytest.raises(RuntimeError), shared_gguf_parse():
        raise RuntimeError("a failed conversion")
    assert gguf.GGUFReader is reader_class and gguf.get_tensor_name_map is name_map


@pytest.mark.integration
def test_the_conversion_parses_the_gguf_once_and_writes_the_same_files(tmp_path, monkeypatch):
    from workbench.cancel import CancelToken
    from workbench.models.spec import embedded_gguf_path

    made = []

    class CountingReader(gguf.GGUFReader):
        def __init__(self, *args, **kwargs):
            made.append(args[0])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(gguf, "GGUFReader", CountingReader)
    monkeypatch.setenv("STEERING_WORKBENCH_CACHE", str(tmp_path / "shared"))
    shared = hf_loader.converted_gguf_folder(embedded_gguf_path(), lambda _p: None, CancelToken())
    assert len(made) == 1
    # The same conversion with a reader per transformers call, as transformers does it alone.
    monkeypatch.setattr(hf_loader, "shared_gguf_parse", contextlib.nullcontext)
    monkeypatch.setenv("STEERING_WORKBENCH_CACHE", str(tmp_path / "plain"))
    plain = hf_loader.converted_gguf_folder(embedded_gguf_path(), lambda _p: None, CancelToken())
    assert len(made) == 4
    names = sorted(p.name for p in shared.iterdir())
    assert names == sorted(p.name for p in plain.iterdir()) and "model.safetensors" in names
    for name in names:
        assert (shared / name).read_bytes() == (plain / name).read_bytes(), name
