"""Ingest, standardisation, linkage and golden entities (see DESIGN.md)."""
