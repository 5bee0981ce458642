"""The steering plan (plain data), its units, and its compiled form that backends apply."""
