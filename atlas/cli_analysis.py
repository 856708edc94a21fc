"""Analysis subcommands of `atlas` (rates, hotspots, emerging, compare, priority)."""

from __future__ import annotations

import argparse


def add_analysis_commands(sub: argparse._SubParsersAction) -> None:
    """Register the analysis subcommands on the `atlas` parser."""
