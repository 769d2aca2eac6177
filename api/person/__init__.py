"""Persons (restricted: signed-in roles; the public sees a legal representative's name)."""
