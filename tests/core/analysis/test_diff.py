from workbench.analysis.diff import changed_fraction, word_diff


def test_spans_reassemble_the_variant_and_mark_only_new_words():
    spans = word_diff("the sea is calm today", "the ocean is calm and blue today")
    assert "".join(s.text for s in spans) == "the ocean is calm and blue today"
    changed = [s.text.strip() for s in spans if s.changed]
    assert changed == ["ocean", "and blue"]


def test_identical_texts_have_no_changes():
    assert not any(s.changed for s in word_diff("same words", "same words"))
    assert changed_fraction("same words", "same words") == 0.0
    assert changed_fraction("", "all new") == 1.0
