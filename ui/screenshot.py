"""`steering-workbench --screenshot PATH`: load the default model and SAEs offscreen, run a steered demo and a
heatmap, save a PNG of the whole window, print the longest GUI stall, and quit."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import QApplication

from ui.main_window import MainWindow
from ui.stall import StallMeter
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.steering.plan import StrengthUnit

DEMO_PROMPT = "Describe your ideal holiday in three sentences."
# (preferred layer, label text, strength in × residual norm, pane name): features found by their atlas labels.
DEMO_EDITS = ((15, "sea · ocean", 0.25, "ocean @L15"), (8, "coastal · marine", 0.3, "sea @L8"))
TIMEOUT_MS = 15 * 60 * 1000
STEP_MS = 50  # between the demo's actions: a quick user, and each action is its own event as a click would be


class ScreenshotDemo(QObject):
    def __init__(self, window: MainWindow, path: Path) -> None:
        super().__init__(window)
        self.window, self.path = window, path
        self.meter = StallMeter(self)
        self.exit_code = 1
        self._steered = False
        self._inspected = False
        self._layers_shown = False
        self._steps: list[Callable[[], object]] = []
        self.saes: list = []
        self.created = time.perf_counter()
        self.first_paint_ms = 0.0
        window.client.on(ev.SaesChanged, lambda e: self._saes_ready(list(e.saes)))
        window.client.on(ev.HeatmapReady, lambda e: self._heatmap_ready(e.data))
        window.client.on(ev.FeatureLayersReady, lambda _e: self._layers_ready())
        window.client.on(ev.CardReady, lambda _e: self._card_ready())
        window.client.on(ev.FeatureIndexReady, lambda _e: self._when_searchable() if self._steered else None)
        window.client.on(ev.JobFailed, self._failed)
        QTimer.singleShot(TIMEOUT_MS, lambda: self._finish("timed out"))

    def start(self) -> None:
        """Called once the window has painted: from here on every event-loop delay counts as a stall."""
        self.first_paint_ms = (time.perf_counter() - self.created) * 1000
        self.meter.phase = "model load"
        self.meter.start()
        self.window.load_model(backend=self.window.document.state.model.backend)

    def _saes_ready(self, saes: list) -> None:
        if self._steered or len(saes) < len(self.window.default_saes) or not saes:
            return
        self._steered = True
        self.meter.phase = "generation + heatmap"
        self.saes = saes
        self._when_searchable()

    def _when_searchable(self) -> None:
        """Once every SAE's labels are in, play the demo as a user would: one action per event-loop turn."""
        search = self.window.search
        if self._steps or search.missing([s.key for s in self.saes]):
            return
        w = self.window
        self._steps = [self._set_prompt]
        for n, (layer, query, strength, name) in enumerate(DEMO_EDITS):
            if n:
                self._steps.append(w.steering.add_variant)
            self._steps += [
                partial(self._search, query),
                partial(self._steer_found, layer, strength, name, n == 0),
            ]
        self._steps.append(w.generate)
        QTimer.singleShot(STEP_MS, self._next_step)

    def _search(self, query: str) -> None:
        self.window.search.field.setText(query)
        self.window.search.run()

    def _next_step(self) -> None:
        if self._steps:
            self._steps.pop(0)()
            QTimer.singleShot(STEP_MS, self._next_step)

    def _set_prompt(self) -> None:
        g = self.window.generation
        g.prompt.setPlainText(DEMO_PROMPT)
        g.max_tokens.setValue(40)
        g.temperature.setValue(0.0)

    def _steer_found(self, layer: int, strength: float, name: str, first: bool) -> None:
        """Steer with the search's best result at `layer` (else its best), found by its atlas label so that the
        demo survives retrained SAEs; SAEs without atlases steer feature 11 of the first SAE."""
        w = self.window
        hits = sorted(w.search.hits, key=lambda h: h.layer != layer)  # stable: keeps the label ranking
        key, feature = (hits[0].sae_key, hits[0].feature) if hits else (self.saes[0].key, 11)
        w.steering.add_feature(key, feature, strength=strength, unit=StrengthUnit.RESID)
        w.steering.variant_list.item(w.steering.selected).setText(name)
        if first:  # show the first steered feature's layer, and follow that feature across layers
            w.heatmap.sae_combo.setCurrentIndex(max(0, w.heatmap.sae_combo.findData(key)))
            w.heatmap.set_anchor(key, feature)

    def _heatmap_ready(self, data: object) -> None:
        if self._inspected:
            return
        self._inspected = True
        # Open the steered feature in the inspector (else the heatmap's strongest), as a click on its row would.
        key, feature = self.window.heatmap.anchor or (data.sae_key, data.features[0])  # type: ignore[attr-defined]
        self.window.client.send(rq.Inspect(key, feature))

    def _card_ready(self) -> None:
        if self._inspected:
            QTimer.singleShot(1000, self._finish_when_drawn)

    def _layers_ready(self) -> None:
        self._layers_shown = True

    def _finish_when_drawn(self) -> None:
        if self.window.heatmap.anchor is not None and not self._layers_shown:
            QTimer.singleShot(200, self._finish_when_drawn)
            return
        rows = self.window.steering.rows
        if QGuiApplication.platformName() == "offscreen" or not rows:
            self._finish(None)
            return
        # On a real display, open the edit's mode list, as a user checking what this backend can do would: the
        # modes it lacks are greyed out there. (Offscreen, a popup is a window of its own that grab() leaves out.)
        rows[0].mode.showPopup()
        QTimer.singleShot(500, lambda: self._finish(None))

    def _failed(self, event: ev.JobFailed) -> None:
        print(f"{event.request.label} failed: {event.message}", file=sys.stderr)

    def _finish(self, problem: str | None) -> None:
        self.meter.stop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        saved = capture(self.window).save(str(self.path))
        print(f"window first paint ms: {self.first_paint_ms:.1f} (from show, before the stall meter starts)")
        print(f"gui max stall ms: {self.meter.max_stall_ms:.1f}")
        for phase, stall in self.meter.phase_max.items():
            print(f"  during {phase}: {stall:.1f}")
        steal = self.meter.steal_fraction
        print(
            f"  machine: load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
            + (f", {steal:.0%} of CPU time taken by the VM's host" if steal is not None else "")
        )
        if problem:
            print(f"screenshot demo {problem}", file=sys.stderr)
        self.exit_code = 0 if saved and problem is None else 1
        self.window.close()
        QApplication.instance().exit(self.exit_code)  # type: ignore[union-attr]


def capture(window: MainWindow) -> QPixmap:
    """The window as the display shows it (read back from the X server under X11/Xvfb), else as it renders
    itself (offscreen)."""
    if QGuiApplication.platformName() != "offscreen":
        frame = window.frameGeometry()
        shot = window.screen().grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height())
        if not shot.isNull():
            return shot
    return window.grab()


def fallback_saes() -> list[str]:
    """Random sae-lens SAEs at layers 8 and 15, used only until the demo SAEs ship."""
    import torch

    from workbench.saes.sae_lens_lite import sae_classes

    StandardSAE, StandardSAEConfig = sae_classes().StandardSAE, sae_classes().StandardSAEConfig

    folders = []
    root = Path(tempfile.mkdtemp(prefix="workbench-demo-saes-"))
    for layer in (8, 15):
        torch.manual_seed(layer)
        cfg = StandardSAEConfig(d_in=576, d_sae=2304)
        cfg.metadata.hook_name = f"blocks.{layer}.hook_resid_post"
        sae = StandardSAE(cfg)
        with torch.no_grad():
            sae.W_dec.data = torch.nn.functional.normalize(torch.randn(2304, 576), dim=-1)
            sae.W_enc.data = sae.W_dec.data.T.contiguous()
            sae.b_enc.data = torch.full((2304,), -2.0)
        sae.save_model(str(root / f"L{layer}"))
        folders.append(str(root / f"L{layer}"))
    return folders
