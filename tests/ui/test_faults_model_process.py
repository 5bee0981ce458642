"""The model process SIGKILLed in the middle of a generation, a sweep and an SAE load (a real process, a tiny random
Llama saved as a model folder): the window shows one message, nothing claims to be ready, Generate is disabled,
the session and its unsaved edits are intact, the dead process is reaped, and Restart model brings back the same
model and SAEs under the same keys, on which the session's edits run again."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import replace

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QDialog

from tests.factories import make_sae, tiny_tokenizer
from tests.ui.conftest import wait_for
from workbench.host import CRASH_MESSAGE
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.session.sweeps import FAILED

pytestmark = pytest.mark.integration
D_MODEL = 64


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """A tiny Llama folder with room for long generations, and SAE folders at layers 1 and 2."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("faults")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=258,
        hidden_size=D_MODEL,
        intermediate_size=2 * D_MODEL,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        bos_token_id=256,
        eos_token_id=257,
    )
    LlamaForCausalLM(config).save_pretrained(root / "model")
    tiny_tokenizer().save_pretrained(root / "model")
    saes = [str(make_sae(root / f"sae{layer}", d_in=D_MODEL, layer=layer, d_sae=64, seed=layer)) for layer in (1, 2)]
    return str(root / "model"), saes, root


@pytest.fixture
def window(qtbot, tmp_path, parts):
    """A window with the tiny model and its two SAEs loaded (one under a key a session chose), an unsaved edit on
    each SAE and an unsaved prompt."""
    from ui.main_window import MainWindow

    model, saes, _root = parts
    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    win.show()
    with wait_for(qtbot, win, ev.JobFinished, timeout=300_000, check=lambda e: isinstance(e.request, rq.LoadModel)):
        win.load_model(model, "cpu", "float32", "torch", saes, ["L1", "mine"])
    assert [s.key for s in win.saes] == ["L1", "mine"]
    win.steering.add_feature("L1", 3, strength=2.0)
    win.steering.add_feature("mine", 5, strength=3.0)
    win.generation.prompt.setPlainText("Unsaved words about the sea")
    win.generation.temperature.setValue(0.0)
    assert win.document.modified and win.generation.generate_button.isEnabled()
    yield win
    win.close()
    assert win.client.host is None or not win.client.host.alive  # closing ends the restarted process too


def _inputs(win):
    """The prompt and the edits: the unsaved work the fixture made."""
    state = win.document.state
    assert len(state.plan.variants) == 2 and len(state.plan.variants[1].edits) == 2
    return state.prompt, state.plan


def _loaded(win):
    """What is loaded, as the window was told: the model's facts and the SAEs' keys and sources."""
    info = win.info
    return (info.path, info.device, info.dtype, info.backend), [(s.key, s.source) for s in win.saes]


def _kill_when(win, happened):
    """SIGKILL the model process (on the GUI thread) at the first event for which `happened(event)` is true;
    returns a record of the process, its host and the session's inputs at that moment."""
    killed = {}

    def listener(event):
        if not killed and happened(event):
            host = win.client.host
            # Reader threads of other windows' model processes (the UI suite's shared window) are not ours.
            others = {t for t in threading.enumerate() if t.name == "workbench-host-reader" and t is not host._reader}
            killed.update(pid=host.pid, host=host, inputs=win.document.state.inputs, other_readers=others)
            os.kill(host.pid, signal.SIGKILL)

    win.client.received.connect(listener)
    return killed


def _check_dead_and_intact(win, killed, before):
    """After the crash: one message, nothing ready, Generate off, the session intact, the process reaped."""
    assert win.banner.isVisible() and win.banner.label.text() == f"model process: {CRASH_MESSAGE}"
    assert win.banner.action_button.isVisible() and win.banner.action_button.text() == "Restart model"
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, QDialog) and w.isVisible()]
    panel = win.model_panel
    assert panel.progress.format() != "ready" and "ended" in panel.progress.format()
    assert panel.facts.text() == "no model loaded" and panel.sae_list.count() == 0
    assert win.info is None and not win.running
    assert not win.generation.generate_button.isEnabled()
    assert not win.sweeps.view.form.run_button.isEnabled() and not win.tools.compare.pair.run_button.isEnabled()
    model_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Model")
    assert win.recovery.restart_action in model_menu.actions() and win.recovery.restart_action.isEnabled()
    win.generate()  # Ctrl+Return while dead: nothing is sent, no process starts
    assert win.client.host is None
    # The session and its unsaved edits are as they were when the process died.
    state = win.document.state
    assert state.inputs == killed["inputs"] and (state.prompt, state.plan) == before and win.document.modified
    # Nothing is left of the old process: reaped (no zombie), its reader thread ended.
    assert not os.path.exists(f"/proc/{killed['pid']}")
    assert not killed["host"].reader_alive
    readers = {t for t in threading.enumerate() if t.name == "workbench-host-reader"}
    assert readers <= killed["other_readers"]  # this window's reader ended and none was started since


def _restart_and_steer(qtbot, win, loaded, restart):
    """Restart the model: the same model and SAEs come back under the same keys, and the edits steer again."""
    with wait_for(qtbot, win, ev.JobFinished, timeout=300_000, check=lambda e: isinstance(e.request, rq.LoadModel)):
        restart()
    assert _loaded(win) == loaded
    assert not win.banner.isVisible() and not win.recovery.restart_action.isEnabled()
    assert win.generation.generate_button.isEnabled() and win.model_panel.progress.format() == "ready"
    assert win.sweeps.view.form.run_button.isEnabled() and win.tools.compare.pair.run_button.isEnabled()
    win.generation.max_tokens.setValue(3)
    with wait_for(qtbot, win, ev.JobEnd, timeout=120_000, check=lambda e: isinstance(e.request, rq.Generate)) as end:
        win.generate()
    assert isinstance(end.args[0], ev.JobFinished)  # every edit found its SAE by key
    baseline, steered = win.document.state.run.result.panes
    assert len(baseline.token_ids) == len(steered.token_ids) == 3
    assert len(steered.edits_fired) == 2  # both edits ran, on the SAEs their keys name


def test_killed_while_generating(qtbot, window):
    win, loaded, before = window, _loaded(window), _inputs(window)
    killed = _kill_when(win, lambda e: isinstance(e, ev.TokensGenerated))
    finished = []
    win.client.on(ev.Generated, finished.append)
    win.generation.max_tokens.setValue(4000)  # far more than can be generated before the kill lands
    with wait_for(qtbot, win, ev.HostCrashed, timeout=120_000):
        win.generate()
    assert killed and not finished  # it died mid-generation, with no result
    _check_dead_and_intact(win, killed, before)
    _restart_and_steer(qtbot, win, loaded, win.banner.action_button.click)


def test_killed_during_a_sweep(qtbot, window, parts, tmp_path):
    win, loaded, before = window, _loaded(window), _inputs(window)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(f"Prompt number {n} about the sea" for n in range(8)) + "\n", encoding="utf-8")
    win.sweeps.open_feature("mine", 5)
    form = win.sweeps.view.form
    form.recipe.setCurrentText("custom")
    form.strengths.setText("0,1,2,4,8")
    form.unit.setCurrentText("raw")
    form.prompts.setCurrentText(str(prompts))
    form.seeds.setText("0")
    form.max_tokens.setValue(64)
    killed = _kill_when(win, lambda e: isinstance(e, ev.SweepRowsReady))
    ended = []
    win.client.on(ev.SweepEnded, ended.append)
    with wait_for(qtbot, win, ev.HostCrashed, timeout=300_000):
        form.run_button.click()
    assert killed and not ended  # it died between rows
    sweep = win.sweeps.view.sweep
    assert sweep is not None and sweep.run.status == FAILED
    assert sweep.run.baseline or sweep.run.rows  # the rows that came are kept
    assert win.sweeps.running is None  # the form is not stuck running
    _check_dead_and_intact(win, killed, before)
    _restart_and_steer(qtbot, win, loaded, win.recovery.restart_action.trigger)  # Model > Restart model


@pytest.fixture(scope="module")
def big_sae(parts):
    """An SAE with 2^19 features (256 MB of weights): reading, hashing and checking it takes long enough that a
    kill sent when its load starts lands in the middle of it (the tests check that it had not finished)."""
    return str(make_sae(parts[2] / "sae-big", d_in=D_MODEL, layer=2, d_sae=2**19, seed=7))


def _sae_news(win):
    """SAE loads that ended (loaded or failed), as the window hears of them."""
    news = []
    win.client.on(ev.SaesChanged, lambda e: news.append(len(e.saes)))
    win.client.on(ev.SaeLoadFailed, lambda e: news.append(e.message))
    return news


def test_killed_while_adding_an_sae(qtbot, window, big_sae):
    win, loaded, before = window, _loaded(window), _inputs(window)
    killed = _kill_when(win, lambda e: isinstance(e, ev.ProgressMade) and e.progress.phase.startswith("loading SAE"))
    news = _sae_news(win)
    with wait_for(qtbot, win, ev.HostCrashed, timeout=120_000):
        win.model_panel.addSaeRequested.emit(big_sae)
    assert killed and not news  # it died while the SAE was loading
    _check_dead_and_intact(win, killed, before)
    # The SAEs that were loaded come back; the one that was loading when it died is not forced on the restart.
    assert [s for s in win.recovery.restart_request.saes] == [s for _k, s in loaded[1]]
    _restart_and_steer(qtbot, win, loaded, win.banner.action_button.click)


def test_killed_while_a_model_load_reads_its_saes_restart_sends_that_load_again(qtbot, window, parts, big_sae):
    win, before = window, _inputs(window)
    model, saes, _root = parts
    killed = _kill_when(win, lambda e: isinstance(e, ev.ProgressMade) and e.progress.phase == "loading SAE 2 of 2")
    news = _sae_news(win)
    with wait_for(qtbot, win, ev.HostCrashed, timeout=300_000):
        win.load_model(model, "cpu", "bfloat16", "torch", [saes[1], big_sae], ["mine", "other"])
    assert killed and news[-1] == 1  # the first SAE had loaded, the second had not
    _check_dead_and_intact(win, killed, before)
    sent = win.client.last_load
    assert win.recovery.restart_request == sent  # nothing had finished loading: the same load again
    assert (sent.spec, sent.device, sent.dtype, sent.saes, sent.keys) == (
        model,
        "cpu",
        "bfloat16",
        (saes[1], big_sae),
        ("mine", "other"),
    )


def test_a_load_refused_for_memory_offers_load_anyway(qtbot, tmp_path, parts, monkeypatch):
    """The guard's refusal reaches the window as one message with Load anyway, which loads with the override."""
    from ui.main_window import MainWindow
    from workbench.models.memory_guard import REFUSAL

    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    sent = []
    monkeypatch.setattr(win.client, "send", lambda r: sent.append(r))
    win.load_model(parts[0], "cpu", "float32", "torch", [], None)
    message = f"{REFUSAL} on cpu: the model needs about 2.00 GiB (...) but cpu has 1.00 GiB free; try ..."
    win.client.receive(ev.JobFailed(1, sent[0], message))
    assert not win.banner.isHidden() and win.banner.label.text() == f"load model failed: {message}"
    assert win.banner.action_button.text() == "Load anyway" and not win.generation.generate_button.isEnabled()
    win.banner.action_button.click()
    assert sent[-1] == replace(sent[0], ignore_memory_check=True)
    assert win.model_panel.cancel_button.isEnabled()  # loading again
    win.client.receive(ev.JobFailed(2, sent[0], "could not load the model in /x: bad"))
    assert win.banner.action_button.isHidden()  # other failures offer no override


def test_after_a_cancelled_load_a_restart_brings_back_the_model_that_stayed_loaded(qtbot, tmp_path):
    """A load cancelled (or refused) leaves the model before it in place: that one, with its SAEs, comes back."""
    from ui.main_window import MainWindow
    from workbench.saes.loader import SaeSummary

    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.client.send = lambda _r: None
    first = rq.LoadModel("/models/a", "cpu", "float32", ("/saes/x",), ("L1",))
    win.client.receive(ev.JobFinished(1, first))
    sae = SaeSummary("mine", 2, 64, 64, "/saes/y", "standard", "blocks.2.hook_resid_post", False)
    win.client.receive(ev.SaesChanged(2, (sae,)))  # the session swapped the SAE since
    win.client.receive(ev.JobCancelled(3, rq.LoadModel("/models/b", "cpu", "bfloat16")))
    win.client.receive(ev.HostCrashed(0, CRASH_MESSAGE))
    assert win.recovery.restart_request == replace(first, saes=("/saes/y",), keys=("mine",))
    assert win.banner.action_button.text() == "Restart model"
