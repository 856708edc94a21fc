"""Performance benchmarks (python benchmarks/run.py); not part of the installed package."""
