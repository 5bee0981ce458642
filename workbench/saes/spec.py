"""What SAE the user asked for: a local sae-lens folder, or `RELEASE:SAE_ID` from the sae-lens registry."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from workbench.errors import SaeLoadError


class SaeSource(StrEnum):
    FOLDER = "folder"
    REGISTRY = "registry"


@dataclass(frozen=True)
class SaeSpec:
    source: SaeSource
    location: str  # the folder, or the release name
    sae_id: str | None = None

    @classmethod
    def parse(cls, text: str) -> SaeSpec:
        text = text.strip()
        if not text:
            raise SaeLoadError("empty SAE specification")
        path = Path(text).expanduser()
        if path.exists():
            if not path.is_dir():
                raise SaeLoadError(f"{path} is a file; an SAE is a sae-lens folder (cfg.json + weights)")
            return cls(SaeSource.FOLDER, str(path.resolve()))
        release, sep, sae_id = text.partition(":")
        # A colon after a single drive letter is a Windows path, not RELEASE:SAE_ID.
        if sep and release and sae_id and len(release) > 1:
            return cls(SaeSource.REGISTRY, release, sae_id)
        raise SaeLoadError(f"SAE folder not found: {text} (or give RELEASE:SAE_ID from the sae-lens registry)")

    def describe(self) -> str:
        """Folder path, or `release:sae_id` — the `source` the CLI and sessions report."""
        return self.location if self.source is SaeSource.FOLDER else f"{self.location}:{self.sae_id}"
