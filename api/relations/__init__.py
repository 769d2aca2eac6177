"""Relations around an entity and its ultimate controllers (equity penetration)."""
