"""Where command output goes: a CSV file, or standard output."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas only for the annotation: `atlas --help` must not import it
    import pandas as pd


def write_csv(table: pd.DataFrame, out: Path | None) -> None:
    """Write ``table`` to ``out`` (or standard output); the row count goes to standard error."""
    if out is None:
        table.to_csv(sys.stdout, index=False)
    else:
        table.to_csv(out, index=False)
        print(f"wrote {len(table)} rows to {out}", file=sys.stderr)
