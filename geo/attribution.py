"""Canonical attribution and disclosure wording for every output: screen, static maps, briefings, exports."""

from __future__ import annotations

from geo.schema import SYNTHETIC_LABEL

# Verbatim from ../shared/data/SOURCES.md, "Attribution block" (OGL v3 / OS OpenData).
ATTRIBUTION = (
    "Contains Ordnance Survey data © Crown copyright and database right 2016. "
    "Contains National Statistics data © Crown copyright and database right 2020. "
    "Source: Office for National Statistics licensed under the Open Government Licence v3.0. "
    "English Indices of Deprivation 2019, Ministry of Housing, Communities and Local Government, "
    "licensed under the Open Government Licence v3.0. "
    "Crime data: data.police.uk, contains public sector information licensed under the "
    "Open Government Licence v3.0."
)
# Short form for a map's own attribution line (the full block goes in the footer or the notes).
MAP_ATTRIBUTION = "Contains OS data © Crown copyright and database right 2016"

PUBLICATION_THRESHOLD = 5  # counts 0..4 suppressed (analysis.disclosure), after perturbation (analysis.perturbation)
UNSUPPRESSED_TEXT = "Unsuppressed — not for publication"


def disclosure_text(publication: bool, threshold: int = PUBLICATION_THRESHOLD) -> str:
    """The disclosure mode in words: "Publication mode: counts perturbed, 0-4 suppressed" or the unsuppressed warning."""
    if publication:
        return f"Publication mode: counts perturbed, 0-{threshold - 1} suppressed"
    return UNSUPPRESSED_TEXT


def status_line(publication: bool, synthetic: bool, threshold: int = PUBLICATION_THRESHOLD) -> str:
    """Disclosure mode plus the synthetic label when the data is synthetic, for footers and file notes."""
    parts = [disclosure_text(publication, threshold)]
    if synthetic:
        parts.append(f"Data: {SYNTHETIC_LABEL} — not real incidents")
    return " · ".join(parts)


__all__ = ["ATTRIBUTION", "MAP_ATTRIBUTION", "PUBLICATION_THRESHOLD", "UNSUPPRESSED_TEXT", "disclosure_text",
           "status_line"]
