"""Backends by name: the registry the engine loads through, and what a second backend needs."""

import pytest

from workbench.errors import InputError
from workbench.models import registry
from workbench.models.spec import ModelSpec


def test_the_torch_backend_is_the_default_and_is_imported_only_when_used():
    assert registry.DEFAULT_BACKEND == "torch" and "torch" in registry.backend_names()
    from workbench.models.hf import HFBackend

    assert registry.backend_loader("torch") == HFBackend.load


def test_an_unknown_backend_names_the_ones_there_are():
    with pytest.raises(InputError, match="unknown model backend 'nope' \\(available: .*torch"):
        registry.backend_loader("nope")


def test_a_registered_backend_is_what_the_engine_loads(monkeypatch):
    from tests.core.models.minimal_backend import MinimalBackend, minimal_backend
    from workbench.engine import Engine

    seen = {}

    def load(spec, *, device, dtype, trust_remote_code, progress, cancel):
        seen.update(spec=spec, device=device)
        return minimal_backend()

    monkeypatch.setattr(registry, "_registered", {})
    registry.register_backend("minimal", load)
    engine = Engine()
    backend = engine.load_model("default", device="cpu", backend="minimal")
    assert isinstance(backend, MinimalBackend) and engine.backend is backend
    assert seen == {"spec": ModelSpec.parse("default"), "device": "cpu"}
    assert "minimal" in registry.backend_names()
