"""Linkage jobs: a batch from the inbox linked into the state and loaded into the graph by a
worker process, one at a time per state, with progress in a small SQLite table."""
