"""Silence library chatter (deprecation notes, tqdm bars) in processes that run the model: it would bury the CLI's
one-line messages on stderr, and fill the terminal a user started the window from."""

from __future__ import annotations

import os


def quiet_libraries() -> None:
    """Call before transformers is imported where possible: tqdm reads TQDM_* when it is imported."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # transformers draws its own tqdm bars (GGUF reading, weight loading); our progress reports cover them.
    os.environ.setdefault("TQDM_DISABLE", "1")
    import warnings

    warnings.filterwarnings("ignore")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass
