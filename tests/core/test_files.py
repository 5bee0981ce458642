"""workbench/files.py: temp files left by a writer killed mid-write are removed by the next write of the same
target once they are old enough, and nothing else is."""

import os
import tempfile
import time

from workbench.files import STALE_TEMP_SECONDS, atomic_write_bytes, temp_name_pattern


def _temp_like_ours(target):
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.write(fd, b"half a file")
    os.close(fd)
    return name


def _age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_the_next_write_removes_old_temp_files_of_that_target_and_nothing_else(tmp_path):
    target = tmp_path / "cells.csv"
    stale = _temp_like_ours(target)  # what a writer SIGKILLed between mkstemp and the rename leaves
    _age(stale, STALE_TEMP_SECONDS + 60)
    fresh = _temp_like_ours(target)  # perhaps a writer still running: too young to take
    other = _temp_like_ours(tmp_path / "spec.json")  # another target's
    _age(other, STALE_TEMP_SECONDS + 60)
    users = [tmp_path / ".cells.csv.mine.tmp", tmp_path / ".cells.csv.tmp", tmp_path / "cells.csv.abcdefgh.tmp"]
    for path in users:  # not our pattern: a user's files, however old
        path.write_text("keep me")
        _age(path, 10 * STALE_TEMP_SECONDS)
    assert temp_name_pattern(target).fullmatch(os.path.basename(stale))

    atomic_write_bytes(target, b"new")

    assert target.read_bytes() == b"new"
    left = {p.name for p in tmp_path.iterdir()}
    assert os.path.basename(stale) not in left
    assert {os.path.basename(fresh), os.path.basename(other)} <= left
    assert {p.name for p in users} <= left
    assert len(left) == 1 + 2 + len(users)  # and the write left no temp file of its own
