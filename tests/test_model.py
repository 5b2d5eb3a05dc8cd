"""Tests for the shared value objects: choosing layers by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from layer_ci.errors import UsageError
from tests.support.repos import config_of, layer_spec


def test_select_layers_keeps_the_order_given_and_drops_repeats(tmp_path: Path) -> None:
    config = config_of(tmp_path, (layer_spec(tmp_path / "a", "a"), layer_spec(tmp_path / "b", "b")))
    assert [layer.name for layer in config.select_layers(["b", "a", "b"])] == ["b", "a"]
    assert config.select_layers([]) == config.layers


def test_select_layers_names_every_unknown_layer_and_the_declared_ones(tmp_path: Path) -> None:
    config = config_of(tmp_path, (layer_spec(tmp_path / "a", "a"), layer_spec(tmp_path / "b", "b")))
    with pytest.raises(UsageError) as caught:
        config.select_layers(["a", "x", "y", "x"])
    assert str(caught.value) == "unknown layer 'x', 'y'; layer-ci.yml declares: a, b"
    assert caught.value.exit_code == 2
    with pytest.raises(UsageError, match=r"declares: \(no layers\)"):
        config_of(tmp_path, ()).select_layers(["a"])
