"""The model panel's backend choice: it goes with the load request, is remembered, and a reopened session loads
on the backend it was recorded with (no model process: requests are recorded)."""

from dataclasses import replace

from PySide6.QtCore import QSettings

from tests.ui.test_sessions import _session, _window
from workbench.jobs import requests as rq
from workbench.session import save_session


def test_the_chosen_backend_goes_with_the_load_request_and_is_remembered(qtbot, tmp_path):
    window = _window(qtbot, tmp_path)
    assert window.model_panel.backend.currentText() == "torch"
    window.model_panel.backend.setCurrentText("llama.cpp")
    assert window.document.state.model.backend == "llama.cpp"
    window.model_panel.load_button.click()
    assert isinstance(window.requests[-1], rq.LoadModel) and window.requests[-1].backend == "llama.cpp"
    window.close()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert settings.value("last/backend") == "llama.cpp"
    again = _window(qtbot, tmp_path)
    assert again.model_panel.backend.currentText() == "llama.cpp"


def test_a_session_recorded_on_llama_cpp_reopens_on_llama_cpp(qtbot, tmp_path):
    session = _session(tmp_path)
    session = replace(session, environment=replace(session.environment, backend="llama.cpp"))
    save_session(tmp_path / "fast.swsession", session)
    window = _window(qtbot, tmp_path)
    assert window.session.open_session(tmp_path / "fast.swsession")
    load = window.requests[-1]
    assert isinstance(load, rq.LoadModel) and (load.spec, load.backend) == ("default", "llama.cpp")
    assert window.model_panel.backend.currentText() == "llama.cpp"


def test_max_memory_goes_with_a_torch_load_request_is_checked_at_once_and_remembered(qtbot, tmp_path):
    window = _window(qtbot, tmp_path)
    panel = window.model_panel
    assert panel.max_memory.isEnabled() and panel.max_memory.text() == ""
    panel.max_memory.setText("0=20GiB,1=20GiB,cpu=64GiB")
    panel.max_memory.editingFinished.emit()
    assert window.document.state.model.max_memory == "0=20GiB,1=20GiB,cpu=64GiB"
    panel.load_button.click()
    load = window.requests[-1]
    assert isinstance(load, rq.LoadModel) and load.max_memory == "0=20GiB,1=20GiB,cpu=64GiB"
    panel.max_memory.setText("0=20")  # no unit: marked at once, with the load's own message as tooltip
    panel.max_memory.editingFinished.emit()
    assert "needs a unit" in panel.max_memory.toolTip() and panel.max_memory.styleSheet()
    panel.max_memory.setText("1=8GiB")
    panel.max_memory.editingFinished.emit()
    assert not panel.max_memory.styleSheet() and "DEVICE=SIZE" in panel.max_memory.toolTip()
    panel.backend.setCurrentText("llama.cpp")  # llama.cpp places its layers itself: the field greys out
    assert not panel.max_memory.isEnabled()
    panel.set_loading(False)  # the first load never finishes here (no model process)
    panel.load_button.click()
    assert window.requests[-1].max_memory == ""
    window.close()
    again = _window(qtbot, tmp_path)
    assert again.model_panel.max_memory.text() == "1=8GiB"
