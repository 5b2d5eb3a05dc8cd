"""Tests for layer-ci; the folder layout mirrors the package's."""
