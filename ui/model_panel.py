"""Model and SAE panel: choose and load a model (with progress and cancel), see its facts, manage SAEs (drop a
labels file on an SAE to import its labels)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QSignalBlocker, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.analysis.sae_quality import LOW_FVE
from workbench.document import Document, ModelChoice, Update
from workbench.errors import InputError
from workbench.models.device_map import EXAMPLE, describe_layer_devices, parse_max_memory
from workbench.models.protocol import ModelInfo
from workbench.models.registry import backend_names
from workbench.progress import Progress
from workbench.saes.loader import SaeSummary

LABEL_FILES = (".json", ".jsonl", ".csv")
MAX_MEMORY_HELP = (
    "torch backend: spread a model too big for one GPU over devices, with at most this much on each\n"
    f"(DEVICE=SIZE,…: {EXAMPLE}); empty: one device (2+ CUDA GPUs with device auto: all of them)"
)


def labels_file_in(mime: QMimeData) -> str | None:
    """The one local labels file (.json, .jsonl, .csv) a drag carries, if it carries exactly one."""
    paths = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []
    return paths[0] if len(paths) == 1 and Path(paths[0]).suffix.lower() in LABEL_FILES else None


class SaeList(QListWidget):
    """The loaded SAEs; a labels file dropped on one imports labels for it (`labelsDropped(path, sae key)`)."""

    labelsDropped = Signal(str, str)

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptDrops(True)

    def _target(self, event: QDragMoveEvent | QDropEvent) -> tuple[str, str] | None:
        """(labels file, SAE key): the SAE under the cursor, else the selected one, else the only one."""
        path = labels_file_in(event.mimeData())
        item = self.itemAt(event.position().toPoint()) or self.currentItem()
        if item is None and self.count() == 1:
            item = self.item(0)
        return (path, str(item.data(256))) if path is not None and item is not None else None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # Qt override
        if labels_file_in(event.mimeData()) is not None and self.count():
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # Qt override
        if self._target(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # Qt override
        target = self._target(event)
        if target is not None:
            event.acceptProposedAction()
            self.labelsDropped.emit(*target)


class ModelPanel(QWidget):
    loadRequested = Signal(str, str, str, str)  # spec, device, dtype, backend
    cancelRequested = Signal()
    addSaeRequested = Signal(str)
    removeSaeRequested = Signal(str)
    labelsDropped = Signal(str, str)  # labels file, sae key

    def __init__(self, document: Document | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document if document is not None else Document()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

        model_box = QGroupBox("Model")
        form = QFormLayout(model_box)
        self.spec = QComboBox()
        self.spec.setEditable(True)
        self.spec.addItem("default")
        self.spec.setToolTip("'default' (embedded SmolLM2-135M-Instruct), a model folder, a .gguf file or a hub id")
        browse = QPushButton("…")
        browse.setFixedWidth(28)
        browse.setToolTip("Choose a model folder or a GGUF file")
        browse.clicked.connect(self._browse_model)
        row = QHBoxLayout()
        row.addWidget(self.spec, 1)
        row.addWidget(browse)
        form.addRow("Source", row)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        self.device.setToolTip("auto picks CUDA, then Apple MPS, then the CPU")
        self.dtype = QComboBox()
        self.dtype.addItems(["auto", "float32", "bfloat16", "float16"])
        self.dtype.setToolTip("auto: bf16 on CUDA, fp16 on MPS, fp32 on the CPU")
        dev_row = QHBoxLayout()
        dev_row.addWidget(self.device)
        dev_row.addWidget(self.dtype)
        form.addRow("Device", dev_row)
        self.backend = QComboBox()
        self.backend.addItems(backend_names())
        self.backend.setToolTip(
            "torch: any model; add, clamp and ablate edits, and every analysis\n"
            "llama.cpp: GGUF files (and the embedded default) at llama.cpp speed; add edits only"
        )
        form.addRow("Backend", self.backend)
        self.max_memory = QLineEdit()
        self.max_memory.setPlaceholderText(f"one device (e.g. {EXAMPLE})")
        self.max_memory.setToolTip(MAX_MEMORY_HELP)
        form.addRow("Max memory", self.max_memory)
        # The model choice is the document's (an opened session sets it): the combos show it and send changes.
        self._show_choice(self.document.state.model)
        self.spec.currentTextChanged.connect(lambda _t: self._chosen())
        self.device.currentTextChanged.connect(lambda _t: self._chosen())
        self.dtype.currentTextChanged.connect(lambda _t: self._chosen())
        self.backend.currentTextChanged.connect(lambda _t: self._chosen())
        self.max_memory.editingFinished.connect(self._chosen)
        unsubscribe = self.document.subscribe(self._document_changed)
        self.destroyed.connect(lambda _o=None: unsubscribe())
        buttons = QHBoxLayout()
        self.load_button = QPushButton("Load")
        self.load_button.clicked.connect(self._request_load)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancelRequested)
        buttons.addWidget(self.load_button)
        buttons.addWidget(self.cancel_button)
        form.addRow(buttons)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        form.addRow(self.progress)
        self.facts = QLabel("no model loaded")
        self.facts.setWordWrap(True)
        self.facts.setObjectName("modelFacts")
        form.addRow(self.facts)
        layout.addWidget(model_box)

        sae_box = QGroupBox("SAEs")
        sae_layout = QVBoxLayout(sae_box)
        self.sae_list = SaeList()
        self.sae_list.setToolTip(
            "Loaded SAEs: layer, size, statistics status, and FVE where measured (Model > SAE quality…).\n"
            "Drop a labels file (Neuronpedia .json/.jsonl, or CSV feature,label) on an SAE to import its labels"
        )
        self.sae_list.setMaximumHeight(96)  # a few SAEs; the space below belongs to the edits
        self.sae_list.labelsDropped.connect(self.labelsDropped)
        sae_layout.addWidget(self.sae_list)
        sae_buttons = QHBoxLayout()
        add_folder = QPushButton("Add folder…")
        add_folder.clicked.connect(self._add_folder)
        add_release = QPushButton("Add release…")
        add_release.setToolTip("From the sae-lens registry: RELEASE:SAE_ID (needs the Hugging Face hub)")
        add_release.clicked.connect(self._add_release)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove)
        for b in (add_folder, add_release, self.remove_button):
            sae_buttons.addWidget(b)
        sae_layout.addLayout(sae_buttons)
        layout.addWidget(sae_box)
        layout.addStretch(1)
        self._saes: list[SaeSummary] = []
        self._measured: dict[tuple[str, str], tuple[float, str]] = {}  # (key, source) → FVE and its text
        self.set_loading(False)

    # -- outgoing -----------------------------------------------------------------------------------------------
    def _chosen(self) -> None:
        choice = ModelChoice(
            self.spec.currentText().strip(),
            self.device.currentText(),
            self.dtype.currentText(),
            self.backend.currentText(),
            self.max_memory.text().strip(),
        )
        self.document.set_model(choice)

    def _document_changed(self, update: Update) -> None:
        if "model" in update.changed:
            self._show_choice(update.after.model)

    def _show_choice(self, choice: ModelChoice) -> None:
        blockers = [QSignalBlocker(w) for w in (self.spec, self.device, self.dtype, self.backend, self.max_memory)]
        if self.spec.currentText().strip() != choice.spec:
            self.spec.setEditText(choice.spec)
        self.device.setCurrentText(choice.device)
        self.dtype.setCurrentText(choice.dtype)
        self.backend.setCurrentText(choice.backend)
        self.max_memory.setText(choice.max_memory)
        self.max_memory.setEnabled(choice.backend == "torch")  # llama.cpp places layers itself
        try:
            parse_max_memory(choice.max_memory)
            self.max_memory.setStyleSheet("")
            self.max_memory.setToolTip(MAX_MEMORY_HELP)
        except InputError as exc:  # shown here at once; the load would refuse it with the same line
            self.max_memory.setStyleSheet("border: 1px solid #c0392b")
            self.max_memory.setToolTip(str(exc))
        del blockers

    def _request_load(self) -> None:
        choice = self.document.state.model
        self.loadRequested.emit(choice.spec or "default", choice.device, choice.dtype, choice.backend)

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a GGUF file or a model's config.json", "", "Models (*.gguf config.json)"
        )
        if path:
            self.spec.setEditText(path[: -len("/config.json")] if path.endswith("config.json") else path)

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a sae-lens SAE folder")
        if folder:
            self.addSaeRequested.emit(folder)

    def _add_release(self) -> None:
        text, ok = QInputDialog.getText(self, "Add SAE from the sae-lens registry", "RELEASE:SAE_ID")
        if ok and text.strip():
            self.addSaeRequested.emit(text.strip())

    def _remove(self) -> None:
        item = self.sae_list.currentItem()
        if item is not None:
            self.removeSaeRequested.emit(item.data(256))

    # -- incoming -----------------------------------------------------------------------------------------------
    def set_loading(self, loading: bool) -> None:
        self.load_button.setEnabled(not loading)
        self.cancel_button.setEnabled(loading)

    def show_progress(self, p: Progress) -> None:
        if p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
        else:
            self.progress.setRange(0, 0)  # busy indicator
        self.progress.setFormat(p.phase)

    def show_model(self, info: ModelInfo) -> None:
        mem = info.memory_bytes / 2**20
        self.facts.setText(
            f"<b>{info.name}</b><br>{info.n_layers} layers · d_model {info.d_model} · vocab {info.vocab_size}<br>"
            f"{info.parameters / 1e6:.0f} M parameters · {mem:.0f} MiB<br>"
            f"<b>{info.backend}</b> backend · {info.device} · "
            + ("GGUF weights" if info.backend == "llama.cpp" else info.dtype)  # it computes in the GGUF's types
            + (f"<br>blocks on {describe_layer_devices(info.layer_devices)}" if info.spread else "")
        )
        self.facts.setToolTip(f"weights: {info.path}")

    def show_saes(self, saes: list[SaeSummary]) -> None:
        current = self.sae_list.currentItem()
        chosen = current.data(256) if current is not None else None
        self._saes = list(saes)
        self.sae_list.clear()
        for s in saes:
            stats = "statistics ✓" if s.has_statistics else "no statistics"
            fve = self._measured.get((s.key, s.source)) or s.known_fve
            badge = f"FVE {fve[0]:.2f}  ·  " if fve is not None else ""  # early in the line: the list is narrow
            item = QListWidgetItem(f"{s.key}  ·  layer {s.layer}  ·  {badge}{s.d_sae} features  ·  {stats}")
            tip = f"{s.source}\n{s.architecture}, hook {s.hook_name}"
            if fve is not None:
                tip += f"\nFVE {fve[0]:.3f} (massive tokens left out), measured on {fve[1]}"
                if fve[0] < LOW_FVE:  # the quality panel's warning, in short: this SAE does not fit the model
                    item.setForeground(QColor("#b03a2e"))
            item.setToolTip(tip)
            item.setData(256, s.key)
            self.sae_list.addItem(item)
            if s.key == chosen:
                self.sae_list.setCurrentItem(item)

    def show_measured_fve(self, key: str, fve: float, measured_on: str) -> None:
        """A quality run of this session measured the SAE `key`: its badge shows that figure from now on."""
        source = next((s.source for s in self._saes if s.key == key), None)
        if source is not None:
            self._measured[(key, source)] = (fve, measured_on)
            self.show_saes(self._saes)

    def show_gone(self, message: str) -> None:
        """The model process died: no model and no SAE is loaded any more, whatever was shown."""
        self.facts.setText("no model loaded")
        self.facts.setToolTip("")
        self._saes = []
        self.sae_list.clear()
        self.idle(message)

    def idle(self, message: str = "idle") -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if message == "ready" else 0)
        self.progress.setFormat(message)
        self.set_loading(False)
