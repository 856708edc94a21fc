"""Application services over the core: the `atlas` command line, imports into the store, count queries."""
