"""Boundary sets (shipped ONS 2011 geography and user files), lookups and roll-ups."""
