"""Sparse autoencoders: loading through sae-lens, which SAE a name means, activations, statistics, metrics."""
