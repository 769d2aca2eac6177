"""The legal-person graph: store adapters, schema, loaders and analytics (see DESIGN.md)."""
