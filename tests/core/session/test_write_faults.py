"""A full disk or a folder that refuses writes, for every file a session is exported to: one line naming the file
and the cause (SessionError; the CLI's exit 2), the previous file as it was, no temp file left behind. And the
session file and the autosave slot written by a process killed mid-write, between write and rename, or after the
rename: each is whole, the old version or the new one."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.core.session.test_session_file import make_session
from workbench.cli import main
from workbench.session import SessionError, autosave, autosave_path, load_session, pending_autosave, save_session
from workbench.session.export_csv import write_csv
from workbench.session.export_gguf import ControlVector, write_control_vector
from workbench.session.export_report import write_html_report, write_markdown_report
from workbench.session.export_script import write_script

ROOT = Path(__file__).resolve().parents[3]
VECTOR = ControlVector("ocean", "SmolLM2", 30, 8, {8: np.ones(8, dtype=np.float32)}, ())

EXPORTS = {
    "csv": lambda out: write_csv(make_session(), out),
    "html": lambda out: write_html_report(make_session(), out),
    "md": lambda out: write_markdown_report(make_session(), out),
    "py": lambda out: write_script(make_session(), out, "ocean"),
    "gguf": lambda out: write_control_vector(VECTOR, out),
    "session": lambda out: [save_session(out, make_session())],
}


def _disk_full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _refused(*_args, **_kwargs):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))


FAULTS = {
    # Where each fault shows: a full disk when the data is flushed (fsync), a read-only folder when the temp file
    # beside the target is created.
    "ENOSPC": ("fsync", _disk_full, "No space left on device"),
    "EACCES": ("mkstemp", _refused, "Permission denied"),
}


def _inject(monkeypatch, fault):
    where, raise_, _message = FAULTS[fault]
    target = os if where == "fsync" else tempfile
    monkeypatch.setattr(target, where, raise_)


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("kind", sorted(EXPORTS))
def test_a_full_disk_or_a_read_only_folder_leaves_the_previous_file(tmp_path, monkeypatch, kind, fault):
    out = tmp_path / f"export.{kind if kind != 'session' else 'swsession'}"
    out.write_bytes(b"the previous export")
    with monkeypatch.context() as patch:
        _inject(patch, fault)
        with pytest.raises(SessionError) as caught:
            EXPORTS[kind](out)
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path) in message and FAULTS[fault][2] in message
    assert out.read_bytes() == b"the previous export"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_the_export_command_says_it_in_one_line_and_exits_2(tmp_path, monkeypatch, capsys, fault):
    session = save_session(tmp_path / "s.swsession", make_session())
    out = tmp_path / "table.csv"
    out.write_text("the previous table")
    with monkeypatch.context() as patch:
        _inject(patch, fault)
        code = main(["export", str(session), "--format", "csv", "--out", str(out)])
    _out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: cannot write") and FAULTS[fault][2] in err
    assert out.read_text() == "the previous table"


# -- killed while writing -------------------------------------------------------------------------------------
CHILD = """
import os, signal, sys
from dataclasses import replace
import workbench.files as io  # where sessions are written
from tests.core.session.test_session_file import make_session
from workbench.session import autosave, save_session

point, target = sys.argv[1], sys.argv[2]
new = replace(make_session(), prompt="the new version " * 20_000)

def die(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if point == "mid-write":  # half the bytes are on disk in the temp file, then the process is gone
    real_open = open

    class HalfThenDie:
        def __init__(self, f):
            self.f = f
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return False
        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            os.fsync(self.f.fileno())
            die()
        def flush(self):
            pass

    io.open = lambda path, mode="r", *a, **k: HalfThenDie(real_open(path, mode, *a, **k))
elif point == "before-rename":  # the temp file is whole and synced; the rename never happens
    io.os.replace = die
else:  # "after-rename": renamed, the folder not yet synced
    io._fsync_folder = die
if target == "autosave":
    autosave(new)
else:
    save_session(target, new)
"""


@pytest.mark.parametrize(
    ("point", "survives"), [("mid-write", "old"), ("before-rename", "old"), ("after-rename", "new")]
)
@pytest.mark.parametrize("target", ["autosave", "session"])
def test_a_process_killed_while_writing_leaves_the_old_or_the_new_version(tmp_path, point, survives, target):
    old = make_session()
    path = autosave(old) if target == "autosave" else save_session(tmp_path / "s.swsession", old)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, point, "autosave" if target == "autosave" else str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr  # it died where the test put the kill
    loaded = load_session(path)
    new_prompt = "the new version " * 20_000
    assert loaded == (old if survives == "old" else replace(old, prompt=new_prompt))
    if target == "autosave":
        assert pending_autosave() == autosave_path() == path  # offered back at the next start, whole


def test_an_autosave_into_a_full_disk_is_one_line_and_keeps_the_slot(monkeypatch):
    path = autosave(make_session())
    before = path.read_bytes()
    with monkeypatch.context() as patch, pytest.raises(SessionError, match="No space left on device"):
        patch.setattr(os, "fsync", _disk_full)
        autosave(replace(make_session(), prompt="newer"))
    assert path.read_bytes() == before and pending_autosave() == path
