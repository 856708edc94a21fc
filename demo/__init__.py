"""Seeded generator of synthetic domestic abuse demo data (labelled synthetic everywhere)."""
