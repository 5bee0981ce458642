"""Feature labels from elsewhere: a Neuronpedia export or a CSV, imported for one SAE and kept with the user's data.

Imported labels are stored per SAE, keyed by the SAE's fingerprint (the digest of its weights, see
workbench/saes/loader.py), in `data_dir()/labels/<fingerprint>.json`: loading the same SAE again, from any
folder, finds them; a retrained SAE (new weights) does not inherit labels that described other features.

Accepted files:
- Neuronpedia exports: a JSON list (or JSONL, or an object holding the list under "explanations") of records with
  `modelId`, `layer` (or `saeId`, e.g. "8-res-jb"), `index` and `description`;
- CSV `feature,label` (a header row is optional).
A file whose records name another model, or only other layers, is refused with one line. Rows whose index is out
of range, rows for other layers in a mixed file, blank labels and unreadable rows are counted and reported:
nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import InputError
from workbench.files import atomic_write_text, make_folder
from workbench.paths import data_dir
from workbench.textfile import read_user_text

LABELS_VERSION = 1
MAX_FILE_BYTES = 512_000_000  # explanations for a million features fit; a larger export holds activations too
_LAYER_IN_ID = (re.compile(r"^(\d+)(?:-|$)"), re.compile(r"(?:blocks|layers)\.(\d+)(?:\.|$)"))


@dataclass(frozen=True)
class SaeIdentity:
    """What an import checks a file against: which SAE (fingerprint), where it reads, and for which model."""

    fingerprint: str
    layer: int
    d_sae: int
    model_names: tuple[str, ...]  # names the model goes by (the loaded model's, the SAE config's model_name)
    description: str  # the SAE as the user named it, for messages


@dataclass(frozen=True)
class LabelRow:
    index: int
    label: str
    model: str = ""  # the record's modelId ("" = not stated)
    layer: int | None = None  # the layer the record names (None = not stated or not readable)


@dataclass(frozen=True)
class LabelImport:
    """The outcome of one import, every row accounted for."""

    imported: int
    out_of_range: tuple[int, ...]
    other_layers: int
    blank: int
    unreadable: int
    stored_at: str
    d_sae: int
    layer: int
    skipped_layers: tuple[int, ...] = field(default=())

    def summary(self) -> str:
        """One line: how many labels were kept, and every kind of row that was not."""
        parts = [f"imported {self.imported} labels for layer {self.layer}"]
        if self.out_of_range:
            shown = ", ".join(str(i) for i in self.out_of_range[:5]) + (" …" if len(self.out_of_range) > 5 else "")
            parts.append(f"{len(self.out_of_range)} rows out of range (features 0–{self.d_sae - 1}): {shown}")
        if self.other_layers:
            layers = ", ".join(str(n) for n in self.skipped_layers)
            parts.append(f"{self.other_layers} rows for other layers ({layers}) skipped")
        if self.blank:
            parts.append(f"{self.blank} rows with an empty label skipped")
        if self.unreadable:
            parts.append(f"{self.unreadable} unreadable rows skipped")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "imported": self.imported,
            "out_of_range": list(self.out_of_range),
            "other_layers": self.other_layers,
            "blank": self.blank,
            "unreadable": self.unreadable,
            "stored_at": self.stored_at,
        }


# -- reading files ------------------------------------------------------------------------------------------
def read_label_file(path: Path) -> tuple[list[LabelRow], int]:
    """(rows, unreadable row count) of a Neuronpedia JSON / JSONL export or a `feature,label` CSV."""
    text = read_user_text(path, "labels file", MAX_FILE_BYTES)
    if not text.strip():
        raise InputError(f"{path} is empty: no labels to import")
    looks_json = path.suffix.lower() in (".json", ".jsonl") or text.lstrip()[:1] in "[{"
    rows, unreadable = _json_rows(text, path) if looks_json else _csv_rows(text, path)
    if not rows and not unreadable:
        raise InputError(f"{path} holds no labels")
    return rows, unreadable


def _json_rows(text: str, path: Path) -> tuple[list[LabelRow], int]:
    try:
        data: Any = json.loads(text)
        records = data if isinstance(data, list) else _records_in(data, path)
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deep to read") from None
    except json.JSONDecodeError:
        # JSONL: one record per line (Neuronpedia's bulk exports); a bad line is counted, not fatal.
        records = []
        for line in text.splitlines():
            if line.strip():
                try:
                    records.append(json.loads(line))
                except (json.JSONDecodeError, RecursionError):
                    records.append(None)
        if all(r is None for r in records):
            raise InputError(f"{path} is neither JSON, JSONL nor CSV") from None
    rows: list[LabelRow] = []
    unreadable = 0
    for record in records:
        row = _record_row(record)
        if row is None:
            unreadable += 1
        else:
            rows.append(row)
    return rows, unreadable


def _records_in(data: Any, path: Path) -> list[Any]:
    if isinstance(data, dict):
        for key in ("explanations", "features", "data", "items"):
            if isinstance(data.get(key), list):
                return list(data[key])
        if "index" in data:
            return [data]
    raise InputError(f'{path}: expected a JSON list of records with "index" and "description"')


def _record_row(record: Any) -> LabelRow | None:
    if not isinstance(record, dict):
        return None
    index = _as_int(record.get("index", record.get("feature")))
    label = record.get("description", record.get("label", record.get("explanation")))
    if index is None or not isinstance(label, str):
        return None
    layer = _layer_of(record.get("layer"))
    if layer is None:
        layer = _layer_of(record.get("saeId", record.get("sae_id")))
    return LabelRow(index, label.strip(), str(record.get("modelId", record.get("model_id", "")) or ""), layer)


def _csv_rows(text: str, path: Path) -> tuple[list[LabelRow], int]:
    reader = csv.reader(io.StringIO(text))
    try:
        return _csv_cells(reader)
    except csv.Error as exc:  # a field over csv's size limit, an unclosed quote at the end
        raise InputError(f"{path}:{reader.line_num}: not a CSV row ({exc})") from exc


def _csv_cells(reader: Iterable[list[str]]) -> tuple[list[LabelRow], int]:
    rows: list[LabelRow] = []
    unreadable = 0
    for n, cells in enumerate(reader):
        if not cells or not any(c.strip() for c in cells):
            continue
        index = _as_int(cells[0])
        if index is None or len(cells) < 2:
            if n == 0 and index is None:
                continue  # the header row ("feature,label")
            unreadable += 1
            continue
        rows.append(LabelRow(index, ",".join(cells[1:]).strip()))
    return rows, unreadable


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def _layer_of(value: Any) -> int | None:
    """8, "8", "8-res-jb", "blocks.8.hook_resid_post", "model.layers.8" → 8; anything else → None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        return None
    for pattern in _LAYER_IN_ID:
        match = pattern.search(value.strip())
        if match:
            return int(match.group(1))
    return None


# -- checking and storing -----------------------------------------------------------------------------------
def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def model_matches(model_id: str, names: Iterable[str]) -> bool:
    """Whether a file's modelId names our model: "smollm2-135m" matches "SmolLM2-135M-Instruct (… GGUF)".

    Names are compared without case and punctuation, either containing the other, because exports use short
    ids and loaded models long names. An unstated modelId matches (a CSV says nothing about its model)."""
    wanted = _normalise(model_id)
    if not wanted:
        return True
    return any(n and (wanted in n or n in wanted) for n in map(_normalise, names))


def import_labels(path: str | Path, sae: SaeIdentity) -> LabelImport:
    """Check a labels file against `sae`, merge its labels into the SAE's stored ones, and say what was kept."""
    path = Path(path).expanduser()
    rows, unreadable = read_label_file(path)
    foreign = next((r.model for r in rows if not model_matches(r.model, sae.model_names)), None)
    if foreign is not None:
        ours = sae.model_names[0] if sae.model_names else "the loaded model"
        raise InputError(f"{path.name} is for model {foreign!r}, not {ours!r}: refused")
    here = [r for r in rows if r.layer is None or r.layer == sae.layer]
    if rows and not here:
        layers = ", ".join(str(n) for n in sorted({r.layer for r in rows if r.layer is not None}))
        raise InputError(f"{path.name} holds labels for layer {layers}, not layer {sae.layer}: refused")
    skipped_layers = tuple(sorted({r.layer for r in rows if r.layer is not None and r.layer != sae.layer}))
    out_of_range = tuple(r.index for r in here if not 0 <= r.index < sae.d_sae)
    kept = [r for r in here if 0 <= r.index < sae.d_sae]
    blank = sum(1 for r in kept if not r.label)
    labels = {**stored_labels(sae.fingerprint), **{r.index: r.label for r in kept if r.label}}
    target = save_labels(sae, labels, source=path.name)
    return LabelImport(
        imported=sum(1 for r in kept if r.label),
        out_of_range=out_of_range,
        other_layers=len(rows) - len(here),
        blank=blank,
        unreadable=unreadable,
        stored_at=str(target),
        d_sae=sae.d_sae,
        layer=sae.layer,
        skipped_layers=skipped_layers,
    )


def labels_path(fingerprint: str) -> Path:
    return data_dir() / "labels" / f"{fingerprint}.json"


def save_labels(sae: SaeIdentity, labels: dict[int, str], source: str) -> Path:
    """Write atomically: an interrupted import never leaves a half-written file in place of the old labels."""
    target = labels_path(sae.fingerprint)
    previous = _read_file(target)
    if not previous and target.is_file():
        _set_aside(target)  # damaged, but perhaps mendable by hand: kept beside the new file, not overwritten
    earlier = previous.get("sources")
    sources = [*earlier, source] if isinstance(earlier, list) else [source]
    document = {
        "format_version": LABELS_VERSION,
        "fingerprint": sae.fingerprint,
        "sae": sae.description,
        "layer": sae.layer,
        "d_sae": sae.d_sae,
        "sources": sources,
        "labels": {str(k): v for k, v in sorted(labels.items())},
    }
    make_folder(target.parent)
    atomic_write_text(target, json.dumps(document, ensure_ascii=False, indent=1))
    _memo.pop(sae.fingerprint, None)
    return target


def _set_aside(path: Path) -> None:
    for n in range(1, 1000):
        aside = path.with_name(f"{path.stem}.unreadable-{n}{path.suffix}")
        if not aside.exists():
            path.replace(aside)
            return


_memo: dict[str, tuple[int, dict[int, str]]] = {}  # fingerprint → (file mtime, labels)


def stored_labels(fingerprint: str) -> dict[int, str]:
    """The imported labels of the SAE with this fingerprint ({} when none), re-read only when the file changed."""
    path = labels_path(fingerprint)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return {}
    cached = _memo.get(fingerprint)
    if cached is not None and cached[0] == mtime:
        return dict(cached[1])
    stored = _read_file(path).get("labels")
    labels = {int(k): str(v) for k, v in stored.items() if _as_int(k) is not None} if isinstance(stored, dict) else {}
    _memo[fingerprint] = (mtime, labels)
    return dict(labels)


def imported_label(fingerprint: str, feature: int) -> str | None:
    return stored_labels(fingerprint).get(feature)


def _read_file(path: Path) -> dict[str, Any]:
    """A stored labels file, or {} when it is missing or unreadable (imported labels are a nicety: a damaged
    file must not stop an SAE from loading)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return document if isinstance(document, dict) else {}


# -- identities -----------------------------------------------------------------------------------------------
def folder_fingerprint(folder: Path) -> str:
    """The fingerprint a loaded SAE from this folder gets (the loader's rule), without loading it."""
    from workbench.saes.loader import sae_fingerprint  # one rule: a loaded SAE must find the same labels file
    from workbench.saes.spec import SaeSpec

    return sae_fingerprint(SaeSpec.parse(str(folder)))


def folder_identity(folder: Path, layer: int) -> SaeIdentity:
    """The identity of a sae-lens folder from its cfg.json alone (no model load), checked against `layer`."""
    from workbench.saes.hook_names import residual_layer
    from workbench.saes.sae_files import read_config

    config = read_config(folder)  # one line for a missing, garbled or ill-typed cfg.json
    sae_layer = residual_layer(config.hook_name) if config.hook_name else layer
    if sae_layer != layer:
        raise InputError(f"the SAE in {folder} reads layer {sae_layer}, not layer {layer}")
    return SaeIdentity(folder_fingerprint(folder), layer, config.d_sae, config.model_names, str(folder))


def loaded_identity(fingerprint: str, layer: int, d_sae: int, model_names: Iterable[str]) -> SaeIdentity:
    """The identity of an SAE loaded through the engine (its fingerprint, layer, size and the model's names)."""
    return SaeIdentity(fingerprint, layer, d_sae, tuple(n for n in model_names if n), f"layer {layer}")
