"""Build-time code: the recipe that makes the shipped demo assets (packaging/train_demo_saes.py runs it).

- `sources`, `corpus`: read the offline sources and mix them into a deterministic train / held-out corpus;
- `training`: cache residual activations and train the demo SAEs with sae-lens, resumably;
- `atlas`: feature statistics, top examples, promoted tokens and labels next to each SAE.

Nothing the app runs imports this package (an import-linter contract in pyproject.toml says so); it uses the
run-time core through the same `ModelBackend` protocol as everything else.
"""
