"""Credit profiles, joint-supervision lists and credit checks (over credit/service.py)."""
