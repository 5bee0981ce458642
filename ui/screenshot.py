"""`steering-workbench --screenshot PATH`: load the default model and SAEs offscreen, run a steered demo and a
heatmap, save a PNG of the whole window, print the longest GUI stall, and quit."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from ui.main_window import MainWindow
from ui.stall import StallMeter
from workbench.steering.plan import StrengthUnit

DEMO_PROMPT = "Describe your ideal holiday in three sentences."
# (preferred layer, label word, strength in × residual norm, pane name): features found by their atlas labels.
DEMO_EDITS = ((15, "ocean", 0.25, "ocean @L15"), (8, "sea", 0.3, "sea @L8"))
TIMEOUT_MS = 15 * 60 * 1000


class ScreenshotDemo(QObject):
    def __init__(self, window: MainWindow, path: Path) -> None:
        super().__init__(window)
        self.window, self.path = window, path
        self.meter = StallMeter(self)
        self.exit_code = 1
        self._steered = False
        self._inspected = False
        self.found: dict[str, list] = {}
        self.saes: list = []
        window.worker.saesChanged.connect(self._saes_ready)
        window.worker.heatmapReady.connect(self._heatmap_ready)
        window.worker.failed.connect(self._failed)
        QTimer.singleShot(TIMEOUT_MS, lambda: self._finish("timed out"))

    def start(self) -> None:
        self.meter.phase = "model load"
        self.meter.start()
        self.window.load_model()

    def _saes_ready(self, saes: list) -> None:
        if self._steered or len(saes) < len(self.window.default_saes) or not saes:
            return
        self._steered = True
        self.meter.phase = "generation + heatmap"
        self.saes = saes
        # Find the demo features by their atlas labels, so the demo survives retrained SAEs.
        self.window.worker.searchReady.connect(self._found)
        self.window.worker.search(DEMO_EDITS[0][1])

    def _found(self, query: str, hits: list) -> None:
        self.found[query] = hits
        pending = [q for _layer, q, _s, _n in DEMO_EDITS if q not in self.found]
        if pending:
            self.window.worker.search(pending[0])
            return
        w = self.window
        w.generation.prompt.setPlainText(DEMO_PROMPT)
        w.generation.max_tokens.setValue(40)
        w.generation.temperature.setValue(0.0)
        steering = w.steering
        added = 0
        for layer, query, strength, name in DEMO_EDITS:
            hits = sorted(self.found[query], key=lambda h: h[1] != layer)  # stable: keeps the label ranking
            if not hits:
                continue
            key, _layer, feature, _label = hits[0]
            if added:
                steering.add_variant()
            steering.add_feature(key, feature, strength=strength, unit=StrengthUnit.RESID)
            steering.variant_list.item(steering.selected).setText(name)
            added += 1
        if not added:  # SAEs without atlases: steer a feature by id
            steering.add_feature(self.saes[0].key, 11, strength=0.3, unit=StrengthUnit.RESID)
        QTimer.singleShot(0, w.generate)

    def _heatmap_ready(self, data: object) -> None:
        if self._inspected:
            return
        self._inspected = True
        # Open the strongest feature of the heatmap in the inspector, as a click on its cell would.
        self.window.worker.inspect(data.sae_key, data.features[0])  # type: ignore[attr-defined]
        self.window.worker.cardReady.connect(lambda _c: QTimer.singleShot(1000, lambda: self._finish(None)))

    def _failed(self, what: str, message: str) -> None:
        print(f"{what} failed: {message}", file=sys.stderr)

    def _finish(self, problem: str | None) -> None:
        self.meter.stop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        saved = self.window.grab().save(str(self.path))
        print(f"gui max stall ms: {self.meter.max_stall_ms:.1f}")
        for phase, stall in self.meter.phase_max.items():
            print(f"  during {phase}: {stall:.1f}")
        if problem:
            print(f"screenshot demo {problem}", file=sys.stderr)
        self.exit_code = 0 if saved and problem is None else 1
        self.window.close()
        QApplication.instance().exit(self.exit_code)  # type: ignore[union-attr]


def fallback_saes() -> list[str]:
    """Random sae-lens SAEs at layers 8 and 15, used only until the demo SAEs ship."""
    import torch
    from sae_lens import StandardSAE, StandardSAEConfig

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
