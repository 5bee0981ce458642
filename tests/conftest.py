import os
from pathlib import Path

import pytest

# Converted model weights are cached inside the repo's venv folder, apart from the user's own cache, and shared
# by every test; everything else a test caches (feature statistics) goes to a fresh folder per test.
_ROOT = Path(__file__).resolve().parent.parent
SHARED_CACHE = Path(os.environ.get("STEERING_WORKBENCH_CACHE", _ROOT / ".venv" / "cache" / "steering-workbench"))
os.environ["STEERING_WORKBENCH_CACHE"] = str(SHARED_CACHE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")  # library progress bars would clutter the CLI tests' stderr


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.mktemp("cache")
    (SHARED_CACHE / "models").mkdir(parents=True, exist_ok=True)
    (cache / "models").symlink_to(SHARED_CACHE / "models", target_is_directory=True)
    monkeypatch.setenv("STEERING_WORKBENCH_CACHE", str(cache))
    monkeypatch.setenv("STEERING_WORKBENCH_DATA", str(tmp_path_factory.mktemp("data")))
    return cache


@pytest.fixture(scope="session")
def smollm_engine():
    """The real embedded SmolLM2 on the CPU, loaded once per test session."""
    from workbench.engine import Engine

    engine = Engine()
    engine.load_model("default", device="cpu")
    return engine
