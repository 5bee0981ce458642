"""Side-by-side generation panes: one per variant, streaming token by token, with a word diff vs the baseline."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSplitter, QTextEdit, QVBoxLayout, QWidget

from workbench.analysis.diff import word_diff
from workbench.models.generation import GenerationResult, PaneResult, TokenEvent


class GenerationPane(QFrame):
    activated = Signal(int)  # pane index (for the heatmap's pane choice)

    def __init__(self, index: int, name: str, edits: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        header = QHBoxLayout()
        self.title = QLabel(f"<b>{html.escape(name)}</b>")
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
        self.edits = QLabel(html.escape(edits) if edits else "<i>no edits</i>")
        self.edits.setObjectName("paneEdits")
        self.edits.setWordWrap(True)
        layout.addWidget(self.edits)
        self.text = QTextEdit()
        self.text.setReadOnly(True)
        layout.addWidget(self.text, 1)
        self.plain = ""

    def append(self, piece: str) -> None:
        self.plain += piece
        cursor = self.text.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText(piece)

    def finish(self, pane: PaneResult, baseline: str | None) -> None:
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

    def reset(self, names: list[str], edits: list[str]) -> None:
        for pane in self.panes:
            pane.setParent(None)
            pane.deleteLater()
        self.panes = [GenerationPane(i, n, e) for i, (n, e) in enumerate(zip(names, edits, strict=True))]
        for pane in self.panes:
            self.addWidget(pane)
        self.setSizes([1000] * len(self.panes))

    def on_tokens(self, event: TokenEvent) -> None:
        for pane, piece in zip(self.panes, event.texts, strict=False):
            if piece:
                pane.append(piece)

    def on_finished(self, result: GenerationResult) -> None:
        baseline = result.panes[0].text if result.panes else None
        for i, (pane, data) in enumerate(zip(self.panes, result.panes, strict=False)):
            pane.finish(data, None if i == 0 else baseline)

    def texts(self) -> list[str]:
        return [p.plain for p in self.panes]
