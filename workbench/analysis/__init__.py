"""Analyses on the loaded model: heatmaps, a feature across layers, the feature inspector, the effect of a steer."""
