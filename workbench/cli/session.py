"""The session subcommands of `steering-workbench`: `replay` and `export`, and `generate --save-session`.

Both read a session file and never write to it; every bad file is one line on stderr and exit code 2 (see
workbench/cli/main.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.cancel import CancelToken
from workbench.errors import InputError
from workbench.models.registry import backend_names

if TYPE_CHECKING:
    from workbench.engine import Engine
    from workbench.models.generation import GenerationResult
    from workbench.models.sampling import SamplingSettings
    from workbench.session.model import Session
    from workbench.steering.plan import SteeringPlan

FORMATS = ("html", "md", "csv", "gguf", "py")


def add_parsers(sub: Any, _common: Callable[[argparse.ArgumentParser], None]) -> None:
    r = sub.add_parser("replay", help="regenerate every pane of a saved session and compare the tokens")
    r.add_argument("session", metavar="PATH", help="a session file (generate --save-session, or the window)")
    _device_options(r)
    r.add_argument("--json", action="store_true", help="print one JSON document")

    e = sub.add_parser("export", help="a report (html, md), a table (csv), a control vector (gguf) or a script (py)")
    e.add_argument("session", metavar="PATH", help="a session file")
    e.add_argument("--format", required=True, choices=FORMATS)
    e.add_argument("--out", required=True, metavar="OUT", help="the file to write (md: PNG heatmaps go beside it)")
    e.add_argument("--variant", default=None, metavar="NAME", help="gguf / py: which variant (default: the only one)")
    e.add_argument("--no-heatmaps", action="store_true", help="html / md: skip the heatmaps (no model load)")
    _device_options(e)
    e.add_argument("--json", action="store_true", help="print one JSON document")


def _device_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, help="default: the recorded device (if this machine has it)")
    p.add_argument("--dtype", default=None, help="default: the recorded dtype")
    p.add_argument("--backend", default=None, choices=backend_names(), help="default: the recorded backend")
    add_max_memory_option(p)
    p.add_argument("--ignore-memory-check", action="store_true", help="load even if it may not fit in free memory")


def _load_options(args: argparse.Namespace) -> dict[str, Any]:
    """The `_device_options` as `open_engine` takes them."""
    return {
        "device": args.device,
        "dtype": args.dtype,
        "backend": args.backend,
        "max_memory": args.max_memory,
        "ignore_memory_check": args.ignore_memory_check,
    }


def add_max_memory_option(p: argparse.ArgumentParser) -> None:
    """--max-memory on every model-loading command (parsed by models/device_map.parse_max_memory)."""
    p.add_argument(
        "--max-memory",
        default="",
        metavar="DEVICE=SIZE,...",
        help="torch backend: spread the model over devices with at most this much on each, e.g. "
        "0=20GiB,1=20GiB,cpu=64GiB (with --device auto, 2+ CUDA GPUs are used even without it)",
    )


# -- generate --save-session ----------------------------------------------------------------------------------
def check_save_target(path: str | None) -> None:
    """Fail before the slow model load when the session could not be written."""
    if path is None:
        return
    target = Path(path).expanduser()
    if target.is_dir():
        raise InputError(f"--save-session {path}: is a folder; give a file name")
    if not target.parent.is_dir():
        raise InputError(f"--save-session {path}: the folder {target.parent} does not exist")


def save_generated(
    path: str,
    engine: Engine,
    prompt: str,
    plan: SteeringPlan,
    settings: SamplingSettings,
    chat: bool,
    result: GenerationResult,
) -> str:
    from workbench.session import record_session, save_session

    session = record_session(engine, prompt, plan, settings, chat, result)
    return str(save_session(Path(path).expanduser(), session))


# -- replay -----------------------------------------------------------------------------------------------------
def cmd_replay(args: argparse.Namespace, cancel: CancelToken) -> dict[str, Any] | None:
    from workbench.session import load_session
    from workbench.session.replay import open_engine, replay_session

    session = load_session(args.session)
    if not session.outputs:
        raise InputError(f"{args.session}: nothing to replay, the session has no recorded outputs")
    engine, notes = open_engine(session, cancel=cancel, **_load_options(args))
    report = replay_session(engine, session, cancel)
    record = report.to_dict()
    record["notes"] = notes + record["notes"]
    record["recorded"] = {"device": session.environment.device, "dtype": session.environment.dtype}
    record["recorded"]["backend"] = session.environment.backend
    info = engine.backend.info
    record["replayed"] = {"device": info.device, "dtype": info.dtype, "backend": info.backend}
    if args.json:
        return record
    for pane in report.panes:
        if pane.identical:
            print(f"{pane.name}: identical ({len(pane.replayed_ids)} tokens)")
        else:
            print(f"{pane.name}: differs from token {pane.first_difference}")
            print(f"  recorded: {pane.recorded_text!r}")
            print(f"  replayed: {pane.replayed_text!r}")
    for note in record["notes"]:
        print(f"note: {note}", file=sys.stderr)
    differ = sum(not p.identical for p in report.panes)
    print("all panes identical" if report.all_identical else f"{differ} of {len(report.panes)} panes differ")
    return record


# -- export -----------------------------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace, cancel: CancelToken) -> dict[str, Any] | None:
    from workbench.session import load_session

    out = Path(args.out).expanduser()
    if out.exists() and out.resolve() == Path(args.session).expanduser().resolve():
        raise InputError("--out is the session file itself: choose another file")
    if out.is_dir() or not out.parent.is_dir():
        raise InputError(f"--out {args.out}: " + ("is a folder" if out.is_dir() else f"no folder {out.parent}"))
    session = load_session(args.session)
    written, notes = _export(session, args, out, cancel)
    record = {"format": args.format, "written": [str(p) for p in written], "notes": notes}
    if not args.json:
        for path in written:
            print(f"wrote {path}")
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    return record


def _export(session: Session, args: argparse.Namespace, out: Path, cancel: CancelToken) -> tuple[list[Path], list[str]]:
    fmt = args.format
    if fmt == "csv":
        from workbench.session.export_csv import write_csv

        return write_csv(session, out), []
    if fmt == "py":
        from workbench.session.export_script import write_script

        written = write_script(session, out, args.variant)
        os.chmod(out, out.stat().st_mode | 0o111)  # a script with a shebang: make it runnable
        return written, []
    if fmt == "gguf":
        from workbench.session.export_gguf import control_vector, load_session_saes, write_control_vector

        vector = control_vector(session, args.variant, load_session_saes(session))
        return write_control_vector(vector, out), list(vector.notes)
    from workbench.session.export_report import write_html_report, write_markdown_report

    heatmaps: list[Any] = []
    notes: list[str] = []
    if not args.no_heatmaps and session.outputs and session.saes:
        from workbench.errors import WorkbenchError
        from workbench.session import SessionError
        from workbench.session.heatmap_png import session_heatmaps
        from workbench.session.replay import open_engine

        try:
            engine, notes = open_engine(session, cancel=cancel, **_load_options(args))
        except WorkbenchError as exc:
            raise SessionError(f"{exc} (or export without heatmaps: --no-heatmaps)") from exc
        heatmaps = session_heatmaps(engine, session)
    write = write_html_report if fmt == "html" else write_markdown_report
    return write(session, out, heatmaps), notes


COMMANDS = {"replay": cmd_replay, "export": cmd_export}
