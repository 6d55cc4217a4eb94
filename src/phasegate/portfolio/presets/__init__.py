"""Presets: known inventory layouts, chosen by name (``phasegate usecase import --preset NAME``)."""

from __future__ import annotations

from phasegate.errors import InvalidInput, Problem
from phasegate.portfolio.importing import Preset
from phasegate.portfolio.presets.us_federal_2025 import US_FEDERAL_2025

__all__ = ["PRESETS", "Preset", "get_preset"]

PRESETS: dict[str, Preset] = {preset.name: preset for preset in (US_FEDERAL_2025,)}


def get_preset(name: str) -> Preset:
    """The preset of that name; an unknown name is an error listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        message = f"no preset '{name}'; the presets are: {', '.join(sorted(PRESETS))}"
        raise InvalidInput(message, [Problem(message, field="preset")]) from None
