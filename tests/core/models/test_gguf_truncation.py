"""GGUF files cut anywhere in their header region, or with a garbled length in it: one line, never a traceback.

Only the first 2 MB of the embedded GGUF are used (its metadata, vocabulary and tensor index end at about
1.8 MB): a cut there exercises every header parser, and llama.cpp refuses it within milliseconds."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.cli import main
from workbench.errors import ModelLoadError
from workbench.models.llamacpp import LlamaCppBackend
from workbench.models.llamacpp_native import gguf_architecture
from workbench.models.spec import ModelSpec, embedded_gguf_path

HEAD = 2_000_000


@pytest.fixture(scope="module")
def head() -> bytes:
    pytest.importorskip("llama_cpp")
    with embedded_gguf_path().open("rb") as f:
        return f.read(HEAD)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=0, max_value=HEAD - 1))
def test_fuzz_a_gguf_cut_anywhere_in_its_header_is_one_line(head, cut):
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "cut.gguf"
        path.write_bytes(head[:cut])
        with pytest.raises(ModelLoadError) as info:
            LlamaCppBackend.load(ModelSpec.parse(str(path)), device="cpu", threads=1)
    assert "\n" not in str(info.value) and "cut.gguf" in str(info.value)


def test_a_garbled_key_length_in_the_header_is_left_to_llama_cpp(head, tmp_path):
    path = tmp_path / "garbled.gguf"
    path.write_bytes(head[:24] + (2**64 - 1).to_bytes(8, "little") + head[32:])  # the first key's length
    assert gguf_architecture(path) is None


def test_the_cli_refuses_a_garbled_gguf_with_exit_2(head, tmp_path, capsys):
    path = tmp_path / "garbled.gguf"
    path.write_bytes(head[:24] + (2**64 - 1).to_bytes(8, "little") + head[32:])
    code = main(["info", "--backend", "llama.cpp", "--model", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "garbled.gguf" in err
