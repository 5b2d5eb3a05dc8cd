"""Fixtures: repos (filled in by the feature that needs it)."""
