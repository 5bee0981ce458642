"""Start-up holds the cyclic collector off, and the model load hands it back over a frozen heap."""

from __future__ import annotations

import gc

import pytest
import torch

from tests.factories import tiny_llama, tiny_tokenizer
from workbench import startup_gc
from workbench.models.hf_loader import load_weights
from workbench.models.spec import ModelSource, ModelSpec


@pytest.fixture
def collector():
    yield
    startup_gc.resume()
    gc.enable()
    gc.unfreeze()


def test_pause_turns_collection_off_and_resume_freezes_and_turns_it_on(collector):
    startup_gc.pause()
    assert not gc.isenabled()
    startup_gc.resume()
    assert gc.isenabled() and gc.get_freeze_count() > 0


def test_resume_without_a_pause_freezes_nothing(collector):
    gc.unfreeze()
    startup_gc.resume()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_collector_that_was_off_stays_off(collector):
    gc.disable()
    startup_gc.pause()
    startup_gc.resume()
    assert not gc.isenabled()


def test_loading_a_model_turns_collection_back_on(collector, tmp_path):
    tiny_llama().save_pretrained(tmp_path)
    tiny_tokenizer().save_pretrained(tmp_path)
    startup_gc.pause()
    loaded = load_weights(ModelSpec(ModelSource.FOLDER, str(tmp_path)), torch.float32)
    assert loaded.model is not None and gc.isenabled() and gc.get_freeze_count() > 0
