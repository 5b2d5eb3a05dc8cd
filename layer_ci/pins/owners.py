"""Which pins a text holds under the config's patterns, and which functions each pin feeds."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from layer_ci.config.pin_patterns import PinPattern, compile_pin_patterns
from layer_ci.errors import Location
from layer_ci.lambda_spec.arn import layer_name_of
from layer_ci.model import Config
from layer_ci.pins.find import Pin, find_pins_in_text, may_hold_pins


class PinReader:
    """Finds pins in any text with the config's patterns (compiled once), as ``find_pins`` would."""

    def __init__(self, config: Config) -> None:
        try:
            shown = config.path.relative_to(config.root).as_posix()
        except ValueError:
            shown = str(config.path)
        self._patterns: tuple[PinPattern, ...] = compile_pin_patterns(
            config.settings.pin_patterns, Location(shown)
        )
        self._layer_names = tuple(layer.name for layer in config.layers)

    def pins(self, path: str, text: str) -> list[Pin]:
        applicable = tuple(pattern for pattern in self._patterns if pattern.applies_to(path))
        if not applicable and not may_hold_pins(path, text):
            return []
        return find_pins_in_text(text, path, applicable, self._layer_names)


def _declared_in(location_path: str, pin_file: str) -> bool:
    """Whether a function's location (a display path, maybe prefixed) is the pin file (root-relative)."""
    shown, wanted = _normal(location_path), _normal(pin_file)
    return shown == wanted or shown.endswith("/" + wanted)


def pin_owners(config: Config, pins: Sequence[Pin]) -> dict[Pin, tuple[str, ...]]:
    """The functions each pin feeds.

    Candidates are the functions that use the pin's layer and list the pin's file among their pin files.
    In a template declaring several of them, a pin belongs to the function whose definition most closely
    precedes it; a pin above every definition (Parameters, Globals) feeds all candidates. A pin no
    function claims feeds none (it is bumped without a test to gate it).
    """
    starts: dict[str, list[tuple[int, str]]] = {}
    consumers: dict[tuple[str, str], set[str]] = {}
    for function in config.functions:
        used = {*function.layers, *(layer_name_of(entry) for entry in function.external_layers)}
        for pin_file in function.pin_files:
            path = _normal(pin_file)
            for layer in used:
                consumers.setdefault((layer, path), set()).add(function.name)
            if function.location.line and _declared_in(function.location.path, path):
                starts.setdefault(path, []).append((function.location.line, function.name))
    owners: dict[Pin, tuple[str, ...]] = {}
    for pin in pins:
        candidates = tuple(sorted(consumers.get((pin.layer, pin.path), ())))
        preceding = [entry for entry in starts.get(pin.path, []) if entry[0] <= pin.line]
        if preceding:
            _, nearest = max(preceding)
            if nearest in candidates:
                owners[pin] = (nearest,)
                continue
        owners[pin] = candidates
    return owners


def _normal(path: str) -> str:
    return Path(os.path.normpath(path)).as_posix()
