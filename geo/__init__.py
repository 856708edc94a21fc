"""Spatial plumbing: CRS, point-in-polygon assignment, weights, map rendering."""
