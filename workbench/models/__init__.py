"""Model backends behind one protocol (protocol.py), found by name (registry.py); transformers is hf.py."""
