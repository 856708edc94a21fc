"""Cell-key perturbation of published counts: the protection against differencing across tables.

Suppression protects one table; a publication holds many overlapping ones (LSOA, ward and authority; month,
quarter and year; one category and all), and subtracting a shown total from shown parts gives a hidden count
back. Publication mode therefore also moves each shown count by a small amount, as the ONS did for every
Census 2021 table (the ABS "cell key" method: Fraser and Wooton 2005, *A proposed method for confidentialising
tabular output to protect against differencing*; ONS 2022, *Protecting personal data in Census 2021 results*).

- Every stored row gets a **record key** from a secret of its dataset; a cell's key is the sum of the record
  keys of the rows in it, modulo 2**20. The same rows give the same key, so the same count is moved the same
  way in every table, every run and every level it appears at: repeating a query never averages the noise
  away, and a ward made of one LSOA shows that LSOA's published count.
- The change comes from the **perturbation table** below, read at the key. Every row has mean zero (no bias in
  sums) and moves a count by at most 2. Counts of 0-4 stay 0-4 (and a count of 1 or 4 is not moved), so
  hiding the published counts below 5 hides every true count below 5; a true 5 or 6 is published as 3 or 4
  now and then, and so hidden too. A reader who sees "<5" therefore knows only that the count is 0-6, and one
  who sees 5 that it is 5-7: that slack is what keeps a sum of hidden counts from pinning them (three hidden
  months under a quarter of 12 would otherwise each be 4).
Pure numpy; no Streamlit, no store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

KEY_BITS = 20
KEY_MOD = 1 << KEY_BITS
MAX_CHANGE = 2

# (smallest count the row applies to, changes, probabilities): a count t takes the last row with start <= t.
PERTURBATION_TABLE: tuple[tuple[int, tuple[int, ...], tuple[float, ...]], ...] = (
    (0, (0,), (1.0,)),
    (1, (0,), (1.0,)),  # 1 stays 1 (0 below it is not a perturbation of a small count but of its absence)
    (2, (-1, 0, 1), (0.25, 0.5, 0.25)),
    (4, (0,), (1.0,)),  # 4 stays 4: 5 would show a small count
    (5, (-2, -1, 0, 1, 2), (0.05, 0.2, 0.5, 0.2, 0.05)),
)


def record_keys(
    salt: bytes, labels: Sequence[Sequence[str]], codes: Sequence[np.ndarray], count: np.ndarray,
) -> np.ndarray:
    """Record key (int64 in 1..KEY_MOD-1; 0 for a zero count) of each stored row, from the dataset's secret `salt`.

    `labels[j]` is the dictionary of key column j and `codes[j]` each row's index into it (area, level, period,
    grain, category): each label is hashed once (blake2b keyed by the salt), rows are mixed by splitmix64.
    """
    n = int(np.asarray(count).size)
    mixed = np.full(n, np.uint64(0x9E3779B97F4A7C15), dtype=np.uint64)
    for j, (dictionary, code) in enumerate(zip(labels, codes)):
        hashes = np.array([_label_hash(salt, j, str(label)) for label in dictionary] or [0], dtype=np.uint64)
        mixed = _splitmix64(mixed ^ hashes[np.asarray(code, dtype=np.int64)])
    mixed = _splitmix64(mixed ^ np.asarray(count, dtype=np.int64).astype(np.uint64))
    key = (mixed >> np.uint64(64 - KEY_BITS)).astype(np.int64) % (KEY_MOD - 1) + 1
    return np.where(np.asarray(count) > 0, key, 0)


def cell_keys(summed_record_keys: np.ndarray) -> np.ndarray:
    """Cell keys (0..KEY_MOD-1) from the sums of the record keys in each cell (any integer dtype)."""
    return np.mod(np.asarray(summed_record_keys, dtype=np.int64), KEY_MOD)


def perturb(counts: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Published counts: each count plus the perturbation table's change at its cell key (same shape, int64)."""
    t = np.asarray(counts, dtype=np.int64)
    u = (np.asarray(keys, dtype=np.int64) % KEY_MOD + 0.5) / KEY_MOD
    change = np.zeros(t.shape, dtype=np.int64)
    starts = [row[0] for row in PERTURBATION_TABLE]
    ends = [*starts[1:], None]
    for (start, changes, probs), end in zip(PERTURBATION_TABLE, ends):
        rows = (t >= start) if end is None else (t >= start) & (t < end)
        if len(changes) == 1 or not rows.any():
            continue
        edges = np.cumsum(probs)[:-1]
        change[rows] = np.asarray(changes, dtype=np.int64)[np.searchsorted(edges, u[rows], side="right")]
    return t + change


def possible_true_counts(published: int, below: int | None = None) -> tuple[int, int]:
    """(lowest, highest) true count the perturbation table can publish as `published` (what a reader knows).

    With ``below`` (a threshold), the range of a count published as less than it (shown as "<5").
    """
    values = range(below) if below is not None else [published]
    possible = [t for p in values for t in range(max(p - MAX_CHANGE, 0), p + MAX_CHANGE + 1) if p - t in _changes_of(t)]
    return min(possible), max(possible)


def _changes_of(t: int) -> tuple[int, ...]:
    row = [r for r in PERTURBATION_TABLE if r[0] <= t][-1]
    return row[1]


def _label_hash(salt: bytes, column: int, label: str) -> int:
    digest = hashlib.blake2b(f"{column}\x1f{label}".encode(), key=salt[:64], digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (Steele, Lea and Flood 2014), elementwise on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)).astype(np.uint64)
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)).astype(np.uint64)
        return x ^ (x >> np.uint64(31))


__all__ = ["KEY_MOD", "MAX_CHANGE", "PERTURBATION_TABLE", "cell_keys", "perturb", "possible_true_counts",
           "record_keys"]
