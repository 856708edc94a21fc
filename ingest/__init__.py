"""Incident import: counts, anonymised records and police.uk files, with validation reports."""
