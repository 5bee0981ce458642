"""models/gguf_header.py: the metadata and weight count of a real GGUF (written by gguf-py), and a header cut or
garbled anywhere is a GgufHeaderError, never an overflow, a huge allocation or a long loop."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.models.gguf_header import GgufHeaderError, read_gguf_header


@pytest.fixture(scope="module")
def small_gguf(tmp_path_factory) -> bytes:
    gguf = pytest.importorskip("gguf")
    import numpy as np

    path = tmp_path_factory.mktemp("gguf") / "m.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(2)
    writer.add_embedding_length(8)
    writer.add_token_list([f"t{i}" for i in range(10)])
    writer.add_tensor("token_embd.weight", np.zeros((10, 8), dtype=np.float32))
    writer.add_tensor("blk.0.ffn_up.weight", np.zeros((3, 16, 8), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "x.gguf"
    path.write_bytes(data)
    return path


def test_metadata_and_weights_of_a_gguf_written_by_gguf_py(tmp_path, small_gguf):
    header = read_gguf_header(_write(tmp_path, small_gguf), tensors=True)
    meta = header.metadata
    assert meta["general.architecture"] == "llama" and meta["llama.block_count"] == 2
    assert meta["llama.embedding_length"] == 8 and meta["tokenizer.ggml.tokens"] == 10  # an array: its length
    assert (header.n_tensors, header.parameters) == (2, 10 * 8 + 3 * 16 * 8)


def test_reading_stops_once_the_keys_asked_for_are_found(tmp_path, small_gguf):
    header = read_gguf_header(_write(tmp_path, small_gguf), keys=("general.architecture",))
    assert header.metadata["general.architecture"] == "llama" and header.parameters is None
    assert "tokenizer.ggml.tokens" not in header.metadata  # after the architecture: never read


def _first_key_length_offset() -> int:
    return 4 + 4 + 8 + 8


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (_first_key_length_offset(), 2**64 - 1, "runs past the end"),  # the first key's length
        (4 + 4 + 8, 2**63, "key/value count"),  # the key/value count
        (4 + 4, 2**62, "tensor count"),  # the tensor count
    ],
)
def test_a_garbled_length_or_count_is_one_error(tmp_path, small_gguf, where, value, message):
    data = small_gguf[:where] + struct.pack("<Q", value) + small_gguf[where + 8 :]
    with pytest.raises(GgufHeaderError, match=message):
        read_gguf_header(_write(tmp_path, data), tensors=True)


def test_not_a_gguf_and_an_empty_file(tmp_path):
    with pytest.raises(GgufHeaderError, match="not a GGUF file"):
        read_gguf_header(_write(tmp_path, b"PK\x03\x04 a zip"))
    with pytest.raises(GgufHeaderError, match="not a GGUF file"):
        read_gguf_header(_write(tmp_path, b""))


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_a_cut_or_garbled_header_reads_or_says_so(small_gguf, data):
    blob = bytearray(small_gguf)
    cut = data.draw(st.integers(min_value=0, max_value=len(blob)))
    for _ in range(data.draw(st.integers(min_value=0, max_value=4))):  # a few bytes overwritten anywhere
        at = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
        blob[at] = data.draw(st.integers(min_value=0, max_value=255))
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "fuzzed.gguf"
        path.write_bytes(bytes(blob[:cut]))
        try:
            header = read_gguf_header(path, tensors=True)
        except GgufHeaderError as exc:
            assert "\n" not in str(exc)
        else:
            assert header.parameters is not None and header.parameters >= 0
