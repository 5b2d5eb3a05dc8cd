"""Fixtures: aws (filled in by the feature that needs it)."""
