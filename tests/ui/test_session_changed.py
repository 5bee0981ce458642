"""Opening a session recorded with other SAE (or model) weights than those loaded now says so, once, naming the hashes:
its feature ids may mean other features (the demo SAEs were retrained once, and will be again)."""

from dataclasses import replace

from tests.core.session.test_session_file import make_session
from tests.ui.conftest import recording_window
from workbench.jobs import events as ev


def _loaded(session, sae_sha):
    """The model process's record of what is loaded: the session's model and SAEs, the SAE with `sae_sha`."""
    return replace(session, saes=tuple(replace(s, sha256=sae_sha) for s in session.saes))


def test_a_session_recorded_with_other_sae_weights_opens_with_a_note_naming_both_hashes(qtbot, tmp_path):
    window = recording_window(qtbot, tmp_path, [])
    session = make_session()  # its L8 SAE recorded with sha256 abab…
    window.session.show_session(session, tmp_path / "old.swsession", clean=True)
    window.client.receive(ev.SessionRecorded(0, replace(session, saes=())))  # SAEs still loading: no verdict yet
    assert window.banner.isHidden()
    window.client.receive(ev.SessionRecorded(0, _loaded(session, "cd" * 32)))
    text = window.banner.label.text()
    assert not window.banner.isHidden()
    assert "SAE L8 changed since this session was recorded" in text
    assert "sha256 now cdcdcdcdcdcd…, recorded abababababab…" in text
    window.banner.hide()
    window.client.receive(ev.SessionRecorded(0, _loaded(session, "cd" * 32)))  # said once per opened session
    assert window.banner.isHidden()


def test_a_session_recorded_with_the_loaded_weights_opens_without_a_note(qtbot, tmp_path):
    window = recording_window(qtbot, tmp_path, [])
    session = make_session()
    window.session.show_session(session, tmp_path / "same.swsession", clean=True)
    window.client.receive(ev.SessionRecorded(0, _loaded(session, session.saes[0].sha256)))
    assert window.banner.isHidden()
