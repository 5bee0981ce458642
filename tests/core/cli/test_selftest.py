"""`steering-workbench self-test`: every check passes on a working install (exit 0); a check that finds a wrong
answer fails with its reason, the checks after it are skipped, and the exit code is 1."""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from workbench.cli import main, selftest

ROOT = Path(__file__).resolve().parents[3]
CHECKS = (
    "load the default model",
    "load the demo SAEs",
    "generate a steered pair",
    "compute a heatmap",
    "save the session",
    "replay the session",
)


def _verdicts(out):
    """check name → PASS / FAIL / SKIP, from the self-test's lines."""
    found = {}
    for line in out.splitlines():
        verdict, _, rest = line.partition("  ")
        if verdict in ("PASS", "FAIL", "SKIP"):
            found[rest.split(" (")[0].split(":")[0]] = verdict
    return found


@pytest.mark.integration
def test_self_test_passes_every_check_on_this_install():
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "self-test", "--device", "cpu"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _verdicts(proc.stdout) == dict.fromkeys(CHECKS, "PASS")
    assert proc.stdout.strip().splitlines()[-1] == f"self-test passed: {len(CHECKS)} of {len(CHECKS)} checks"
    assert "Traceback" not in proc.stderr


@pytest.mark.integration
def test_a_replay_that_differs_fails_the_self_test_with_exit_1(monkeypatch, capsys):
    # The recording handed to the real replay says the steered pane ended on another token than the model
    # gives: the replay's comparison must notice, and the self-test must fail on it.
    from workbench.session import replay as replay_module

    real_replay = replay_module.replay_session

    def replay_a_changed_recording(engine, session, cancel=None):
        steered = session.outputs[1]
        changed = replace(steered, token_ids=(*steered.token_ids[:-1], steered.token_ids[-1] + 1))
        return real_replay(engine, replace(session, outputs=(session.outputs[0], changed)), cancel)

    monkeypatch.setattr(replay_module, "replay_session", replay_a_changed_recording)
    with pytest.raises(SystemExit) as exited:
        main(["self-test", "--device", "cpu"])
    out = capsys.readouterr().out
    assert exited.value.code == 1
    assert _verdicts(out) == {**dict.fromkeys(CHECKS[:-1], "PASS"), "replay the session": "FAIL"}
    fail = next(line for line in out.splitlines() if line.startswith("FAIL"))
    assert f"1 of 2 panes differ from the recording: '{selftest.VARIANT}' from token" in fail
    assert out.strip().splitlines()[-1] == "self-test FAILED: 1 of 6 checks (replay the session)"


def test_a_failing_check_skips_the_checks_that_need_it_and_exits_1(monkeypatch, capsys):
    def no_model(*_args):
        raise RuntimeError("libtorch_cpu.so: cannot open shared object file")

    monkeypatch.setattr(selftest, "_load_model", no_model)
    with pytest.raises(SystemExit) as exited:
        main(["self-test"])
    out = capsys.readouterr().out
    assert exited.value.code == 1
    assert _verdicts(out) == {CHECKS[0]: "FAIL", **dict.fromkeys(CHECKS[1:], "SKIP")}
    assert "unexpected RuntimeError: libtorch_cpu.so: cannot open shared object file" in out
    assert f"needs '{CHECKS[0]}'" in out


@pytest.mark.parametrize(
    ("option", "message"),
    [(["--device", "tpu"], "unknown device 'tpu'"), (["--dtype", "float8"], "unknown dtype 'float8'")],
)
def test_an_unusable_device_or_dtype_is_bad_input_exit_2_before_any_check(capsys, option, message):
    code = main(["self-test", *option])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"error: {message} (use auto, ")
