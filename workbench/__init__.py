"""Steering Workbench core: steer Llama-family models with SAE features, and measure the effect.

Importing this package is cheap: torch, transformers and sae-lens load only when a model or SAE is used.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
