"""An offline English corpus (prose, dialogue, code) for training and evaluating the demo SAEs.

`sources` reads the raw texts from registry packages and the Python standard library; `build` mixes them
deterministically into a train / held-out split and packs token windows; the same reading path accepts a
researcher's own text file.
"""

from workbench.corpus.build import (
    CORPUS_FORMAT_VERSION,
    Corpus,
    build_corpus,
    default_heldout_path,
    is_heldout,
    load_documents,
    pack_windows,
    save_documents,
    texts_from,
)
from workbench.corpus.sources import Document, chitchat_dialogues, python_stdlib, wikipedia_leads

__all__ = [
    "CORPUS_FORMAT_VERSION",
    "Corpus",
    "Document",
    "build_corpus",
    "chitchat_dialogues",
    "default_heldout_path",
    "is_heldout",
    "load_documents",
    "pack_windows",
    "python_stdlib",
    "save_documents",
    "texts_from",
    "wikipedia_leads",
]
