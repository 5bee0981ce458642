"""The console script: a mistyped command or option gets one line and exit 2, never a window."""

import json
import subprocess
import sys

import pytest

from ui.launcher import main, unknown_argument


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["genrate", "--prompt", "x"], "unknown command 'genrate' (did you mean 'generate'?)"),
        (["sea-metrics"], "did you mean 'sae-metrics'?"),
        (["--screenshoot", "x.png"], "unknown option '--screenshoot' (did you mean '--screenshot'?)"),
        (["--frobnicate"], "unknown option '--frobnicate';"),
    ],
)
def test_a_mistyped_argument_is_named_with_the_nearest_one(args, says, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


@pytest.mark.parametrize("args", [[], ["--screenshot", "x.png"], ["--screenshot=x.png"], ["-platform", "offscreen"]])
def test_window_options_and_qt_options_open_the_window(args):
    assert unknown_argument(args) is None


def test_the_installed_script_exits_2_without_opening_a_window():
    done = subprocess.run([sys.executable, "-m", "ui.launcher", "genrate"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "did you mean 'generate'" in done.stderr


def test_the_screenshot_takes_a_backend_and_leaves_qts_options_to_qt():
    from ui.app import parse_window_args

    args, qt_args = parse_window_args(["--screenshot", "shot.png", "--backend", "llama.cpp", "-platform", "xcb"])
    assert (args.screenshot, args.backend, qt_args) == ("shot.png", "llama.cpp", ["-platform", "xcb"])
    args, _ = parse_window_args(["--screenshot=shot.png"])
    assert args.backend is None  # the remembered backend stays
    assert unknown_argument(["--screenshot", "x.png", "--backend", "llama.cpp"]) is None
    assert unknown_argument(["--backend=torch"]) is None


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--screenshot", "x.png", "--backend", "llamacpp"], "unknown backend 'llamacpp' (did you mean 'llama.cpp'?)"),
        (["--backend"], "unknown backend ''"),
    ],
)
def test_an_unknown_backend_is_one_line_and_exit_2(args, says, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


def test_the_screenshot_draws_on_a_display_when_there_is_one(monkeypatch):
    from ui.app import has_display

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    assert has_display()  # xvfb-run: the real X11 platform, not offscreen
    monkeypatch.delenv("DISPLAY")
    assert not has_display()


def _session(tmp_path):
    from tests.core.session.test_session_file import make_session
    from workbench.session import save_session

    return save_session(tmp_path / "s.swsession", make_session())


def test_the_console_script_ends_at_once_with_its_output_and_files_complete(tmp_path):
    # The entry point ends with os._exit (no interpreter teardown): what the command printed and wrote must all be
    # there, and its exit code kept, exactly as when main returns in-process.
    path = _session(tmp_path)
    args = ["export", str(path), "--format", "csv", "--json"]
    script = "from ui.launcher import main; main(); print('not reached')"
    out_file = tmp_path / "fresh.csv"
    proc = subprocess.run(
        [sys.executable, "-c", script, *args, "--out", str(out_file)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1 and "not reached" not in proc.stdout
    assert json.loads(proc.stdout)["written"] == [str(out_file)]
    in_process = tmp_path / "in-process.csv"
    assert main([*args, "--out", str(in_process)]) == 0  # called with arguments, main returns
    assert out_file.read_bytes() == in_process.read_bytes() and out_file.stat().st_size > 0


def test_the_console_script_keeps_a_failing_commands_exit_code(tmp_path):
    script = "from ui.launcher import main; main(); print('not reached')"
    out = tmp_path / "no" / "x.csv"
    proc = subprocess.run(
        [sys.executable, "-c", script, "export", str(_session(tmp_path)), "--format", "csv", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
