"""The float32 copy behind the llama.cpp-f32 backend: the same tensors torch reads, made once, cancellable."""

import numpy as np
import pytest

from workbench.cancel import Cancelled, CancelToken
from workbench.errors import ModelLoadError
from workbench.models.gguf_f32 import f32_copy, f32_copy_path
from workbench.models.spec import ModelSpec

gguf = pytest.importorskip("gguf")


@pytest.fixture(scope="module")
def source():
    from pathlib import Path

    return Path(ModelSpec.parse("default").location)


@pytest.mark.integration
def test_the_copy_holds_the_dequantised_tensors_and_metadata_and_is_reused(source):
    from gguf.quants import dequantize

    copy = f32_copy(source)
    made = copy.stat().st_mtime_ns
    assert f32_copy(source) == copy and copy.stat().st_mtime_ns == made  # reused, not rewritten
    original, converted = gguf.GGUFReader(source), gguf.GGUFReader(copy)
    assert {t.name for t in converted.tensors} == {t.name for t in original.tensors}
    assert {t.tensor_type.name for t in converted.tensors} == {"F32"}
    by_name = {t.name: t for t in converted.tensors}
    quantised = [t for t in original.tensors if t.tensor_type.name != "F32"]
    assert quantised  # the embedded file is Q4_1: the check below compares real dequantisation
    for tensor in quantised[:4] + [t for t in original.tensors if t.name == "token_embd.weight"]:
        expected = dequantize(tensor.data, tensor.tensor_type).reshape(-1)
        assert np.array_equal(np.asarray(by_name[tensor.name].data).reshape(-1), expected)
    for key in ("tokenizer.chat_template", "llama.block_count", "llama.rope.freq_base"):
        assert converted.fields[key].contents() == original.fields[key].contents()


def test_a_cancelled_copy_leaves_no_file(tmp_path, monkeypatch, source):
    monkeypatch.setenv("STEERING_WORKBENCH_CACHE", str(tmp_path))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        f32_copy(source, cancel=token)
    target = f32_copy_path(source)
    assert not target.exists() and not list(target.parent.glob("*.tmp"))


def test_a_file_that_is_not_gguf_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("STEERING_WORKBENCH_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(ModelLoadError, match="cannot read GGUF file"):
        f32_copy(bad)
