"""Bad prompt files, text files and corpus files: one line naming the file (and the line) at fault, from the
reader and from the CLI before any model loads (`sweep --prompts`, `stats --text-file`, `contrast --a-file`)."""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bad_files import Write
from tests.bad_files import write_bytes as _bytes
from tests.bad_files import write_sparse as _sparse
from tests.bad_files import write_text as _text
from workbench.analysis.texts import read_texts, texts_from
from workbench.cli import main
from workbench.errors import InputError
from workbench.sweeps.prompts import load_prompt_set

# Faults every one-text-per-line file shares; `{what}` is how the reader names the file.
COMMON = [
    ("missing", lambda path: None, "{what} not found"),
    ("a folder", lambda path: path.mkdir(), "is a folder, not a {what}"),
    ("empty", _bytes(b""), "holds no"),
    ("blank lines", _bytes(b"\n  \n\t\n"), "holds no"),
    ("binary", _bytes(bytes(range(128, 256)) * 4), r"is not UTF-8 text \(byte 0: invalid start byte\)"),
    ("NUL bytes", _bytes(b"a prompt\n\0\0\0\0"), r"looks binary \(a NUL character on line 2\), not a {what}"),
    ("UTF-16 without a BOM", _bytes("tell me about the sea\n".encode("utf-16-le")), "looks binary"),
    ("latin-1", _text("une île\n", "latin-1"), r"is not UTF-8 text .*save it as UTF-8"),
    ("cp1252 dashes", _text("sea \u2013 waves\n", "cp1252"), "is not UTF-8 text"),
    ("UTF-16 cut mid-character", _bytes("the sea\n".encode("utf-16")[:-1]), "is not UTF-16 text"),
]
PROMPT_CASES = [
    *COMMON,
    ("one enormous line", _text("sea " * 40_000), r":1: a line of 160000 characters; a prompt may have at most 100000"),
    ("huge", _sparse(20_000_000), "is 20 MB: larger than the 16 MB a prompt file may be"),
    ("JSONL not JSON", _text('{"prompt": "a"}\n{prompt: b}\n'), r":2: not valid JSON"),
    ("JSONL a list", _text("[1, 2]\n"), r':1: expected an object with a non-empty "prompt" field'),
    ("JSONL empty prompt", _text('{"prompt": "  "}\n'), 'expected an object with a non-empty "prompt"'),
    ("JSONL system a number", _text('{"prompt": "a", "system": 3}\n'), r':1: "system" must be a string'),
    ("JSONL raw a string", _text('{"prompt": "a", "raw": "no"}\n'), r':1: "raw" must be true or false'),
    ("JSONL raw with system", _text('{"prompt": "a", "system": "s", "raw": true}\n'), "raw prompt cannot have a"),
    ("JSONL nested too deep", _text("[" * 100_000 + "\n"), r":1: JSON nested too deep to read"),
]
TEXT_CASES = [
    *COMMON,
    ("one enormous line", _text("sea " * 300_000), r":1: a line of 1200000 characters; a text may have at most"),
    ("JSONL a number", _text('{"text": "a"}\n7\n'), r':2: expected a JSON string or an object with a "text" field'),
    ("JSONL not JSON", _text("{text}\n"), r":1: not valid JSON"),
    ("JSONL nested too deep", _text("[" * 100_000 + "\n"), r":1: JSON nested too deep to read"),
]


def _gz(data: bytes) -> Write:
    return lambda path: path.write_bytes(gzip.compress(data))


DOC = b'{"source": "user", "id": "1", "text": "the sea"}\n'
RANDOM_DOCS = b"".join(
    json.dumps({"source": "u", "id": str(i), "text": os.urandom(40).hex()}).encode() + b"\n" for i in range(200)
)
CORPUS_CASES = [
    ("missing", lambda path: None, "corpus file not found"),
    ("not gzip", _bytes(DOC), r"unreadable corpus file .*Not a gzipped file"),
    ("gzip of nothing", _gz(b""), "holds no documents"),
    ("cut short", lambda p: p.write_bytes(gzip.compress(RANDOM_DOCS)[:3000]), "truncated or damaged"),
    ("cut in its header", lambda p: p.write_bytes(gzip.compress(RANDOM_DOCS)[:5]), "truncated or damaged"),
    (
        "damaged inside",
        lambda p: p.write_bytes(_damaged(gzip.compress(RANDOM_DOCS))),
        "truncated or damaged|unreadable corpus|not valid|not UTF-8",
    ),
    ("not JSON", _gz(DOC + b"{oops\n"), r":2: not valid JSON"),
    ("latin-1", _gz(DOC + '{"source": "u", "id": "2", "text": "île"}\n'.encode("latin-1")), r":2: not UTF-8"),
    ("a list per line", _gz(b"[1, 2]\n"), r':1: expected an object with "source", "id" and "text"'),
    ("no id", _gz(b'{"source": "u", "text": "a"}\n'), r':1: expected an object with "source", "id"'),
    ("text a number", _gz(b'{"source": "u", "id": "1", "text": 5}\n'), r':1: "text" must be a string'),
]


def _damaged(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(64) + data[middle + 64 :]


def _one_line_exit_2(capsys, message: str, argv: list[str]) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    assert (code, out) == (2, "") and err.startswith("error: ") and err.count("\n") == 1, err
    assert re.search(message, err), err


def _refused(read: Callable[[], object], message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        read()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("case", "write", "message"), PROMPT_CASES, ids=[c[0] for c in PROMPT_CASES])
def test_a_bad_prompt_file_gets_one_line(capsys, tmp_path, case, write, message):
    path = tmp_path / ("prompts.jsonl" if case.startswith("JSONL") else "prompts.txt")
    write(path)
    message = message.format(what="prompt file")
    _refused(lambda: load_prompt_set(str(path)), message)
    _one_line_exit_2(capsys, message, ["sweep", "--feature", "8:1", "--prompts", str(path)])


@pytest.mark.parametrize(("case", "write", "message"), TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_a_bad_text_file_gets_one_line(capsys, tmp_path, case, write, message):
    path = tmp_path / ("texts.jsonl" if case.startswith("JSONL") else "texts.txt")
    write(path)
    message = message.format(what="text file")
    _refused(lambda: read_texts(path), message)
    _one_line_exit_2(capsys, message, ["stats", "--layer", "8", "--text-file", str(path)])
    other = tmp_path / "other.txt"
    other.write_text("a fine text\n")
    _one_line_exit_2(capsys, message, ["contrast", "--layer", "8", "--a-file", str(other), "--b-file", str(path)])


@pytest.mark.parametrize(("case", "write", "message"), CORPUS_CASES, ids=[c[0] for c in CORPUS_CASES])
def test_a_bad_corpus_file_gets_one_line(capsys, tmp_path, case, write, message):
    path = tmp_path / "corpus.jsonl.gz"
    write(path)
    _refused(lambda: texts_from(path), message)
    _one_line_exit_2(capsys, message, ["stats", "--layer", "8", "--text-file", str(path)])


@pytest.mark.parametrize(
    "data",
    [b"\xef\xbb\xbfthe sea\nthe wave\n", "the sea\nthe wave\n".encode("utf-16"), b"the sea\r\nthe wave\r\n"],
    ids=["UTF-8 BOM", "UTF-16 BOM", "CRLF"],
)
def test_bom_and_utf16_files_read_as_their_text(tmp_path, data):
    path = tmp_path / "p.txt"
    path.write_bytes(data)
    assert [p.text for p in load_prompt_set(str(path))] == ["the sea", "the wave"] == read_texts(path)


def test_the_good_files_read_so_the_faults_above_are_the_spoiling(tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "a", "system": "s"}\n{"prompt": "b", "raw": true}\n')
    assert [(p.text, p.system, p.chat) for p in load_prompt_set(str(prompts))] == [("a", "s", True), ("b", None, False)]
    corpus = tmp_path / "c.jsonl.gz"
    corpus.write_bytes(gzip.compress(RANDOM_DOCS))
    texts, source = texts_from(corpus)
    assert len(texts) == 200 and source == "c.jsonl.gz"


FUZZ = settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=st.binary(max_size=300), jsonl=st.booleans())
def test_fuzz_any_bytes_as_a_prompt_or_text_file_read_or_get_one_line(tmp_path_factory, data, jsonl):
    path = tmp_path_factory.mktemp("fuzz") / ("f.jsonl" if jsonl else "f.txt")
    path.write_bytes(data)
    for read in (lambda: load_prompt_set(str(path)), lambda: read_texts(path)):
        try:
            read()
        except InputError as exc:
            assert str(exc) and "\n" not in str(exc)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=10**9))
def test_fuzz_a_corpus_cut_anywhere_is_refused_never_read_in_part(tmp_path_factory, cut):
    whole = gzip.compress(RANDOM_DOCS)
    path = tmp_path_factory.mktemp("fuzz") / "c.jsonl.gz"
    path.write_bytes(whole[: cut % len(whole)])
    with pytest.raises(InputError) as info:
        texts_from(path)
    assert "\n" not in str(info.value)
