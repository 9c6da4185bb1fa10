"""Prep: turns raw uploads into validated, cleaned, split Flair corpora under `processed/` (see shared.datasets)."""
