"""Credit events, grades, joint-punishment lists and tax-coordination findings (see DESIGN.md)."""
