"""Recognise what each column of an incident file holds from its header name.

Names are compared after lower-casing and turning every run of non-alphanumerics into ``_``
("LSOA code" -> ``lsoa_code``). Each role has an ordered list of patterns; the earliest pattern
that matches wins, so ``lsoa_code`` beats a generic ``code``. Two columns tied for one role is an
error: we never guess between them.
"""

from __future__ import annotations

import re

from geo.schema import InputError

__all__ = ["ROLE_PATTERNS", "POLICEUK_COLUMNS", "normalise_name", "find_roles", "is_policeuk", "role_label"]

# Role -> ordered regexes (full match on the normalised name). Order = priority.
ROLE_PATTERNS: dict[str, tuple[str, ...]] = {
    "area": (
        r"area_?code", r"lsoa(\d{2})?_?(code|cd)", r"lsoa", r"msoa(\d{2})?_?(code|cd)", r"msoa",
        r"ward_?code", r"wd\d{2}cd", r"ward", r"locality_?code", r"locality",
        r"lad(\d{2})?_?(code|cd)", r"la_?code", r"local_authority_code", r"geography_code", r"geo_?code",
        r"code", r"area",
    ),
    "period": (
        r"period", r"month", r"year_?month", r"month_?year", r"date", r"(incident|offence|occurrence|crime)_date",
        r"date_of_(incident|offence|occurrence)", r"(reported|recorded)_?date", r"date_?(reported|recorded)",
        r"quarter", r"(financial|fy)_?quarter", r"financial_year", r"fy", r"year",
        # any other date or month column, but never a date of birth (records must not carry one)
        r"(?!.*birth).*date.*", r"(?!.*birth).*month.*",
    ),
    "category": (
        r"category", r"crime_?type", r"crime_category", r"offence(_type|_category)?", r"incident_?type",
        r"type", r"category_name",
    ),
    "count": (
        r"counts?", r"incidents", r"incident_?count", r"n", r"number", r"n_incidents", r"number_of_incidents",
        r"total", r"crimes", r"crime_?count", r"offences", r"frequency", r"freq", r"value",
    ),
    "repeat_count": (r"repeat_?count", r"repeats", r"repeat_(incidents|victims|victim_count)", r"n_repeats?"),
    "longitude": (r"longitude", r"lon", r"long", r"lng"),
    "latitude": (r"latitude", r"lat"),
    "easting": (r"eastings?", r"x", r"x_?coord(inate)?", r"(os|bng|grid)_?x", r"east"),
    "northing": (r"northings?", r"y", r"y_?coord(inate)?", r"(os|bng|grid)_?y", r"north"),
    "repeat_flag": (r"repeat", r"repeat_?victim", r"repeat_?flag", r"is_repeat", r"repeat_victim_flag", r"repeat_incident"),
    "incident_id": (
        r"incident_?id", r"id", r"crime_?id", r"crime_?ref(erence)?", r"ref(erence)?", r"urn",
        r"incident_?(number|ref|reference)", r"occurrence_?id", r"record_?id",
    ),
}

# police.uk street-level CSV header (normalised); Context and Last outcome may be absent in old files.
POLICEUK_COLUMNS: tuple[str, ...] = (
    "crime_id", "month", "reported_by", "falls_within", "longitude", "latitude", "location",
    "lsoa_code", "lsoa_name", "crime_type",
)

_COMPILED = {role: [re.compile(p) for p in pats] for role, pats in ROLE_PATTERNS.items()}
# How a role is named in messages (the rest: the role with spaces).
_ROLE_LABELS = {"area": "area code", "incident_id": "incident id"}


def role_label(role: str) -> str:
    """The role as a user would name it: 'area' -> 'area code', 'repeat_flag' -> 'repeat flag'."""
    return _ROLE_LABELS.get(role, role.replace("_", " "))


def normalise_name(name: str) -> str:
    """'LSOA code ' -> 'lsoa_code'."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def is_policeuk(columns: list[str]) -> bool:
    """True when the header is a police.uk street-level crime header."""
    norm = {normalise_name(c) for c in columns}
    return all(c in norm for c in POLICEUK_COLUMNS)


def find_roles(columns: list[str], roles: tuple[str, ...], file_name: str) -> dict[str, str]:
    """Map each role in ``roles`` (in priority order) to at most one column; a column serves one role."""
    norm = {c: normalise_name(c) for c in columns}
    used: set[str] = set()
    found: dict[str, str] = {}
    for role in roles:
        best: tuple[int, list[str]] | None = None
        for rank, pat in enumerate(_COMPILED[role]):
            hits = [c for c in columns if c not in used and pat.fullmatch(norm[c])]
            if hits:
                best = (rank, hits)
                break
        if best is None:
            continue
        if len(best[1]) > 1:
            same = len({norm[c] for c in best[1]}) == 1
            raise InputError(
                file_name,
                f"several columns could be the {role_label(role)}: {', '.join(map(repr, best[1]))}"
                + (" (their names differ only in case, spaces or punctuation)" if same else "")
                + "; rename or remove all but one",
            )
        found[role] = best[1][0]
        used.add(best[1][0])
    return found
