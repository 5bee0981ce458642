"""The demo SAEs shipped in `resources/saes/` for the embedded SmolLM2 model."""

from __future__ import annotations

import os
from pathlib import Path

DEMO_PREFIX = "smollm2-135m-L"


def resources_dir() -> Path:
    """The `resources/` folder (next to the package; `STEERING_WORKBENCH_RESOURCES` overrides, e.g. when frozen)."""
    override = os.environ.get("STEERING_WORKBENCH_RESOURCES")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "resources"


def demo_sae_folder(layer: int) -> Path:
    return resources_dir() / "saes" / f"{DEMO_PREFIX}{layer}"


def demo_sae_folders() -> list[Path]:
    """Shipped SAE folders (those with weights), ordered by layer."""
    root = resources_dir() / "saes"
    if not root.is_dir():
        return []
    found = [p for p in root.glob(f"{DEMO_PREFIX}*") if (p / "cfg.json").is_file()]
    return sorted(found, key=lambda p: int(p.name.removeprefix(DEMO_PREFIX)))
