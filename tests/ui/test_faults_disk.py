"""A full disk or a read-only folder under the window (ENOSPC / EACCES injected): File > Save says so in the banner
and leaves the file as it was; autosave failing again and again puts up one banner (not one per change, and not
again once dismissed), retries on its timer, and clears the banner when a write works again."""

from __future__ import annotations

import errno
import os
import tempfile

import pytest
from PySide6.QtCore import QSettings

from tests.ui.test_sessions import _session
from workbench.session import autosave_path, load_session, save_session


def _disk_full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _refused(*_args, **_kwargs):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))


FAULTS = {"ENOSPC": (os, "fsync", _disk_full), "EACCES": (tempfile, "mkstemp", _refused)}


@pytest.fixture
def window(qtbot, tmp_path):
    """A window showing a saved session (no model process: what it asks of one is recorded), autosaving fast,
    with every banner message counted."""
    from ui.main_window import MainWindow

    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.requests = []
    win.client.send = win.requests.append
    path = tmp_path / "sea.swsession"
    save_session(path, _session(tmp_path))
    assert win.session.open_session(path)
    win.session.autosaver.pause_ms = win.session.autosaver.max_delay_ms = 20
    win.session.autosave_failures.retry.setInterval(200)
    win.shown_messages = []
    show = win.banner.show_message
    win.banner.show_message = lambda text, action=None: (win.shown_messages.append(text), show(text, action))
    return win


def _change(qtbot, win, seed):
    """A change to the session, and its autosave attempt."""
    win.generation.seed.setValue(seed)
    qtbot.waitUntil(lambda: not win.session.autosaver.timer.isActive(), timeout=5000)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_save_into_a_full_disk_or_a_read_only_folder_keeps_the_file_and_says_so(qtbot, window, monkeypatch, fault):
    path = window.document.path
    before = path.read_bytes()
    window.generation.prompt.setPlainText("Words that could not be saved.")
    with monkeypatch.context() as patch:
        patch.setattr(*FAULTS[fault])
        assert not window.session.files.save()
    assert path.read_bytes() == before and load_session(path).prompt != "Words that could not be saved."
    (message,) = window.shown_messages
    assert (
        message.startswith(f"save failed: cannot write {path}: ")
        and os.strerror(errno.ENOSPC if fault == "ENOSPC" else errno.EACCES) in message
    )
    assert not window.banner.isHidden() and window.isWindowModified()  # the work is still unsaved, and says so
    assert [p for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert window.session.files.save()  # the disk has room again: the same Save works
    assert load_session(path).prompt == "Words that could not be saved." and not window.isWindowModified()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_autosave_failing_again_and_again_shows_one_banner_retries_and_clears_it(qtbot, window, monkeypatch, fault):
    failures = window.session.autosave_failures
    _change(qtbot, window, 11)
    slot = autosave_path().read_bytes()  # a slot written while the disk had room
    with monkeypatch.context() as patch:
        patch.setattr(*FAULTS[fault])
        _change(qtbot, window, 12)
        assert len(window.shown_messages) == 1 and not window.banner.isHidden()
        message = window.shown_messages[0]
        assert message.startswith("autosave failed: cannot write") and "retrying every 30 s" in message
        window.banner.hide()  # dismissed by the user
        for seed in (13, 14, 15):
            _change(qtbot, window, seed)
        qtbot.waitUntil(lambda: failures.retry.isActive(), timeout=5000)
        qtbot.wait(500)  # a retry or two fail on the timer too
        assert len(window.shown_messages) == 1 and window.banner.isHidden()  # no more messages, no banner back
        assert failures.failing is not None and failures.retry.isActive()
        assert autosave_path().read_bytes() == slot  # the previous slot is whole
    # Room again: the next retry writes the slot, and the problem is over.
    qtbot.waitUntil(lambda: failures.failing is None, timeout=5000)
    assert load_session(autosave_path()).settings.seed == 15 and not failures.retry.isActive()
    assert window.statusBar().currentMessage() == "autosave works again"


def test_the_autosave_banner_goes_when_autosave_works_but_another_message_stays(qtbot, window, monkeypatch):
    failures = window.session.autosave_failures
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", _disk_full)
        _change(qtbot, window, 21)
    assert not window.banner.isHidden() and window.banner.label.text() == failures.failing
    _change(qtbot, window, 22)  # a change's own autosave works: the banner goes at once, before any retry
    assert window.banner.isHidden() and failures.failing is None
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", _disk_full)
        _change(qtbot, window, 23)
    window.banner.show_message("model process: the model process ended unexpectedly")  # a later, other message
    qtbot.waitUntil(lambda: failures.failing is None, timeout=5000)
    assert not window.banner.isHidden() and window.banner.label.text().startswith("model process:")
