"""sha256 of weight files, streamed, and cached by (path, size, modification time).

Hashing the embedded 98 MB GGUF takes a few tenths of a second; the UI's autosave records a session often, so
digests are kept in memory and in the cache folder and recomputed only when the file changes.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

from workbench.paths import cache_dir

_BLOCK = 1 << 20
_memo: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """The file's sha256 (hex), from the cache when its size and modification time are unchanged."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _memo:
        return _memo[key]
    slot = _cache_slot(key)
    with contextlib.suppress(OSError):
        cached = slot.read_text(encoding="ascii").strip()
        if len(cached) == 64:
            _memo[key] = cached
            return cached
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    value = digest.hexdigest()
    _memo[key] = value
    with contextlib.suppress(OSError):  # a read-only cache only costs the next hash
        slot.parent.mkdir(parents=True, exist_ok=True)
        tmp = slot.with_name(slot.name + ".tmp")
        tmp.write_text(value, encoding="ascii")
        tmp.replace(slot)
    return value


def files_sha256(paths: list[Path]) -> str:
    """One digest over several files: the sha256 of their names and digests, in name order."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        digest.update(f"{path.name}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.gguf", "*.pt", "*.pth")


def folder_weights_sha256(folder: str | Path) -> str | None:
    """The digest of a model folder's weight files (None when it has none we recognise)."""
    folder = Path(folder)
    files = [p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern) if p.is_file()]
    return files_sha256(files) if files else None


def sae_folder_sha256(folder: str | Path) -> str:
    """The digest of a sae-lens folder: its weights and cfg.json (the config changes how weights are read)."""
    folder = Path(folder)
    files = [p for p in folder.glob("*.safetensors") if p.is_file()]
    cfg = folder / "cfg.json"
    if cfg.is_file():
        files.append(cfg)
    return files_sha256(files)


def _cache_slot(key: tuple[str, int, int]) -> Path:
    name = hashlib.sha256(f"{key[0]}|{key[1]}|{key[2]}".encode()).hexdigest()[:32]
    return cache_dir() / "hashes" / f"{name}.sha256"
