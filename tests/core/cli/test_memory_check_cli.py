"""A model that will not fit in the free memory: `info` exits 2 with one line, and --ignore-memory-check loads it."""

import pytest

from tests.factories import tiny_llama, tiny_tokenizer
from workbench.cli import main
from workbench.models import memory_guard


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-model")
    tiny_llama().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return str(folder)


def test_info_refuses_a_model_bigger_than_the_free_memory_in_one_line(capsys, monkeypatch, tiny_folder):
    monkeypatch.setattr(memory_guard, "free_bytes", lambda _device: 64 * 1024)  # a tiny fake "free memory"
    code = main(["info", "--model", tiny_folder, "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: not enough memory on cpu")
    assert "64 KiB free" in err and "--ignore-memory-check" in err

    code = main(["info", "--model", tiny_folder, "--device", "cpu", "--ignore-memory-check", "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and '"n_layers": 4' in out
