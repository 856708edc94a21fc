"""What an import produced: the tidy counts plus a report of every row read, accepted or rejected."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from atlas.safe_output import neutralise, write_csv
from geo.schema import AREA_CODE, CATEGORY, COUNT, GRAIN, LEVEL, PERIOD, REPEAT_COUNT

__all__ = [
    "ImportReport", "ImportResult", "COUNTS_COLUMNS", "empty_counts", "escape_formula_cells", "escape_formula_text",
]

COUNTS_COLUMNS: tuple[str, ...] = (AREA_CODE, LEVEL, PERIOD, GRAIN, CATEGORY, COUNT, REPEAT_COUNT)
ROW_NUMBER = "row_number"
REASON = "reason"


def empty_counts() -> pd.DataFrame:
    """A counts table with no rows and the canonical columns and dtypes."""
    return pd.DataFrame(
        {
            AREA_CODE: pd.Series([], dtype="str"),
            LEVEL: pd.Series([], dtype="str"),
            PERIOD: pd.Series([], dtype="str"),
            GRAIN: pd.Series([], dtype="str"),
            CATEGORY: pd.Series([], dtype="str"),
            COUNT: pd.Series([], dtype="int64"),
            REPEAT_COUNT: pd.Series([], dtype="Int64"),
        }
    )


def escape_formula_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as text, formula-like ones (plain numbers too) with a leading apostrophe: for raw rejected rows."""
    # Rejected rows are a record of the file as read, so "-2" stays the text "-2" rather than becoming a number.
    return neutralise(frame.astype("str"), keep_numbers=False)


# Analysis tables: formula-like text escaped, numbers (and plain-number text such as "-3") left alone.
escape_formula_text = neutralise


@dataclass
class ImportReport:
    """Validation report of one incident file; rows_read == rows_accepted + rows_rejected always."""

    file_name: str
    sha256: str
    kind: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    reasons: dict[str, int]
    rejected: pd.DataFrame
    dropped_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejected_file: str | None = None

    def __post_init__(self) -> None:
        if self.rows_read != self.rows_accepted + self.rows_rejected:
            raise ValueError(
                f"import report of {self.file_name} does not add up: read {self.rows_read}, "
                f"accepted {self.rows_accepted}, rejected {self.rows_rejected}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the rejected rows themselves go to ``write_rejected``)."""
        return {
            "file_name": self.file_name,
            "sha256": self.sha256,
            "kind": self.kind,
            "rows_read": int(self.rows_read),
            "rows_accepted": int(self.rows_accepted),
            "rows_rejected": int(self.rows_rejected),
            "reasons": {str(k): int(v) for k, v in self.reasons.items()},
            "rejected_file": self.rejected_file,
            "dropped_columns": list(self.dropped_columns),
            "notes": list(self.notes),
        }

    def write_rejected(self, path: str | Path) -> Path:
        """Write the rejected rows as CSV (formula-like cells escaped) and remember where."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Every cell as text, plain numbers included: see escape_formula_cells.
        write_csv(self.rejected.astype("str"), path, keep_numbers=False, announce=False)
        self.rejected_file = str(path)
        return path


class ImportResult(NamedTuple):
    """The tidy counts (see docs/data-model.md) and the report of how they were made."""

    counts: pd.DataFrame
    report: ImportReport
