"""Ingest: manifests, readers per file format, rows to events or rejects, the quality report."""
