"""Fixtures: git_remote (filled in by the feature that needs it)."""
