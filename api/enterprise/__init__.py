"""Enterprises: look-up, filtered lists, text search (with persons for signed-in roles)."""
