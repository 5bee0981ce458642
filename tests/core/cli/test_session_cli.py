"""The session commands: `generate --save-session`, `replay`, `export`; bad input exits 2 with one line."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.core.session.test_session_file import make_session
from workbench.cli import main
from workbench.saes.demo import demo_sae_folder
from workbench.session import load_session, save_session

SAE8 = str(demo_sae_folder(8))
ROOT = Path(__file__).resolve().parents[3]


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _moved_model(tmp_path):
    session = make_session().with_model_spec(str(tmp_path / "moved.gguf"))
    return replace(session, model=replace(session.model, source="gguf"))


def _bad_files(tmp_path):
    """name → (file, expected message); every one must leave the file as it was."""
    good = make_session().to_json()
    files = {
        "truncated": (good[: len(good) // 2], "truncated"),
        "corrupt": (good.replace('"model"', '"model" "x"', 1), "corrupt"),
        "foreign": (json.dumps({"version": 1, "data": [1, 2]}), "not a Steering Workbench session"),
        "newer": (good.replace('"schema_version": 2', '"schema_version": 99', 1), "made by a newer version"),
        "unknown": (good.replace('"schema_version": 2', '"schema_version": -1', 1), "unknown session schema"),
        "missing-sae": (make_session(sae_folder=str(tmp_path / "gone")).to_json(), "SAE L8 folder not found"),
        "missing-model": (_moved_model(tmp_path).to_json(), "model file not found"),
    }
    paths = {}
    for name, (text, message) in files.items():
        path = tmp_path / f"{name}.swsession"
        path.write_text(text, encoding="utf-8")
        paths[name] = (path, message)
    return paths


@pytest.mark.parametrize(
    "command",
    [
        ["replay"],
        ["export", "--format", "html"],
        ["export", "--format", "csv"],
        ["export", "--format", "gguf"],
        ["export", "--format", "py", "--variant", "ocean"],
    ],
)
def test_bad_session_files_exit_2_with_one_line_and_stay_untouched(capsys, tmp_path, command):
    for name, (path, message) in _bad_files(tmp_path).items():
        if name == "missing-sae" and command[-1] in ("csv", "html", "ocean"):
            continue  # these formats do not need the SAE's files
        if name == "missing-model" and command[0] != "replay":
            continue  # only replay (and heatmaps, below) load the model
        before = path.read_bytes()
        args = [command[0], str(path), *command[1:]]
        if command[0] == "export":
            args += ["--out", str(tmp_path / "out.file"), "--no-heatmaps"]
        code, out, err = _run(capsys, *args)
        assert code == 2, (name, err)
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err, (name, err)
        assert "Traceback" not in err and out == ""
        assert path.read_bytes() == before
        assert not (tmp_path / "out.file").exists()


def test_a_report_with_heatmaps_needs_the_model_and_says_how_to_do_without(capsys, tmp_path):
    path = save_session(tmp_path / "s.swsession", _moved_model(tmp_path))
    code, _, err = _run(capsys, "export", str(path), "--format", "html", "--out", str(tmp_path / "r.html"))
    assert code == 2 and "model file not found" in err and "--no-heatmaps" in err and err.count("\n") == 1


def test_a_real_process_prints_one_line_for_a_corrupt_session(tmp_path):
    path = tmp_path / "bad.swsession"
    path.write_bytes(b"\x00\x01 not json")
    env = {**os.environ, "STEERING_WORKBENCH_DEBUG": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "replay", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_a_missing_session_file_and_a_missing_out_folder_exit_2(capsys, tmp_path):
    code, _, err = _run(capsys, "replay", str(tmp_path / "nope.swsession"))
    assert code == 2 and "session file not found" in err
    path = save_session(tmp_path / "s.swsession", make_session())
    code, _, err = _run(capsys, "export", str(path), "--format", "csv", "--out", str(tmp_path / "no" / "x.csv"))
    assert code == 2 and "no folder" in err
    code, _, err = _run(capsys, "export", str(path), "--format", "csv", "--out", str(path))
    assert code == 2 and "is the session file itself" in err
    code, _, err = _run(capsys, "generate", "--prompt", "hi", "--save-session", str(tmp_path / "no" / "s.json"))
    assert code == 2 and "does not exist" in err


def test_exports_that_need_no_model_run_from_the_file_alone(capsys, tmp_path):
    path = save_session(tmp_path / "s.swsession", make_session())
    code, out, err = _run(capsys, "export", str(path), "--format", "csv", "--out", str(tmp_path / "s.csv"), "--json")
    assert code == 0, err
    assert json.loads(out) == {"format": "csv", "written": [str(tmp_path / "s.csv")], "notes": []}
    code, _, err = _run(capsys, "export", str(path), "--format", "md", "--out", str(tmp_path / "s.md"), "--no-heatmaps")
    assert code == 0 and "Tell me about the sea." in (tmp_path / "s.md").read_text(), err
    code, _, err = _run(capsys, "export", str(path), "--format", "py", "--out", str(tmp_path / "s.py"))
    assert code == 2 and "choose a variant with --variant (one of: ocean, mixed)" in err


@pytest.mark.integration
def test_generate_save_session_then_replay_is_identical(capsys, tmp_path):
    path = tmp_path / "run.swsession"
    code, out, err = _run(
        capsys,
        *("generate", "--prompt", "Tell me about your weekend.", "--sae", SAE8, "--seed", "3"),
        *("--max-new-tokens", "6", "--variant", "ocean=8:100:4:maxact,8:5:3:clamp:generated"),
        *("--save-session", str(path), "--json"),
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["session"] == str(path)
    session = load_session(path)
    assert [p.token_ids for p in session.outputs] == [tuple(p["token_ids"]) for p in record["panes"]]
    assert session.settings.seed == 3 and session.settings.temperature == 0.7 and session.chat
    assert session.model.spec == "default" and len(session.model.sha256 or "") == 64
    assert [s.spec for s in session.saes] == [str(Path(SAE8).resolve())]
    ocean = session.output("ocean").edits[0]
    assert ocean.maxact_scale is not None and ocean.raw_strength == pytest.approx(4 * ocean.maxact_scale)

    before = path.read_bytes()
    code, out, err = _run(capsys, "replay", str(path), "--json")
    assert code == 0, err
    replay = json.loads(out)
    assert replay["all_identical"] is True and replay["notes"] == []
    assert [p["name"] for p in replay["panes"]] == ["baseline", "ocean"]
    assert all(p["identical"] and p["first_difference"] is None for p in replay["panes"])
    assert path.read_bytes() == before
