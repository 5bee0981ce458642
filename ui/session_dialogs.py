"""The questions sessions ask (modal dialogs). The controller holds them as replaceable callables, so tests answer
them without a dialog."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from workbench.session import MissingFile
from workbench.session.io import SESSION_SUFFIX

FILE_FILTER = f"Sessions (*{SESSION_SUFFIX} *.json);;All files (*)"


def ask_unsaved(parent: QWidget, name: str) -> str:
    """ "save", "discard" or "cancel"."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved changes", f"Save the changes to {name}?", parent=parent)
    box.setInformativeText("Your changes are lost if you don't save them.")
    button = QMessageBox.StandardButton
    box.setStandardButtons(button.Save | button.Discard | button.Cancel)
    box.setDefaultButton(button.Save)
    box.exec()
    clicked = box.clickedButton()
    if clicked is box.button(button.Save):
        return "save"
    return "discard" if clicked is box.button(button.Discard) else "cancel"


def ask_open_path(parent: QWidget, folder: str) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Open session", folder, FILE_FILTER)
    return path or None


def ask_save_path(parent: QWidget, start: str) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, "Save session", start, FILE_FILTER)
    return path or None


def locate(parent: QWidget, missing: MissingFile) -> str | None:
    """A new path for a missing model / SAE, "" to open the session without it, None to cancel opening."""
    box = QMessageBox(QMessageBox.Icon.Question, "File not found", missing.message, parent=parent)
    box.setInformativeText("Locate it, or open the session without it?")
    find = box.addButton("Locate…", QMessageBox.ButtonRole.AcceptRole)
    without = box.addButton("Open without it", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    if box.clickedButton() is without:
        return ""
    if box.clickedButton() is not find:
        return None
    if missing.kind == "model" and missing.path.lower().endswith(".gguf"):
        path, _ = QFileDialog.getOpenFileName(parent, "Locate the model", "", "GGUF models (*.gguf)")
    else:
        what = "model folder" if missing.kind == "model" else f"SAE folder ({missing.key})"
        path = QFileDialog.getExistingDirectory(parent, f"Locate the {what}")
    return path or None
