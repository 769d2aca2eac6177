"""Entity history from the resolution state: merges, splits, redirects (old IDs resolve)."""
