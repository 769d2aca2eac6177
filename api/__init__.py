"""GraphQL API, HTTP app, roles and the public lookup page (see DESIGN.md)."""
