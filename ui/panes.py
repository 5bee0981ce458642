"""Side-by-side generation panes: one per variant, streaming token by token, with a word diff vs the baseline.

Tokens arrive at the model's pace (up to ~100 per second per pane with llama.cpp); the panes buffer them and
append to their text at most ~30 times a second, so a fast model cannot flood the GUI thread with layouts.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSplitter, QTextEdit, QVBoxLayout, QWidget

from workbench.analysis.diff import word_diff
from workbench.models.generation import GenerationResult, PaneResult, TokenEvent

FLUSH_MS = 33  # ≤ 30 text updates per second


class GenerationPane(QFrame):
    activated = Signal(int)  # pane index (for the heatmap's pane choice)

    def __init__(self, index: int, name: str, edits: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        header = QHBoxLayout()
        self.title = QLabel()
        self.rate = QLabel("")
        self.rate.setObjectName("paneRate")
        self.badge = QLabel("")
        self.badge.setObjectName("warningBadge")
        self.badge.setVisible(False)
        header.addWidget(self.title)
        header.addStretch(1)
        header.addWidget(self.badge)
        header.addWidget(self.rate)
        layout.addLayout(header)
        self.edits = QLabel()
        self.edits.setObjectName("paneEdits")
        self.edits.setWordWrap(True)
        layout.addWidget(self.edits)
        self.text = QTextEdit()
        self.text.setReadOnly(True)
        layout.addWidget(self.text, 1)
        self.plain = ""
        self._pending: list[str] = []
        self.start(index, name, edits)

    def start(self, index: int, name: str, edits: str) -> None:
        """Empty the pane for a new run (panes are reused between runs: building widgets costs more)."""
        self.index = index
        self.title.setText(f"<b>{html.escape(name)}</b>")
        self.edits.setText(html.escape(edits) if edits else "<i>no edits</i>")
        self.rate.setText("")
        self.badge.setVisible(False)
        self.text.clear()
        self.text.setToolTip("")
        self.plain = ""
        self._pending = []

    def append(self, piece: str) -> None:
        """Queue a piece of text; `flush` shows it."""
        self.plain += piece
        self._pending.append(piece)

    def flush(self) -> None:
        if not self._pending:
            return
        piece, self._pending = "".join(self._pending), []
        cursor = self.text.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText(piece)  # an append: the document is not laid out again from the start

    def finish(self, pane: PaneResult, baseline: str | None) -> None:
        self._pending = []
        self.plain = pane.text
        self.rate.setText(f"{len(pane.token_ids)} tok · {pane.tokens_per_s:.1f} tok/s · {pane.finish_reason}")
        flagged = [f.edit.describe() for f in pane.edits_fired if f.flagged]
        self.badge.setVisible(bool(flagged))
        if flagged:
            self.badge.setText("⚠ edit changed nothing")
            self.badge.setToolTip(
                "These edits changed no position (zero strength, or a feature that never fired):\n" + "\n".join(flagged)
            )
        if baseline is None:
            self.text.setPlainText(pane.text)
            return
        parts = []
        for span in word_diff(baseline, pane.text):
            text = html.escape(span.text).replace("\n", "<br>")
            parts.append(f'<span style="background-color:rgba(255,170,0,0.35)">{text}</span>' if span.changed else text)
        self.text.setHtml("".join(parts))
        self.text.setToolTip("Highlighted: words that differ from the baseline")


class PanesView(QSplitter):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panes: list[GenerationPane] = []
        self.setChildrenCollapsible(False)
        self._flush = QTimer(self)
        self._flush.setInterval(FLUSH_MS)
        self._flush.setSingleShot(True)
        self._flush.timeout.connect(self.flush)

    def reset(self, names: list[str], edits: list[str]) -> None:
        """One pane per variant, emptied; existing panes are reused, extra ones removed, missing ones built."""
        self._flush.stop()
        for pane in self.panes[len(names) :]:
            pane.setParent(None)
            pane.deleteLater()
        resized = len(self.panes) != len(names)
        del self.panes[len(names) :]
        for i, (name, edit) in enumerate(zip(names, edits, strict=True)):
            if i < len(self.panes):
                self.panes[i].start(i, name, edit)
            else:
                self.panes.append(GenerationPane(i, name, edit))
                self.addWidget(self.panes[-1])
        if resized:
            self.setSizes([1000] * len(self.panes))

    def on_tokens(self, event: TokenEvent) -> None:
        for pane, piece in zip(self.panes, event.texts, strict=False):
            if piece:
                pane.append(piece)
        if not self._flush.isActive():  # show at once, then at most once per FLUSH_MS
            self.flush()
            self._flush.start()

    def flush(self) -> None:
        """Show the text that arrived since the last flush, in every pane."""
        for pane in self.panes:
            pane.flush()

    def on_finished(self, result: GenerationResult) -> None:
        self._flush.stop()
        baseline = result.panes[0].text if result.panes else None
        for i, (pane, data) in enumerate(zip(self.panes, result.panes, strict=False)):
            pane.finish(data, None if i == 0 else baseline)

    def texts(self) -> list[str]:
        return [p.plain for p in self.panes]
