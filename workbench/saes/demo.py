"""The demo SAEs shipped in `resources/saes/` for the embedded SmolLM2 model."""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEMO_PREFIX = "smollm2-135m-L"


def resources_dir() -> Path:
    """The `resources/` folder: `STEERING_WORKBENCH_RESOURCES` if set; else the source tree's (a checkout or an
    editable install, so retrained SAEs are picked up at once); else the copy an installed wheel put in
    `<prefix>/share/steering-workbench/resources` (pyproject's data-files); else a PyInstaller bundle's."""
    override = os.environ.get("STEERING_WORKBENCH_RESOURCES")
    if override:
        return Path(override)
    candidates = [
        Path(__file__).resolve().parents[2] / "resources",
        Path(sys.prefix) / "share" / "steering-workbench" / "resources",
        Path(getattr(sys, "_MEIPASS", sys.prefix)) / "resources",
    ]
    return next((c for c in candidates if (c / "saes").is_dir()), candidates[0])


def demo_sae_folder(layer: int) -> Path:
    return resources_dir() / "saes" / f"{DEMO_PREFIX}{layer}"


def demo_sae_folders() -> list[Path]:
    """Shipped SAE folders (those with weights), ordered by layer."""
    root = resources_dir() / "saes"
    if not root.is_dir():
        return []
    found = [p for p in root.glob(f"{DEMO_PREFIX}*") if (p / "cfg.json").is_file()]
    return sorted(found, key=lambda p: int(p.name.removeprefix(DEMO_PREFIX)))
