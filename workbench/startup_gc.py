"""Hold the cyclic garbage collector off while a process starts, and hand it a frozen heap once the model is in.

Importing torch and transformers and building a model allocates millions of long-lived objects; the collector,
triggered by allocation counts, walks the whole growing heap again and again while nothing of it is garbage
(0.8-0.9 s of CPU of an `info` call on a 2-core machine). `pause` turns it off at a process's start; `resume`,
called once the model is loaded, moves everything that survived into the permanent generation (`gc.freeze`), so
later collections skip it, and turns collection back on. Reference counting frees almost everything meanwhile;
only cycles wait, and start-up makes few.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Turn cyclic collection off until `resume` (if it was on)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """After start-up: freeze what is alive and collect again; nothing if `pause` did not turn it off."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
