"""The shape the codebase keeps: small modules and classes, a core that a newcomer can read one job at a time."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250
SOURCES = sorted(p for package in ("workbench", "ui") for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_classes_stay_small(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.name}: split it by job"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= MAX_CLASS_LINES, f"{path.name}: class {node.name} has {length} lines"


def test_the_size_check_sees_the_tree():
    # A wrong root would make the check above pass on nothing.
    assert any(p.name == "engine.py" for p in SOURCES) and any(p.name == "main_window.py" for p in SOURCES)
