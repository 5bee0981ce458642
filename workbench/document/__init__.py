"""The document: a session's editable state in one Qt-free object, changed only through commands (each applies
and undoes itself and names itself for the Edit menu), observed by the window's widgets, read by save and
autosave."""

from workbench.document.commands import Command, Compound, SetChat, SetPrompt, SetSetting
from workbench.document.document import FILE, HISTORY, Document, Update
from workbench.document.plan_commands import (
    AddEdit,
    AddVariant,
    DuplicateVariant,
    RemoveEdit,
    RemoveVariant,
    RenameVariant,
    SetEdit,
)
from workbench.document.records import SessionRecords
from workbench.document.state import DocumentState, Inputs, ModelChoice, ShownRun

__all__ = [
    "FILE",
    "HISTORY",
    "AddEdit",
    "AddVariant",
    "Command",
    "Compound",
    "Document",
    "DocumentState",
    "DuplicateVariant",
    "Inputs",
    "ModelChoice",
    "RemoveEdit",
    "RemoveVariant",
    "RenameVariant",
    "SessionRecords",
    "SetChat",
    "SetEdit",
    "SetPrompt",
    "SetSetting",
    "ShownRun",
    "Update",
]
