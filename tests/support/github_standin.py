"""Fixtures: github_standin (filled in by the feature that needs it)."""
