"""End a finished CLI run without the interpreter's teardown.

After a model run the heap holds millions of objects (torch, transformers, tokenizers); the interpreter's exit
collects them all (1.0-1.4 s of CPU on a 2-core machine) only for the OS to free the memory anyway. Everything
the CLI writes is finished before its `main` returns (sessions and exports through atomic writes that fsync;
JSON printed with flush), so the only buffers left are stdout, stderr and logging's handlers, flushed here.
`os._exit` also runs no destructors, which is what the llama.cpp backend needs: its objects must never be freed
during interpreter teardown (models/llamacpp.py `close`), and the OS reclaims them whole.

Only entry points call this (the console script, `python -m workbench.cli`); `main()` called in-process, as tests
do, returns as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    """Flush what is buffered, then end the process with `code` at once."""
    for stream in (sys.stdout, sys.stderr):
        # A reader that went away (`| head`) leaves nothing to flush to: the exit code still stands.
        with contextlib.suppress(Exception):
            stream.flush()
    logging.shutdown()
    os._exit(code)
