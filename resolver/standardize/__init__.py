"""Standardisation: identifiers, names, addresses, phones, dates, statuses, whole records."""
