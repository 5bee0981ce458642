"""Where the app keeps its files: platformdirs folders, never the package folder (read-only when frozen)."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "steering-workbench"


def cache_dir() -> Path:
    """Converted model weights and computed statistics; safe to delete. `STEERING_WORKBENCH_CACHE` overrides."""
    override = os.environ.get("STEERING_WORKBENCH_CACHE")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """User data (sessions, autosaves). `STEERING_WORKBENCH_DATA` overrides."""
    override = os.environ.get("STEERING_WORKBENCH_DATA")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
