"""Check a sae-lens SAE folder's files before sae-lens reads them, so a bad folder gets one line that says what
is wrong (which file, which field or tensor, what was expected) instead of sae-lens's or torch's inner error.

Reads `cfg.json` and the safetensors *header* only (a few kilobytes, no torch): sizes, architecture, tensor
shapes and dtypes, and whether the file holds every byte its header promises. Values (NaN, Inf) are checked
after the load, on the tensors (workbench/saes/loader.py).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from workbench.errors import SaeLoadError

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
MAX_CFG_BYTES = 1 << 20  # a sae-lens cfg.json is a few hundred bytes; anything near this is not one
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit on its JSON header
# Bytes per element of each safetensors dtype; float ones are those an SAE's weights may be stored in.
DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U64": 8,
    "U32": 4,
    "U16": 2,
    "U8": 1,
    "BOOL": 1,
}
FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16"})
FIRST_V6 = (6, 0, 0)  # sae-lens 6 configs name their architecture; older ones default to "standard"


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int  # byte offsets in the data section, as the header states them
    end: int


@dataclass(frozen=True)
class SaeConfig:
    """A cfg.json that passed the checks: as read, and the facts the app relies on."""

    cfg: dict[str, Any]
    d_in: int
    d_sae: int
    architecture: str
    hook_name: str | None  # None: the config names none (the loader says so with its own line)
    model_names: tuple[str, ...]  # what the config calls the model it was trained on (metadata, top level)


@dataclass(frozen=True)
class SaeFiles:
    """A folder whose files passed the checks: its config and its tensors' header entries."""

    config: SaeConfig
    tensors: dict[str, TensorEntry]


def check_sae_folder(folder: Path, architectures: Collection[str] | None = None) -> SaeFiles:
    """Read and check `folder`'s cfg.json and weights header; SaeLoadError with one line for the first fault.

    `architectures` are the names sae-lens can build (None: not checked)."""
    config = read_config(folder, architectures)
    tensors = read_tensor_header(folder / WEIGHTS_FILE)
    check_shapes(tensors, config.d_in, config.d_sae, folder)
    return SaeFiles(config, tensors)


def read_config(folder: Path, architectures: Collection[str] | None = None) -> SaeConfig:
    """`folder`'s cfg.json, checked: positive sizes, a known architecture, a hook name that is a string."""
    cfg = read_cfg(folder)
    d_in = _size(cfg, "d_in", "the width of the residual stream it reads", folder)
    d_sae = _size(cfg, "d_sae", "its number of features", folder)
    architecture = _architecture(cfg, folder, architectures)
    metadata = cfg.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise SaeLoadError(f"{folder / CFG_FILE}: metadata must be an object, not {_kind(metadata)}")
    metadata = metadata or {}
    hook = metadata.get("hook_name", cfg.get("hook_name", cfg.get("hook_point")))
    if hook is not None and not isinstance(hook, str):
        raise SaeLoadError(f"{folder / CFG_FILE}: hook_name must be a string such as 'blocks.8.hook_resid_post'")
    models = tuple(str(n) for n in (metadata.get("model_name"), cfg.get("model_name")) if n)
    return SaeConfig(cfg, d_in, d_sae, architecture, hook or None, models)


def read_cfg(folder: Path) -> dict[str, Any]:
    """The folder's cfg.json as a dict (UTF-8, a BOM allowed); one line for a missing, huge or garbled file."""
    path = folder / CFG_FILE
    if not path.is_file():
        raise SaeLoadError(f"{folder} is not a sae-lens SAE folder (no {CFG_FILE})")
    try:
        size = path.stat().st_size
        if size > MAX_CFG_BYTES:
            raise SaeLoadError(f"{path} is {size / 1e6:.1f} MB: not a sae-lens config (those are a few hundred bytes)")
        raw = path.read_bytes()
    except OSError as exc:
        raise SaeLoadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not raw.strip():
        raise SaeLoadError(f"{path} is empty: the SAE's settings (d_in, d_sae, architecture) are missing")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SaeLoadError(f"{path} is not UTF-8 text (byte {exc.start}): not a sae-lens config") from exc
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SaeLoadError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from exc
    except RecursionError as exc:
        raise SaeLoadError(f"{path} is not a sae-lens config (JSON nested too deep to read)") from exc
    if not isinstance(cfg, dict):
        raise SaeLoadError(f"{path} holds {_kind(cfg)}, not an object of SAE settings (d_in, d_sae, architecture)")
    return cfg


def read_tensor_header(path: Path) -> dict[str, TensorEntry]:
    """The tensors a safetensors file declares, checked against the file's size: one line for an empty,
    truncated, padded or garbled file."""
    if not path.is_file():
        raise SaeLoadError(f"{path.parent} has {CFG_FILE} but no {path.name} (the SAE's weights)")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            prefix = f.read(8)
            n = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else -1
            raw = f.read(n) if 0 <= n <= min(MAX_HEADER_BYTES, size - 8) else b""
    except OSError as exc:
        raise SaeLoadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise SaeLoadError(f"{path} is empty (0 bytes): the SAE's weights are missing")
    if n < 0:
        raise SaeLoadError(f"{path} is truncated ({size} bytes): not even its header length is there")
    if n > MAX_HEADER_BYTES:
        raise SaeLoadError(f"{path} is not a safetensors file (its first 8 bytes are not a header length)")
    if n > size - 8:
        raise SaeLoadError(f"{path} is truncated: its header needs {n} bytes, the file has {size - 8} after the length")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SaeLoadError(f"{path} is damaged or not a safetensors file (its header is not JSON)") from exc
    if not isinstance(header, dict):
        raise SaeLoadError(f"{path} is damaged or not a safetensors file (its header is not a JSON object)")
    tensors = {name: _entry(path, name, spec) for name, spec in header.items() if name != "__metadata__"}
    if not tensors:
        raise SaeLoadError(f"{path} holds no tensors")
    data = size - 8 - n
    needed = max(t.end for t in tensors.values())
    if needed > data:
        raise SaeLoadError(
            f"{path} is truncated: its tensors need {needed} bytes, the file holds {data} (copy it again)"
        )
    if needed < data:
        raise SaeLoadError(f"{path} is damaged: {data - needed} bytes after its last tensor (copy it again)")
    return tensors


def _entry(path: Path, name: str, spec: Any) -> TensorEntry:
    bad = SaeLoadError(f"{path} is damaged: the header's entry for tensor {name!r} is not a dtype, shape and offsets")
    if not isinstance(spec, dict):
        raise bad
    dtype, shape, offsets = spec.get("dtype"), spec.get("shape"), spec.get("data_offsets")
    if not isinstance(dtype, str) or not _ints(shape) or not _ints(offsets) or len(offsets) != 2:
        raise bad
    if dtype not in DTYPE_BYTES:
        raise SaeLoadError(f"{path}: tensor {name!r} has dtype {dtype[:20]!r}, which this app cannot read")
    start, end = offsets
    if any(d < 0 for d in shape) or not 0 <= start <= end:
        raise bad
    if end - start != math.prod(shape) * DTYPE_BYTES[dtype]:
        raise SaeLoadError(f"{path} is damaged: tensor {name!r} of shape {tuple(shape)} does not fill its bytes")
    return TensorEntry(name, dtype, tuple(shape), start, end)


def check_shapes(tensors: dict[str, TensorEntry], d_in: int, d_sae: int, folder: Path) -> None:
    """The encoder, decoder and biases (where the architecture has them) must match cfg.json's sizes."""
    expected = {"W_enc": (d_in, d_sae), "W_dec": (d_sae, d_in), "b_enc": (d_sae,), "b_dec": (d_in,)}
    if "W_dec" not in tensors:
        raise SaeLoadError(f"{folder / WEIGHTS_FILE} has no W_dec tensor (the decoder every steer uses)")
    for name, shape in expected.items():
        entry = tensors.get(name)
        if entry is None:
            continue
        if entry.dtype not in FLOAT_DTYPES:
            raise SaeLoadError(f"{folder / WEIGHTS_FILE}: {name} holds {entry.dtype} values, not floating point")
        if entry.shape != shape:
            raise SaeLoadError(
                f"{folder / WEIGHTS_FILE}: {name} has shape {_shape(entry.shape)}, but {CFG_FILE} "
                f"(d_in {d_in}, d_sae {d_sae}) needs {_shape(shape)}"
            )


def _size(cfg: dict[str, Any], key: str, meaning: str, folder: Path) -> int:
    if key not in cfg:
        raise SaeLoadError(f"{folder / CFG_FILE} does not give {key} ({meaning})")
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SaeLoadError(f"{folder / CFG_FILE}: {key} must be a positive whole number, not {_brief(value)}")
    return value


def _architecture(cfg: dict[str, Any], folder: Path, known: Collection[str] | None) -> str:
    value = cfg.get("architecture")
    if value is None:
        if _sae_lens_version(cfg) >= FIRST_V6:
            raise SaeLoadError(f"{folder / CFG_FILE} does not name its architecture (e.g. 'standard', 'topk')")
        return "standard"  # what sae-lens assumes for a config written before version 6
    if not isinstance(value, str):
        raise SaeLoadError(f"{folder / CFG_FILE}: architecture must be a name such as 'topk', not {_brief(value)}")
    if known is not None and value not in known:
        raise SaeLoadError(
            f"{folder / CFG_FILE}: unknown SAE architecture {value[:40]!r} (this sae-lens reads "
            f"{', '.join(sorted(known))})"
        )
    return value


def _sae_lens_version(cfg: dict[str, Any]) -> tuple[int, ...]:
    """The sae-lens version that wrote the config, as numbers ((0,) when it says none or nothing readable)."""
    metadata = cfg.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    text = cfg.get("sae_lens_version") or metadata.get("sae_lens_version")
    if not isinstance(text, str):
        return (0,)
    numbers = []
    for part in text.split(".")[:3]:
        digits = "".join(c for c in part[:9] if c.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        numbers.append(int(digits))
    return tuple(numbers) or (0,)


def _ints(value: Any) -> TypeGuard[list[int]]:
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def _shape(shape: tuple[int, ...]) -> str:
    return str(tuple(shape))


def _kind(value: Any) -> str:
    names = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _brief(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "…"
