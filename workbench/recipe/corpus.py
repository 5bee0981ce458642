"""Mix the sources into one deterministic corpus with a train / held-out split, and pack token windows.

Determinism: a document's split and its place in the mix depend only on a hash of (source, doc_id) and the
seed, never on file order or on which other sources are present, so adding a source does not reshuffle the
held-out set of another.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.analysis.texts import Document
from workbench.errors import InputError

CORPUS_FORMAT_VERSION = 1


def _unit_hash(*parts: object) -> float:
    """A stable number in [0, 1) for these parts (sha256, so it is the same on every machine and Python)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_heldout(doc: Document, fraction: float) -> bool:
    return _unit_hash("split", doc.source, doc.doc_id) < fraction


@dataclass(frozen=True)
class Corpus:
    train: list[Document]
    heldout: list[Document]

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for split, docs in (("train", self.train), ("heldout", self.heldout)):
            for d in docs:
                out.setdefault(d.source, {"train": 0, "heldout": 0})[split] += 1
        return out


def build_corpus(
    sources: Iterable[Iterable[Document]],
    seed: int = 0,
    heldout_fraction: float = 0.05,
    keep_fraction: dict[str, float] | None = None,
) -> Corpus:
    """Split and shuffle. `keep_fraction` thins a source (by hash) so one large source does not dominate."""
    keep_fraction = keep_fraction or {}
    train: list[Document] = []
    heldout: list[Document] = []
    for source in sources:
        for doc in source:
            if _unit_hash("keep", doc.source, doc.doc_id) >= keep_fraction.get(doc.source, 1.0):
                continue
            (heldout if is_heldout(doc, heldout_fraction) else train).append(doc)
    if not train:
        raise InputError("the corpus is empty: no source yielded any document")

    def order(d: Document) -> float:
        return _unit_hash("order", seed, d.source, d.doc_id)

    return Corpus(train=sorted(train, key=order), heldout=sorted(heldout, key=order))


def save_documents(docs: Sequence[Document], path: Path) -> None:
    """JSONL.gz, one {"source", "id", "text"} per line; no name and mtime 0 in the gzip header (reproducible bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as f:
        for d in docs:
            f.write((json.dumps({"source": d.source, "id": d.doc_id, "text": d.text}) + "\n").encode())
    tmp.replace(path)


def pack_windows(token_lists: Iterable[Sequence[int]], context: int, separator: int) -> Iterator[list[int]]:
    """Concatenate documents (separator between them) and cut the stream into windows of `context` tokens.

    Packing wastes no compute on padding; the tail shorter than one window is dropped.
    """
    if context < 2:
        raise InputError("a window needs at least two tokens")
    buffer: list[int] = []
    for tokens in token_lists:
        buffer.extend(tokens)
        buffer.append(separator)
        while len(buffer) >= context:
            yield buffer[:context]
            del buffer[:context]
