"""While the model process is dead, what the Sweep and Compare tabs would send is dropped (ui/model_client.py), so
their run buttons are off, as Generate is, and come back with the next model."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from workbench.host import CRASH_MESSAGE
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.models.protocol import ModelInfo
from workbench.saes.loader import SaeSummary


def _run_buttons(win):
    compare = win.tools.compare
    return {
        "Run sweep": win.sweeps.view.form.run_button,
        "Resume": win.sweeps.view.resume_button,
        "Compare A and B": compare.pair.run_button,
        "Rank features": compare.sets.run_button,
        "Steer each": compare.selectivity.run_button,
    }


def _enabled(win):
    return {name: button.isEnabled() for name, button in _run_buttons(win).items()}


def test_sweep_and_compare_buttons_are_off_while_the_model_process_is_dead(qtbot, tmp_path):
    from ui.main_window import MainWindow
    from workbench.models.hf import HFBackend

    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    sent = []
    win.client.send = sent.append  # no process: what the window sends is recorded
    load = rq.LoadModel("/models/a", "cpu", "float32", ("/saes/x",), ("L1",))
    info = ModelInfo("a", "/models/a", "/models/a", "cpu", "float32", 4, 64, 258, False, 1000, 4000)
    sae = SaeSummary("L1", 1, 64, 64, "/saes/x", "standard", "blocks.1.hook_resid_post", False)
    win.client.receive(ev.ModelLoaded(1, info, HFBackend.capabilities))
    win.client.receive(ev.SaesChanged(1, (sae,)))
    win.client.receive(ev.JobFinished(1, load))
    assert all(_enabled(win).values()), _enabled(win)

    win.client.receive(ev.HostCrashed(0, CRASH_MESSAGE))
    assert not any(_enabled(win).values()), _enabled(win)
    assert "Restart model" in win.sweeps.view.form.run_button.toolTip()
    win.sweeps.view.form.set_running(False, ready=True)  # the Sweep tab's own updates keep it off
    assert not win.sweeps.view.form.run_button.isEnabled()

    win.recovery.restart()
    assert sent[-1] == load
    assert not any(_enabled(win).values())  # still loading: nothing to run on yet
    win.client.receive(ev.ModelLoaded(2, info, HFBackend.capabilities))
    win.client.receive(ev.SaesChanged(2, (sae,)))
    assert all(_enabled(win).values()), _enabled(win)
    assert win.sweeps.view.form.run_button.toolTip() == ""


def test_a_load_that_fails_after_the_crash_gives_the_buttons_back(qtbot, tmp_path):
    """A refused load still started a process: requests reach it again (and fail there with their message)."""
    from ui.main_window import MainWindow

    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.client.send = lambda _r: None
    win.client.receive(ev.HostCrashed(0, CRASH_MESSAGE))
    compare = win.tools.compare.pair.run_button
    assert not compare.isEnabled()
    load = rq.LoadModel("/models/b", "cpu", "float32")
    win.client.receive(ev.JobFailed(1, load, CRASH_MESSAGE))  # the load the crash cut short: still dead
    assert not compare.isEnabled()
    win.client.receive(ev.JobFailed(2, load, "could not load the model in /models/b: bad"))
    assert compare.isEnabled()
