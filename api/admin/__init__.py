"""Administration over GraphQL: API keys and the audit log (admins only)."""
