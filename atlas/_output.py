"""Where command output goes; kept for importers: the writer is atlas.safe_output.write_csv (formulas neutralised)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas only for the annotation: `atlas --help` must not import it
    import pandas as pd


def write_csv(table: pd.DataFrame, out: Path | None) -> None:
    """atlas.safe_output.write_csv, loaded on first use so importing this module stays free of pandas."""
    from atlas.safe_output import write_csv as write

    write(table, out)
