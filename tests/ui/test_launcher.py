"""The console script: a mistyped command or option gets one line and exit 2, never a window."""

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
