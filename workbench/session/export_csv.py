"""One CSV row per pane: what it was steered with, what it generated, and the run's settings (stdlib csv)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from workbench.session.errors import SessionError
from workbench.session.io import atomic_write_bytes
from workbench.session.model import Session

COLUMNS = (
    "pane",
    "edits",
    "edits_json",
    "text",
    "token_ids",
    "n_tokens",
    "finish_reason",
    "prompt",
    "chat",
    "seed",
    "temperature",
    "top_p",
    "top_k",
    "repetition_penalty",
    "max_new_tokens",
    "model",
    "model_sha256",
    "device",
    "dtype",
)


def render_csv(session: Session) -> str:
    if not session.outputs:
        raise SessionError("nothing to export as CSV: the session has no outputs yet (generate first)")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    s = session.settings
    for variant, pane in zip(session.plan.variants, session.outputs, strict=True):
        writer.writerow(
            [
                pane.name,
                "; ".join(e.describe() for e in variant.active_edits),
                json.dumps(
                    [{"edit": o.edit, "raw_strength": o.raw_strength, "positions": o.positions} for o in pane.edits],
                    ensure_ascii=False,
                ),
                pane.text,
                " ".join(str(t) for t in pane.token_ids),
                len(pane.token_ids),
                pane.finish_reason,
                session.prompt,
                session.chat,
                s.seed,
                s.temperature,
                s.top_p,
                s.top_k,
                s.repetition_penalty,
                s.max_new_tokens,
                session.model.spec,
                session.model.sha256 or "",
                session.environment.device,
                session.environment.dtype,
            ]
        )
    return buffer.getvalue()


def write_csv(session: Session, out: str | Path) -> list[Path]:
    out = Path(out)
    # utf-8-sig: spreadsheet programs read the text as UTF-8 only with the byte-order mark.
    atomic_write_bytes(out, render_csv(session).encode("utf-8-sig"))
    return [out]
