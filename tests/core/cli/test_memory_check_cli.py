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


@pytest.mark.parametrize("command", [["replay"], ["export", "--format", "html"]])
def test_replay_and_export_take_the_override_their_refusal_names(capsys, monkeypatch, tmp_path, tiny_folder, command):
    """`replay` and a report with heatmaps load the session's model through the guard: refused in one line that
    names --ignore-memory-check, and that option (accepted by these commands too) gets past the guard."""
    from tests.core.session.test_session_file import make_session
    from workbench.session import save_session

    path = tmp_path / "tiny.swsession"
    save_session(path, make_session().with_model_spec(tiny_folder))
    monkeypatch.setattr(memory_guard, "free_bytes", lambda _device: 64 * 1024)
    args = [command[0], str(path), *command[1:], "--device", "cpu"]
    if command[0] == "export":
        args += ["--out", str(tmp_path / "report.html")]

    assert main(args) == 2
    _out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "not enough memory on cpu" in err and "--ignore-memory-check" in err

    # Past the guard, the tiny model loads; the session's demo SAE (SmolLM2's layer 8) then does not fit its 4
    # layers, which is the next check and shows the model itself was loaded.
    assert main([*args, "--ignore-memory-check"]) == 2
    _out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "not enough memory" not in err
    assert "has layers 0–3" in err, err
